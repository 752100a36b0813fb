"""Seeded input through a build of the kernel, every answer compared with the pure twin's.

Run by tests/kernel/test_kernel.py under valgrind (the installed build) and with an AddressSanitizer build:
``python -m tests.kernel.driver ROUNDS [PATH_TO_BUILD] [--repeat N]`` (N times over, on the same inputs: a leak per
call grows with N). Exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import sys
from types import ModuleType
from typing import Any

from realip import Resolver
from realip._trust import compile_trust
from realip._walk import PureTrust
from tests.kernel.inputs import CONFIGS, ENTRIES, on, random_request, random_value


def load(path: str | None) -> ModuleType:
    """The installed ``realip._kernel``, or the build at ``path``."""
    if path is None:
        from realip import _kernel  # type: ignore[attr-defined]

        return _kernel  # type: ignore[no-any-return]
    spec = importlib.util.spec_from_file_location("realip._kernel", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _ClearOnCollect:
    """Garbage in a reference cycle whose finalizer empties a list: code that runs in the middle of a call."""

    def __init__(self, container: list[Any]) -> None:
        self.container = container
        self.cycle = self

    def __del__(self) -> None:
        self.container.clear()


def finalizer_mid_call(trust: Any) -> int:
    """Failures when a collection inside the kernel empties the list holding the value it reads (the kernel may
    rely only on the reference its caller holds; ASan would see a read of freed memory otherwise)."""
    failures = 0
    threshold = gc.get_threshold()
    try:
        for index in range(200):
            values = [", ".join(["198.51.100.7", *[f"10.0.0.{index % 250 + 1}"] * 5]).encode()]
            gc.collect()
            _ClearOnCollect(values)
            gc.set_threshold(1)
            answer = trust.walk(values[0], 20, "10.0.0.9")
            gc.set_threshold(*threshold)
            failures += answer[1:3] != ("untrusted", "198.51.100.7")
    finally:
        gc.set_threshold(*threshold)
    return failures


STARTS = ["10.0.0.9", None, "2001:db8:f::1"]


def compare(kernel: Any, pure: PureTrust, value: Any, budget: int, start: str | None) -> int:
    """1 if the kernel and the pure twin disagree on this value (printed), else 0."""
    found, expected = kernel.walk(value, budget, start), pure.walk(value, budget, start)
    if found != expected:
        print(f"walk({value!r}, {budget}): kernel {found!r} != pure {expected!r}")
        return 1
    return 0


def main(rounds: int, path: str | None) -> int:
    module = load(path)
    failures = compared = 0
    rng = random.Random(2026)
    for entries in CONFIGS:
        networks = compile_trust(entries)
        kernel, pure = module.Trust(*networks.ranges), PureTrust(networks)
        for text in ENTRIES:
            found, expected = kernel.entry(text), pure.entry(text)
            failures += found != expected
            compared += 1
        for _ in range(rounds):
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
            for value in (random_value(rng), raw):
                failures += compare(kernel, pure, value, rng.randrange(0, 25), rng.choice(STARTS))
                compared += 1
        resolver, reference = (Resolver(trusted_proxies=entries, max_hops=3) for _ in range(2))
        on(resolver, kernel), on(reference, pure)  # one Resolver on each implementation
        for _ in range(rounds // 4):
            peer, headers = random_request(rng)
            failures += resolver.resolve(peer, headers) != reference.resolve(peer, headers)
            compared += 1
    failures += finalizer_mid_call(module.Trust(*compile_trust(("10.0.0.0/8",)).ranges))
    print(f"kernel driver: {compared} comparisons, {failures} failures")
    return 1 if failures or not compared else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", type=int, help="seeded values per configuration")
    parser.add_argument("path", nargs="?", help="a build of the kernel (default: the installed one)")
    parser.add_argument("--repeat", type=int, default=1, help="do it all N times over, on the same inputs")
    args = parser.parse_args()
    sys.exit(max(main(args.rounds, args.path) for _ in range(args.repeat)))
