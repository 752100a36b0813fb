"""``python -m benchmarks``: run every level and write ``docs/benchmarks.md`` and ``docs/benchmarks.png``.

The default run is sized to finish in about sixteen minutes on two quiet cores (ten of them counting instructions
under valgrind); ``--quick`` is a short structural run (tiny samples, meaningless numbers) used by the smoke test.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import time
from pathlib import Path

from .context import measure_context
from .frameworks import measure_frameworks
from .instructions import INSTRUCTION_CONFIGS, PER_CONNECTION, QUICK_INSTRUCTION_CONFIGS, measure_instructions
from .proxy import measure_proxy
from .report import Results, markdown, plot, targets, targets_table
from .resolution import Settings, measure
from .server import measure_servers
from .toa import measure_toa

_VERSIONS = (
    "realip",
    "uvicorn",
    "hypercorn",
    "werkzeug",
    "python-ipware",
    "django-ipware",
    "gunicorn",
    "aiohttp",
    "aiohttp-remotes",
    "sanic",
)


def _versions() -> dict[str, str]:
    found = {}
    for name in _VERSIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sample counts: checks the harness, not speed")
    parser.add_argument("--rounds", type=int, help="samples per in-process cell (default 31, quick 3)")
    parser.add_argument("--pool", type=int, help="distinct-client pool size (default 8192, quick 200)")
    parser.add_argument("--batch-ms", type=float, help="target batch length in ms (default 4, quick 0.3)")
    parser.add_argument("--server-rounds", type=int, help="rounds over the server configurations (default 10, quick 1)")
    parser.add_argument("--server-seconds", type=float, help="seconds per server run (default 1, quick 0.3)")
    parser.add_argument("--no-server", action="store_true", help="skip level 3 (whole-server throughput)")
    parser.add_argument(
        "--no-instructions", action="store_true", help="skip level 3's instruction counts (callgrind, ~10 minutes)"
    )
    parser.add_argument("--noisy", action="store_true", help="flag the report as measured on a busy machine")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="directory for benchmarks.md/.png")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    quick = args.quick

    def progress(line: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    started = time.monotonic()
    settings = Settings(
        rounds=args.rounds or (3 if quick else 31),
        pool=args.pool or (200 if quick else 8192),
        batch_seconds=(args.batch_ms or (0.3 if quick else 4.0)) / 1000,
    )
    results = Results(settings, measure(settings, progress=progress), noisy=args.noisy)
    if not args.no_server:
        rows, note = measure_servers(
            rounds=args.server_rounds or (1 if quick else 10),
            seconds=args.server_seconds or (0.3 if quick else 1.0),
            progress=progress,
        )
        results.servers, results.server_note = rows, note
    if not args.no_instructions:
        counted, counted_note = measure_instructions(
            requests=20 if quick else 600,
            configs=QUICK_INSTRUCTION_CONFIGS if quick else INSTRUCTION_CONFIGS,
            seeds=(0,) if quick else (0, 1, 2),
            progress=progress,
            per_connection=PER_CONNECTION,
        )
        results.instructions, results.instructions_note = counted, counted_note
    results.toa, results.toa_note = measure_toa(settings.rounds, settings.batch_seconds)
    progress("TOA done")
    results.proxy, results.proxy_note = measure_proxy(settings.rounds, settings.batch_seconds)
    progress("PROXY protocol done")
    results.frameworks, results.frameworks_note = measure_frameworks(settings.rounds, settings.batch_seconds)
    progress("frameworks done")
    results.context, results.context_note = measure_context(settings.rounds, settings.batch_seconds)
    progress("forwarded context done")
    results.seconds = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.md").write_text(markdown(results, _versions()), encoding="utf-8")
    plot(results, args.out / "benchmarks.png")
    print("\n".join(targets_table(targets(results))))
    print(f"\nwrote {args.out / 'benchmarks.md'} and {args.out / 'benchmarks.png'} in {results.seconds:.0f}s")
    return results


if __name__ == "__main__":
    main()
