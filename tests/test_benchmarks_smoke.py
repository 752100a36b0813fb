"""The benchmark harness, run with tiny sample counts: the report has every table and every answer, right or
marked wrong. No timing is asserted anywhere: timings here are meaningless by design.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.report import LEVEL1, LEVEL2, Results, targets
from benchmarks.scenarios import SCENARIOS, requests, verdict
from benchmarks.server import (
    CONFIGS,
    EXPECTED,
    PROXY_CONFIGS,
    PROXY_LISTENER,
    PROXY_SERVERS,
    SERVERS,
    cpu_split,
    measure_servers,
)

#: Peers whose answer must be right on every scenario (the rest are hop counters or best-effort pickers).
ALWAYS_RIGHT = ("realip", "realip-asgi", "realip-wsgi")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Results, Path]:
    out = tmp_path_factory.mktemp("bench")
    results = main(["--quick", "--rounds", "2", "--pool", "40", "--batch-ms", "0.1", "--no-server", "--quiet",
                    "--out", str(out)])  # fmt: skip
    return results, out


def test_every_cell_has_an_answer_and_a_timing(run: tuple[Results, Path]) -> None:
    results, _ = run
    for scenario in SCENARIOS:
        for mode in ("warm", "distinct"):
            for name in {*LEVEL1, *LEVEL2}:
                cell = results.cell(scenario.key, mode, name)
                assert cell is not None, (scenario.key, mode, name)
                if name.startswith("floor") and scenario.key == "S5":
                    assert cell.note == "not applicable"  # the floor parses plain IPv4 only
                    continue
                assert cell.stats is not None and len(cell.samples) == 2, (cell, cell.note)
                assert cell.answer, (scenario.key, mode, name)
                assert cell.verdict in ("ok", "noncanonical", "wrong")
                assert cell.checked == (1 if mode == "warm" else 40)


def test_realip_is_right_everywhere_and_forgeries_are_caught(run: tuple[Results, Path]) -> None:
    results, _ = run
    for scenario in SCENARIOS:
        for mode in ("warm", "distinct"):
            for name in ALWAYS_RIGHT:
                cell = results.cell(scenario.key, mode, name)
                assert cell is not None and cell.verdict == "ok" and cell.wrong == 0, cell
    # S7: a direct client forging X-Forwarded-For fools every hop counter; the verdicts must say so.
    for name in ("werkzeug", "hypercorn", "python-ipware"):
        cell = results.cell("S7", "warm", name)
        assert cell is not None and cell.answer == "192.0.2.66" and cell.verdict == "wrong"


def test_report_has_every_section_and_a_plot(run: tuple[Results, Path]) -> None:
    results, out = run
    text = (out / "benchmarks.md").read_text(encoding="utf-8")
    for heading in ("## Scenarios", "## Level 1", "## Level 2", "## Level 3", "## Level 3, counted", "## Level 4",
                    "## Frameworks: aiohttp and Sanic", "## Targets"):  # fmt: skip
        assert heading in text
    for scenario in SCENARIOS:
        assert f"| {scenario.key} {scenario.title} |" in text
    assert text.count("✓") >= 7 * len(ALWAYS_RIGHT) and "✗" in text
    png = (out / "benchmarks.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    rows = targets(results)
    assert len(rows) == 46  # the issues' targets, the forwarded context's and the PROXY protocol's included
    timed = [row for row in rows if not row.target.startswith(("server", "TOA", "PROXY protocol on"))]
    assert all(row.ratio is not None and row.met is not None for row in timed), timed
    assert re.search(r"\| S3 within 1\.5x of the composite floor \| S3 warm \| [\d.]+ µs \|", text)


def test_instruction_counts_run_under_callgrind_for_each_server(run: tuple[Results, Path]) -> None:
    """The quick run counts bare and realip on each server: real counts, not a process that served nothing."""
    results, _ = run
    counted = {row.config.name: row for row in results.instructions if not row.config.preamble}  # PROXY rows: below
    assert set(counted) == {f"{server}-{kind}" for server in SERVERS for kind in ("bare", "realip")}
    for name, row in counted.items():
        # A hello world costs ~90k-600k instructions a request: the fewest is uvicorn with httptools and uvloop on
        # Debian's optimised 3.11 (~95k bare). A broken count is far below that: a process that served nothing
        # (gunicorn's master, which only keeps time) or two runs whose totals cancel come to a few hundred or a few
        # thousand a request. 20k sits well between the two, so this does not move with the interpreter's build.
        assert row.per_request is not None and row.per_request > 20_000, (name, row.note)
        assert row.answer == ("127.0.0.1" if name.endswith("bare") else EXPECTED)
    rows = [row for row in targets(results) if row.target.startswith("server, counted")]
    assert len(rows) == len(SERVERS) and all(row.ratio is not None for row in rows)


def test_proxy_protocol_rows_are_counted_and_answer_right(run: tuple[Results, Path]) -> None:
    """uvicorn behind realip_toa's PROXY listener hook, on each install, the client sending a PROXY v2 header first:
    the bare app answers its loopback peer (the hook took the header off), realip with layer4="proxy-protocol" the
    header's client; the listener and its bare server counted per connection too; one target per install."""
    results, out = run
    counted = {row.config.name: row for row in results.instructions if row.config.preamble}
    assert set(counted) == {config.name for config in PROXY_CONFIGS}
    for name, row in counted.items():
        # Real counts: uvicorn[standard]'s hello world is ~110k instructions (the quick run's 20 requests are noisy).
        assert row.per_request is not None and row.per_request > 50_000, (name, row.note)
        assert row.answer == ("127.0.0.1" if row.config.middleware == PROXY_LISTENER else EXPECTED), row
    each = {row.config.name: row.per_connection for row in results.instructions if row.per_connection is not None}
    assert set(each) == {f"{server}-{kind}" for server in PROXY_SERVERS for kind in ("bare", "proxy-listener")}
    assert all(count > 50_000 for count in each.values()), each
    rows = [row for row in targets(results) if row.target == "PROXY protocol on: ≥ 98% of bare, counted"]
    assert len(rows) == len(PROXY_SERVERS) and all(row.ratio is not None for row in rows), rows
    assert all(
        "realip.asgi layer4=proxy-protocol" in row.best_peer and "per connection" in row.best_peer for row in rows
    )
    text = (out / "benchmarks.md").read_text(encoding="utf-8")
    assert "Counted again with every request on a new connection" in text
    assert f"| {PROXY_LISTENER} |" in text and "| 127.0.0.1 ✓ |" in text


