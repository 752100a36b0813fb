"""Level 3, counted: CPU instructions per request inside the real server, bare vs wrapped, under callgrind.

Requests per second on a shared machine move by a few percent from one run to the next (the pass-through control
shows how much), which is the size of the 2% the whole-server target is about. An instruction count does not move:
callgrind counts every instruction the serving process runs (gunicorn's worker; its master only keeps time),
whatever else the machine is doing, and every configuration runs with the same hash seeds. Each server runs twice,
serving a few hundred requests and then a few hundred more; the difference of the two totals is the cost of those
requests alone (start-up and shut-down cancel). Instructions are not time (a cache miss costs more than an add), so
this level backs the requests-per-second figures up; it does not replace them.

The PROXY protocol rows send their header once at the start of each connection, so on the one keep-alive connection
its parse is paid once in each of the two runs and cancels: their figure is what the listener costs per request
after the header. What it costs per connection is counted apart, for the listener and its bare server, with every
request on a new connection (header, one request, close).
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
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .server import (
    CONFIGS,
    PROXY_CONFIGS,
    PROXY_LISTENER,
    PROXY_SERVERS,
    SERVERS,
    ServerConfig,
    ask,
    server_env,
    start_server,
    stop_server,
    warm,
)

__all__ = [
    "INSTRUCTION_CONFIGS",
    "PER_CONNECTION",
    "QUICK_INSTRUCTION_CONFIGS",
    "InstructionRow",
    "measure_instructions",
]

#: Bare, the control, realip and the best-known peer for each server (hypercorn's ProxyFix is left to level 3), and
#: each uvicorn install's PROXY protocol rows; grouped by server.
INSTRUCTION_CONFIGS: tuple[ServerConfig, ...] = tuple(
    config
    for server in SERVERS
    for config in (*CONFIGS, *PROXY_CONFIGS)
    if config.server == server and config.name != "uvicorn-hypercorn"
)
#: The quick run's subset: realip and bare on each server, and the PROXY protocol rows.
QUICK_INSTRUCTION_CONFIGS: tuple[ServerConfig, ...] = tuple(
    config
    for config in INSTRUCTION_CONFIGS
    if config.middleware in ("none", "realip.asgi", "realip.wsgi") or config.preamble
)
#: Counted a second time with one request per connection: the PROXY listener and the bare server of each uvicorn
#: install, whose difference is what the listener costs per connection (trust, timer, header parse, record, forget).
PER_CONNECTION: tuple[str, ...] = tuple(
    config.name
    for config in INSTRUCTION_CONFIGS
    if config.server in PROXY_SERVERS and config.middleware in ("none", PROXY_LISTENER)
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
    #: Counted with every request on a new connection (when asked): the median instructions per connection, each
    #: serving one request, and the value with each hash seed.
    per_connection: float | None = None
    per_connection_by_seed: tuple[float, ...] = ()


def _total(
    config: ServerConfig, requests: int, seed: int, folder: Path, valgrind: str, reconnect: bool = False
) -> tuple[int | None, str | None]:
    """Instructions the server's serving process ran from start to exit, serving ``requests`` requests (each on a
    new connection with ``reconnect``); its answer."""
    run = folder / f"{config.name}-{seed}-{requests}{'-reconnect' if reconnect else ''}"
    run.mkdir()
    wrapper = (valgrind, "--tool=callgrind", f"--callgrind-out-file={run}/callgrind.%p")
    env = {**server_env(), "PYTHONHASHSEED": str(seed)}
    process, port = start_server(config, env, run / "server.log", wrapper=wrapper)
    answer = None
    try:
        deadline = time.monotonic() + 300  # imports run ~50 times slower under valgrind
        while (answer := ask(port, config.preamble)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                return None, None
            time.sleep(0.5)
        served = warm(port, requests, timeout=30, preamble=config.preamble, reconnect=reconnect)
        if served != requests:  # a count over fewer requests would be wrong
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


def measure_instructions(
    requests: int = 600,
    configs: tuple[ServerConfig, ...] = INSTRUCTION_CONFIGS,
    seeds: tuple[int, ...] = (0, 1, 2),
    progress: Callable[[str], None] = lambda line: None,
    per_connection: Collection[str] = PER_CONNECTION,
) -> tuple[list[InstructionRow], str]:
    """Instructions per request of every configuration (median over ``seeds``), and per connection of those named in
    ``per_connection``; two servers at a time."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return [], "not run: valgrind is not installed (apt-get install valgrind)"
    rows = []
    sizes = (_BASELINE, _BASELINE + requests)
    with tempfile.TemporaryDirectory(prefix="realip-callgrind-") as name, ThreadPoolExecutor(2) as pool:
        folder = Path(name)
        # Every run is queued at once (the two of a pair too), so both workers stay busy whatever the seed count.
        runs: dict[tuple[str, bool, int, int], Future[tuple[int | None, str | None]]] = {
            (config.name, reconnect, seed, size): pool.submit(_total, config, size, seed, folder, valgrind, reconnect)
            for config in configs
            for reconnect in ((False, True) if config.name in per_connection else (False,))
            for seed in seeds
            for size in sizes
        }

        def counts(config: ServerConfig, reconnect: bool) -> tuple[list[float], list[str | None]]:
            """Per request (per connection with ``reconnect``) for each seed that ran, and every run's answer."""
            values, answers = [], []
            for seed in seeds:
                (short, first), (long, second) = (runs[config.name, reconnect, seed, size].result() for size in sizes)
                answers += [first, second]
                if short is not None and long is not None:  # start-up and shut-down cancel in the difference
                    values.append((long - short) / requests)
            return values, answers

        for config in configs:
            values, answers = counts(config, False)
            row = InstructionRow(config)
            if len(values) < len(seeds):
                row.note = "did not run under valgrind"
            else:
                row.by_seed = tuple(values)
                row.per_request = statistics.median(values)
            if config.name in per_connection:
                each, more = counts(config, True)
                answers += more
                if len(each) == len(seeds):
                    row.per_connection_by_seed = tuple(each)
                    row.per_connection = statistics.median(each)
            given = [answer for answer in answers if answer is not None]
            # A wrong answer from any run is the one shown.
            row.answer = next((answer for answer in given if answer != config.expected), given[0] if given else None)
            rows.append(row)
            progress(f"instructions: {config.name}")
    note = (
        f"callgrind (valgrind): each server run twice, serving {_BASELINE} and {_BASELINE + requests} requests on one "
        f"keep-alive connection; instructions per request = the difference of the two totals (the process serving "
        f"the requests, start to exit: gunicorn's worker, not its master) over {requests}; the median over "
        f"PYTHONHASHSEED={', '.join(map(str, seeds))} (hash "
        "seeds move CPython's type-attribute cache collisions, by a few thousand instructions per request). "
        "The PROXY protocol rows' client sends a PROXY v2 header (AWS VPC endpoint TLV, CRC32c) once at the start of "
        "each connection, as a load balancer does: on the keep-alive connection the header is parsed once in each "
        "run and cancels, so their figure is what the listener adds to every request after it. Per connection: the "
        "same two runs with every request on a new connection (connect, header, one request, close), over the "
        f"{requests} extra connections"
    )
    return rows, note
