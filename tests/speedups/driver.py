"""Seeded requests and random bytes through a build of the C twin, each answer compared with Python's.

Run by tests/speedups/test_speedups.py under valgrind (the installed build) and with an AddressSanitizer build:
``python -m tests.speedups.driver ROUNDS [PATH_TO_BUILD]``. Exits non-zero on any difference.
"""

from __future__ import annotations

import gc
import importlib.util
import random
import sys
from types import ModuleType
from typing import Any

from realip import Resolver
from tests.speedups.reference import PythonOnly, check_environ, check_scope, check_toa, references
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


class _ClearOnCollect:
    """Garbage in a reference cycle whose finalizer empties a container: code that runs in the middle of a call."""

    def __init__(self, container: list[Any] | dict[str, Any]) -> None:
        self.container = container
        self.cycle = self

    def __del__(self) -> None:
        self.container.clear()


def _collect_inside(container: list[Any] | dict[str, Any], function: Any, *args: Any) -> Any:
    """``function(*args)`` with a collection at its first allocation of a tracked object, emptying ``container``."""
    threshold = gc.get_threshold()
    gc.collect()
    _ClearOnCollect(container)  # one tracked allocation since the collection: the next one collects
    gc.set_threshold(1)
    try:
        return function(*args)
    finally:
        gc.set_threshold(*threshold)


def finalizer_mid_call(fast: Any) -> int:
    """Failures when a collection inside the C twin empties the request it reads (the C twin must hold what it
    reads, and ASan would see a read of freed memory)."""
    value = ", ".join(["198.51.100.7", *["10.0.0.1"] * 5])
    failures = 0
    for index in range(200):
        headers = [(b"x-forwarded-for", value.encode())]  # the list holds the only reference to the value
        answer = _collect_inside(headers, fast.resolve, ("10.0.1.2", 1), headers)
        failures += answer is None or answer.client_ip != "198.51.100.7" or headers != []
        scope = {"type": "http", "client": ("10.0.1.2", int(f"4{index:04d}")), "state": {"app": 1},
                 "headers": [(b"x-forwarded-for", value.encode())]}  # fmt: skip
        answer = _collect_inside(scope, fast.rewrite_scope, scope)
        failures += answer is None or answer.client_ip != "198.51.100.7" or answer.peer_port != 40000 + index
        environ = {"REMOTE_ADDR": ".".join(["10", "0", "1", "2"]), "REMOTE_PORT": f"{index + 1}",
                   "wsgi.url_scheme": "".join("http"), "HTTP_X_FORWARDED_FOR": "".join(value)}  # fmt: skip
        answer = _collect_inside(environ, fast.rewrite_environ, environ)
        failures += answer is None or answer.client_ip != "198.51.100.7" or answer.peer_port != index + 1
        failures += environ.get("realip.orig") != {"REMOTE_ADDR": "10.0.1.2", "REMOTE_PORT": f"{index + 1}",
                                                   "wsgi.url_scheme": "http"}  # fmt: skip
    return failures


def main(rounds: int, path: str | None) -> int:
    module = load(path)
    failures = taken = 0
    for max_hops in (1, 3, 20):
        trust = ("10.0.0.0/8", "100.64.0.0/10", "2001:db8:f::/48")
        resolver = Resolver(trusted_proxies=trust, max_hops=max_hops)
        fast = module.Fast(resolver._c_config)
        _, asgi, wsgi = references(trusted_proxies=trust, max_hops=max_hops)
        reference = PythonOnly(trusted_proxies=trust, max_hops=max_hops)
        rng = random.Random(max_hops)
        for _ in range(rounds):
            peer, port, headers = random_request(rng)
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
            for request in (((peer, port), headers), (("10.0.1.2", 1), [(b"x-forwarded-for", raw)])):
                answer = fast.resolve(*request)
                if answer is not None:
                    taken += 1
                    failures += answer != resolver.resolve(request[0], tuple(request[1]))
            toa = (rng.choice([peer, "198.51.100.7", "100.64.3.4", "2001:db8::7", "x"]), rng.choice([1, None]))
            try:
                taken += check_toa(fast, reference, (rng.choice([peer, "10.0.1.2"]), port), toa)
            except AssertionError as error:
                print("difference:", error)
                failures += 1
            for check, make in ((check_scope, random_scope), (check_environ, random_environ)):
                try:
                    taken += check(fast, asgi if check is check_scope else wsgi, make(rng))
                except AssertionError as error:
                    print("difference:", error)
                    failures += 1
    failures += finalizer_mid_call(module.Fast(Resolver(trusted_proxies=("10.0.0.0/8",))._c_config))
    print(f"speedups driver: {taken} requests taken by C, {failures} failures")
    return 1 if failures or not taken else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
