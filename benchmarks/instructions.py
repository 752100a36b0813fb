"""Level 3, counted: CPU instructions per request inside the real server, bare vs wrapped, under callgrind.

Requests per second on a shared machine move by a few percent from one run to the next (the pass-through control
shows how much), which is the size of the 2% the whole-server target is about. An instruction count does not move:
callgrind counts every instruction the serving process runs (gunicorn's worker; its master only keeps time),
whatever else the machine is doing, and every configuration runs with the same hash seeds. Each server runs twice,
serving a few hundred requests and then a few hundred more; the difference of the two totals is the cost of those
requests alone (start-up and shut-down cancel). Instructions are not time (a cache miss costs more than an add), so
this level backs the requests-per-second figures up; it does not replace them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .server import CONFIGS, ServerConfig, ask, server_env, start_server, stop_server, warm

__all__ = ["INSTRUCTION_CONFIGS", "QUICK_INSTRUCTION_CONFIGS", "InstructionRow", "measure_instructions"]

#: Bare, the control, realip and the best-known peer, for each server (hypercorn's ProxyFix is left to level 3).
INSTRUCTION_CONFIGS: tuple[ServerConfig, ...] = tuple(
    config for config in CONFIGS if config.name != "uvicorn-hypercorn"
)
#: The quick run's subset: realip and bare on each server.
QUICK_INSTRUCTION_CONFIGS: tuple[ServerConfig, ...] = tuple(
    config for config in INSTRUCTION_CONFIGS if config.middleware in ("none", "realip.asgi", "realip.wsgi")
)
_TOTALS = re.compile(rb"^totals:\s+(\d+)", re.M)
#: Requests the shorter of the two runs serves (imports, first calls, caches).
_BASELINE = 200


@dataclass
class InstructionRow:
    """One configuration's instructions per request (or why it was not counted) and the client it answered."""

    config: ServerConfig
    #: The median over the hash seeds of instructions per request.
    per_request: float | None = None
    answer: str | None = None
    note: str = ""
    #: Instructions per request with each hash seed, in seed order.
    by_seed: tuple[float, ...] = ()


def _total(
    config: ServerConfig, requests: int, seed: int, folder: Path, valgrind: str
) -> tuple[int | None, str | None]:
    """Instructions the server's serving process ran from start to exit, serving ``requests`` requests; its answer."""
    run = folder / f"{config.name}-{seed}-{requests}"
    run.mkdir()
    wrapper = (valgrind, "--tool=callgrind", f"--callgrind-out-file={run}/callgrind.%p")
    env = {**server_env(), "PYTHONHASHSEED": str(seed)}
    process, port = start_server(config, env, run / "server.log", wrapper=wrapper)
    answer = None
    try:
        deadline = time.monotonic() + 300  # imports run ~50 times slower under valgrind
        while (answer := ask(port)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                return None, None
            time.sleep(0.5)
        if warm(port, requests, timeout=30) != requests:  # a count over fewer requests would be wrong
            return None, answer
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # a clean exit, so callgrind writes its counts
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            stop_server(process)
    counts = {path.name: _TOTALS.search(path.read_bytes()) for path in run.glob("callgrind.*")}
    if len(counts) > 1:  # gunicorn: count the worker, which serves the requests; the master only keeps time
        counts.pop(f"callgrind.{process.pid}", None)
    totals = [int(match.group(1)) for match in counts.values() if match is not None]
    return (sum(totals) if totals and len(totals) == len(counts) else None), answer


def _count(
    config: ServerConfig, requests: int, seed: int, folder: Path, valgrind: str
) -> tuple[float | None, str | None]:
    """Two runs, one serving ``requests`` more than the other: start-up and shut-down cancel in the difference."""
    short, answer = _total(config, _BASELINE, seed, folder, valgrind)
    long, _ = _total(config, _BASELINE + requests, seed, folder, valgrind)
    if short is None or long is None:
        return None, answer
    return (long - short) / requests, answer


def measure_instructions(
    requests: int = 600,
    configs: tuple[ServerConfig, ...] = INSTRUCTION_CONFIGS,
    seeds: tuple[int, ...] = (0, 1, 2),
    progress: Callable[[str], None] = lambda line: None,
) -> tuple[list[InstructionRow], str]:
    """Instructions per request of every configuration (median over ``seeds``), two servers at a time."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return [], "not run: valgrind is not installed (apt-get install valgrind)"
    rows = []
    with tempfile.TemporaryDirectory(prefix="realip-callgrind-") as name, ThreadPoolExecutor(2) as pool:
        folder = Path(name)
        for config in configs:
            futures = [pool.submit(_count, config, requests, seed, folder, valgrind) for seed in seeds]
            counts = [future.result() for future in futures]
            row = InstructionRow(config, answer=counts[0][1])
            values = [value for value, _ in counts if value is not None]
            if len(values) < len(seeds):
                row.note = "did not run under valgrind"
            else:
                row.by_seed = tuple(values)
                row.per_request = statistics.median(values)
            rows.append(row)
            progress(f"instructions: {config.name}")
    note = (
        f"callgrind (valgrind): each server run twice, serving {_BASELINE} and {_BASELINE + requests} requests on one "
        f"keep-alive connection; instructions per request = the difference of the two totals (the process serving "
        f"the requests, start to exit: gunicorn's worker, not its master) over {requests}; the median over "
        f"PYTHONHASHSEED={', '.join(map(str, seeds))} (hash "
        "seeds move CPython's type-attribute cache collisions, by a few thousand instructions per request)"
    )
    return rows, note
