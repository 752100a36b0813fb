"""Run seeded requests through the C twin under valgrind (tests/speedups/test_speedups.py) and compare answers."""

from __future__ import annotations

import random
import sys

from realip import Resolver
from tests.speedups.requests import random_request


def main(rounds: int) -> int:
    from realip import _speedups  # type: ignore[attr-defined]

    failures = taken = 0
    for max_hops in (1, 3, 20):
        resolver = Resolver(trusted_proxies=("10.0.0.0/8", "100.64.0.0/10"), max_hops=max_hops)
        rng = random.Random(max_hops)
        for _ in range(rounds):
            peer, port, headers = random_request(rng)
            answer = _speedups.resolve(resolver._c_config, (peer, port), headers)
            if answer is not None:
                taken += 1
                failures += answer != resolver.resolve((peer, port), tuple(headers))
    print(f"valgrind driver: {taken} requests taken by C, {failures} failures")
    return 1 if failures or not taken else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
