"""Exercise the C PROXY parser on every vector, every prefix of each, and seeded random mutations, comparing with
the pure parser (and the public wrapper on top of it).

Run by tests/proxy/test_memcheck.py under valgrind (``PYTHONMALLOC=malloc``), so any invalid read, use of
uninitialised memory or leak in the extension's calls is reported; ``--repeat 2`` does it all twice over, so a leak
per call doubles. Exits non-zero on any mismatch.
"""

from __future__ import annotations

import argparse
import random
import sys

from realip_toa import _proxy, _proxy_pure, proxy_protocol
from tests.proxy.vectors import LIMIT_VECTORS, VECTORS


def main(rounds: int) -> int:
    failures = 0
    for _name, vector, expected in VECTORS:
        failures += _proxy.parse(vector) != expected
        failures += _proxy.parse(bytearray(vector)) != expected
        for cut in range(len(vector)):
            failures += _proxy.parse(vector[:cut]) != _proxy_pure.parse(vector[:cut])
        proxy_protocol.parse(vector)  # the wrapper: addresses to text, TLVs decoded
        answer = proxy_protocol.parse(vector)
        if isinstance(answer, proxy_protocol.Complete):
            answer.header.as_dict()
    for _name, vector, limit, expected in LIMIT_VECTORS:
        failures += _proxy.parse(vector, limit) != expected
    for bad in (15, 70000, True):
        try:
            _proxy.parse(b"", bad)
            failures += 1
        except (ValueError, TypeError):
            pass
    rng = random.Random(11)
    seeds = [v[1] for v in VECTORS]
    for _ in range(rounds):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        blob = bytes(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.5 else data)
        limit = rng.choice([16, 28, 64, 300, 65551])
        failures += _proxy.parse(blob, limit) != _proxy_pure.parse(blob, limit)
    print(f"memcheck driver: {rounds} random inputs, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", type=int, nargs="?", default=3000, help="random inputs")
    parser.add_argument("--repeat", type=int, default=1, help="do it all N times over, on the same inputs")
    args = parser.parse_args()
    sys.exit(max(main(args.rounds) for _ in range(args.repeat)))
