"""Load a given build of the C twin (an AddressSanitizer build, from tests/speedups/test_speedups.py) and compare
its answers with Python's on seeded requests and random bytes. Exits non-zero on any difference."""

from __future__ import annotations

import importlib.util
import random
import sys

from realip import Resolver
from tests.speedups.requests import random_request


def main(path: str, rounds: int) -> int:
    spec = importlib.util.spec_from_file_location("realip._speedups", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    failures = taken = 0
    for max_hops in (1, 3, 20):
        resolver = Resolver(trusted_proxies=("10.0.0.0/8", "100.64.0.0/10"), max_hops=max_hops)
        rng = random.Random(max_hops)
        for _ in range(rounds):
            peer, port, headers = random_request(rng)
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
            for request in ((peer, port, headers), ("10.0.1.2", 1, [(b"x-forwarded-for", raw)])):
                answer = module.resolve(resolver._c_config, request[:2], request[2])
                if answer is not None:
                    taken += 1
                    failures += answer != resolver.resolve(request[:2], tuple(request[2]))
    print(f"asan driver: {taken} requests taken by C, {failures} failures")
    return 1 if failures or not taken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
