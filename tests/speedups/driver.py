"""Seeded requests and random bytes through a build of the C twin, each answer compared with Python's.

Run by tests/speedups/test_speedups.py under valgrind (the installed build) and with an AddressSanitizer build:
``python -m tests.speedups.driver ROUNDS [PATH_TO_BUILD]``. Exits non-zero on any difference.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from types import ModuleType

from realip import Resolver
from tests.speedups.reference import check_environ, check_scope, references
from tests.speedups.requests import random_environ, random_request, random_scope


def load(path: str | None) -> ModuleType:
    """The installed ``realip._speedups``, or the build at ``path``."""
    if path is None:
        from realip import _speedups  # type: ignore[attr-defined]

        return _speedups  # type: ignore[no-any-return]
    spec = importlib.util.spec_from_file_location("realip._speedups", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(rounds: int, path: str | None) -> int:
    module = load(path)
    failures = taken = 0
    for max_hops in (1, 3, 20):
        trust = ("10.0.0.0/8", "100.64.0.0/10", "2001:db8:f::/48")
        resolver = Resolver(trusted_proxies=trust, max_hops=max_hops)
        fast = module.Fast(resolver._c_config)
        _, asgi, wsgi = references(trusted_proxies=trust, max_hops=max_hops)
        rng = random.Random(max_hops)
        for _ in range(rounds):
            peer, port, headers = random_request(rng)
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
            for request in (((peer, port), headers), (("10.0.1.2", 1), [(b"x-forwarded-for", raw)])):
                answer = fast.resolve(*request)
                if answer is not None:
                    taken += 1
                    failures += answer != resolver.resolve(request[0], tuple(request[1]))
            for check, make in ((check_scope, random_scope), (check_environ, random_environ)):
                try:
                    taken += check(fast, asgi if check is check_scope else wsgi, make(rng))
                except AssertionError as error:
                    print("difference:", error)
                    failures += 1
    print(f"speedups driver: {taken} requests taken by C, {failures} failures")
    return 1 if failures or not taken else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
