"""Timing primitives: one batch timed with the garbage collector paused, and robust summaries of samples."""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Stats", "batch_size", "compare", "stats", "time_batch"]


@dataclass(frozen=True)
class Stats:
    """Median and quartiles over the samples (nanoseconds per call, or requests per second)."""

    median: float
    q1: float
    q3: float
    samples: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def stats(values: Sequence[float]) -> Stats:
    """Median and quartiles (inclusive method, so three samples still give a spread)."""
    if len(values) == 1:
        return Stats(values[0], values[0], values[0], 1)
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Stats(median, q1, q3, len(values))


def time_batch(run: Callable[[list[Any]], None], batch: list[Any]) -> int:
    """Nanoseconds ``run(batch)`` took, with the cyclic GC paused (as ``timeit`` does)."""
    gc.disable()
    try:
        start = time.perf_counter_ns()
        run(batch)
        return time.perf_counter_ns() - start
    finally:
        gc.enable()


def batch_size(run: Callable[[list[Any]], None], inputs: list[Any], seconds: float, floor: int = 16) -> int:
    """How many inputs make a batch of about ``seconds`` (at most ``len(inputs)``), from a short warm-up."""
    probe = inputs[: min(len(inputs), 64)]
    run(probe)
    per_call = max(time_batch(run, probe) / len(probe), 1.0)
    return max(min(floor, len(inputs)), min(len(inputs), int(seconds * 1e9 / per_call)))


def compare(
    runs: dict[str, tuple[Callable[[list[Any]], None], list[Any]]], rounds: int, seconds: float, seed: int = 7
) -> dict[str, Stats]:
    """Nanoseconds per call of each named ``(run, inputs)``, sampled in interleaved, shuffled rounds."""
    sizes = {name: batch_size(run, inputs, seconds) for name, (run, inputs) in runs.items()}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            run, inputs = runs[name]
            samples[name].append(time_batch(run, inputs[: sizes[name]]) / sizes[name])
    return {name: stats(values) for name, values in samples.items()}
