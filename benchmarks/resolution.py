"""Levels 1 and 2, in process: time per call of every contender on every scenario, warm and with distinct clients.

Every cell is sampled in rounds; each round runs every cell once, in a shuffled order, so slow drift of a busy
machine spreads over all cells instead of biasing one. A middleware's sample is its batch time minus the bare
app's time on the same batch, measured right before it. The answer of every contender is checked on every request
of the pool (untimed), so a fast wrong answer shows as wrong.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .peers import CONTENDERS, Built, Contender
from .scenarios import SCENARIOS, Scenario, requests, verdict
from .timing import Stats, batch_size, stats, time_batch

__all__ = ["MODES", "Cell", "Settings", "measure"]

MODES = ("warm", "distinct")


@dataclass(frozen=True)
class Settings:
    """How much to sample: ``rounds`` samples per cell, each a batch of about ``batch_seconds``."""

    rounds: int = 31
    pool: int = 8192
    batch_seconds: float = 0.004
    seed: int = 7


@dataclass
class Cell:
    """One contender on one scenario in one mode: its timing and its answers."""

    scenario: str
    mode: str
    contender: str
    stats: Stats | None = None
    #: The answer for the scenario's own request (warm) or the first rotated one (distinct).
    answer: str | None = None
    #: ``ok``, ``noncanonical`` or ``wrong``: the worst verdict over the whole pool.
    verdict: str = ""
    wrong: int = 0
    checked: int = 0
    note: str = ""
    samples: list[float] = field(default_factory=list, repr=False)


@dataclass
class _Unit:
    cell: Cell
    built: Built
    inputs: list[Any]
    batch: int
    baseline: _Unit | None = None
    offset: int = 0


def _check(cell: Cell, built: Built, inputs: list[Any], expected: list[str]) -> None:
    """Ask for the answer of every distinct input once; keep the worst verdict and the first answer."""
    seen: set[int] = set()
    order = {"ok": 0, "noncanonical": 1, "wrong": 2}
    worst = "ok"
    for value, want in zip(inputs, expected, strict=True):
        if id(value) in seen:
            continue
        seen.add(id(value))
        try:
            answer = built.answer(value)
        except Exception as error:  # a library raising on request data is a wrong answer, not a crash
            answer = f"raised {type(error).__name__}"
        result = verdict(answer, want)
        if cell.checked == 0:
            cell.answer = str(answer)  # "None" when the library found no address at all
        cell.checked += 1
        if result == "wrong":
            cell.wrong += 1
        if order[result] > order[worst]:
            worst = result
    cell.verdict = worst


def _units(
    scenario: Scenario, mode: str, contenders: Iterable[Contender], settings: Settings
) -> tuple[list[_Unit], list[Cell]]:
    reqs = requests(scenario, mode == "distinct", settings.pool, settings.seed)
    expected = [r.expected for r in reqs]
    units: dict[str, _Unit] = {}
    cells: list[Cell] = []
    for contender in contenders:
        cell = Cell(scenario.key, mode, contender.name)
        cells.append(cell)
        try:
            built = contender.build(scenario, mode == "distinct")
        except ImportError as error:
            cell.note = f"not importable: {error}"
            continue
        if built is None:
            cell.note = "not applicable"
            continue
        # One native input per distinct request object: the warm pool repeats a single object.
        cache: dict[int, Any] = {}
        inputs = []
        for r in reqs:
            if id(r) not in cache:
                cache[id(r)] = built.native(r)
            inputs.append(cache[id(r)])
        _check(cell, built, inputs, expected)
        units[contender.name] = _Unit(cell, built, inputs, batch_size(built.run, inputs, settings.batch_seconds))
    for unit in units.values():
        if unit.built.baseline is not None:
            base = units.get(unit.built.baseline)
            if base is None:
                unit.cell.note = f"baseline {unit.built.baseline} unavailable"
                continue
            unit.baseline = _Unit(base.cell, base.built, base.inputs, unit.batch)
    return [u for u in units.values() if u.built.baseline is None or u.baseline is not None], cells


def _sample(unit: _Unit, distinct: bool) -> float:
    start = unit.offset if distinct else 0
    if start + unit.batch > len(unit.inputs):
        start = 0
    unit.offset = start + unit.batch
    batch = unit.inputs[start : start + unit.batch]
    elapsed = 0
    if unit.baseline is not None:
        elapsed -= time_batch(unit.baseline.built.run, unit.baseline.inputs[start : start + unit.batch])
    elapsed += time_batch(unit.built.run, batch)
    return elapsed / unit.batch


def measure(
    settings: Settings,
    scenarios: Iterable[Scenario] = SCENARIOS,
    contenders: Iterable[Contender] = CONTENDERS,
    progress: Callable[[str], None] = lambda line: None,
) -> list[Cell]:
    """Every contender on every scenario, warm and distinct: the cells, in scenario/mode/contender order."""
    contenders = tuple(contenders)
    units: list[_Unit] = []
    cells: list[Cell] = []
    for scenario in scenarios:
        for mode in MODES:
            more_units, more_cells = _units(scenario, mode, contenders, settings)
            units += more_units
            cells += more_cells
            progress(f"built {scenario.key} {mode}: {len(more_units)} cells")
    rng = random.Random(settings.seed)
    for index in range(settings.rounds):
        rng.shuffle(units)
        for unit in units:
            unit.cell.samples.append(_sample(unit, unit.cell.mode == "distinct"))
        progress(f"round {index + 1}/{settings.rounds}")
    for cell in cells:
        if cell.samples:
            cell.stats = stats(cell.samples)
    return cells
