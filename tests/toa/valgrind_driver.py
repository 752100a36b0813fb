"""Exercise the C parser on every vector and on seeded random input, comparing with the pure parser.

Run by tests/toa/test_memcheck.py under valgrind (``PYTHONMALLOC=malloc``), so any invalid read, use of
uninitialised memory or leak in the extension's calls is reported; ``--repeat 2`` does it all twice over, so a leak
per call doubles. Exits non-zero on any mismatch.
"""

from __future__ import annotations

import argparse
import random
import sys

from realip_toa import _pure, _toa
from tests.toa.vectors import BAD_KINDS, DEFAULT, OPTION_VECTORS, PACKET_VECTORS


def main(rounds: int) -> int:
    failures = 0
    for _name, vector, kinds, expected in OPTION_VECTORS:
        failures += _toa.parse_options(vector, kinds) != expected
    for _name, vector, kinds, wanted in PACKET_VECTORS:
        answer = _toa.parse_packet(vector, kinds)
        failures += (answer if answer is None else answer[:7]) != wanted
    for _name, kinds in BAD_KINDS:
        for function in (_toa.parse_options, _toa.parse_packet):
            try:
                function(b"\x01", kinds)
                failures += 1
            except ValueError:
                pass
    rng = random.Random(4)
    seeds = [v[1] for v in OPTION_VECTORS + PACKET_VECTORS]
    for _ in range(rounds):
        data: bytearray = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randrange(len(data) + 1)] if rng.random() < 0.5 else data
        blob = bytes(data)
        failures += _toa.parse_options(blob, DEFAULT) != _pure.parse_options(blob, DEFAULT)
        failures += _toa.parse_packet(blob, DEFAULT) != _pure.parse_packet(blob, DEFAULT)
    print(f"memcheck driver: {rounds} random inputs, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", type=int, nargs="?", default=3000, help="random inputs")
    parser.add_argument("--repeat", type=int, default=1, help="do it all N times over, on the same inputs")
    args = parser.parse_args()
    sys.exit(max(main(args.rounds) for _ in range(args.repeat)))