def test_frameworks_section_answers_right(run: tuple[Results, Path]) -> None:
    """aiohttp and Sanic, realip and each stack's own handling: every contender timed and answering the client."""
    results, _ = run
    names = {(row.framework, row.name) for row in results.frameworks}
    assert names == {
        ("aiohttp", "bare"),
        ("aiohttp", "realip"),
        ("aiohttp", "aiohttp-remotes XForwardedStrict"),
        ("aiohttp", "aiohttp-remotes XForwardedRelaxed"),
        ("sanic", "bare"),
        ("sanic", "realip"),
        ("sanic", "Sanic PROXIES_COUNT=2"),
        ("sanic", "Sanic FORWARDED_SECRET"),
    }
    for row in results.frameworks:
        assert row.stats.median > 0 and (row.added is None) == (row.name == "bare")
        assert row.answer == ("10.0.0.2" if row.name == "bare" else "198.51.100.7"), row


def test_context_section_times_every_contender_and_checks_the_url_each_app_saw(run: tuple[Results, Path]) -> None:
    """The forwarded context: realip with every option on beside ProxyFix, hypercorn and uvicorn on one request."""
    results, path = run
    marks = {row.name: row.mark for row in results.context}
    assert set(marks) == {
        "realip-wsgi",
        "realip-wsgi-context",
        "werkzeug",
        "realip-asgi",
        "realip-asgi-context",
        "hypercorn",
        "uvicorn",
    }
    assert marks["realip-wsgi-context"] == marks["realip-asgi-context"] == "✓"
    assert marks["werkzeug"] == "≈"  # ProxyFix spells out the default port: https://shop.example.com:443/shop
    assert next(r for r in results.context if r.name == "realip-asgi-context").answer.endswith("shop.example.com/shop")
    assert "## The forwarded context: scheme, host, port and prefix" in (path / "benchmarks.md").read_text()
    assert any(row.target.startswith("forwarded context") and row.ratio is not None for row in targets(results))


def test_distinct_mode_rotates_every_address() -> None:
    pool = requests(SCENARIOS[2], distinct=True, count=500)
    assert len({r.peer[0] for r in pool}) > 450 and len({r.expected for r in pool}) > 300
    assert all(r.xff is not None and r.xff.startswith(r.expected) for r in pool)
    assert verdict("2001:DB8::7", "2001:db8::7") == "noncanonical"
    assert verdict("[2001:db8::7]:4711", "2001:db8::7") == "wrong"


def test_whole_server_level_answers_through_every_configuration() -> None:
    rows, note = measure_servers(rounds=1, seconds=0.2, connections=2, warm_up=False)
    assert "benchmarks.loadgen" in note  # sub-second runs use the Python load generator
    assert [row.config.name for row in rows] == [config.name for config in CONFIGS]
    for row in rows:
        assert row.stats is not None and row.stats.median > 0, (row.config.name, row.note)
        assert row.answer == row.config.expected, row


def test_servers_and_load_generator_get_separate_cpus() -> None:
    split = cpu_split()
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2:
        assert split is None
        return
    assert split is not None
    servers, load = split
    assert servers and load and not servers & load and servers | load == cpus


def test_observe_benchmark_runs_every_configuration() -> None:
    """``python -m benchmarks.observe`` with a tiny sample: every cell present, every hook switched off after."""
    from benchmarks.observe import CONFIGS, measure
    from realip import diagnostics

    results = measure(rounds=1, seconds=0.0005)
    for cells in results.values():
        assert set(cells) == {f"{a} {c}" for a in ("asgi", "wsgi") for c in ("bare", *CONFIGS)}
    assert not diagnostics.listening()
