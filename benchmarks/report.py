"""Turn one run's measurements into the markdown report, the targets table and the PNG plot.

Every timing cell shows the median, the interquartile range and the client address the library returned, marked
``✓`` (right, canonical text), ``≈`` (right address, other spelling: one client, two rate-limit keys) or ``✗``
(wrong). Targets are ratios within this one run.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from .context import ContextRow
from .context import table as context_table
from .frameworks import FrameworkRow
from .frameworks import table as frameworks_table
from .instructions import InstructionRow
from .peers import CONTENDERS
from .proxy import ProxyRow
from .resolution import MODES, Cell, Settings
from .scenarios import SCENARIOS
from .server import CONTROL, PROXY_REALIP, PROXY_SERVERS, SERVER_LABELS, SERVERS, ServerConfig, ServerRow
from .toa import ToaRow

__all__ = ["LEVEL1", "LEVEL2", "Results", "Target", "markdown", "plot", "targets"]

#: Level 1 columns: resolution per call (middlewares without a resolver API are timed minus the bare app).
LEVEL1 = (
    "realip",
    "realip-map",
    "floor",
    "floor-scan",
    "uvicorn-trust",
    "uvicorn",
    "hypercorn",
    "werkzeug",
    "python-ipware",
    "django-ipware",
)
#: Level 2 columns: middleware overhead (wrapped minus bare) on a trivial app; the bare apps' own time last.
LEVEL2 = ("realip-asgi", "uvicorn", "hypercorn", "realip-wsgi", "werkzeug", "bare-asgi", "bare-wsgi")
#: Peers that compete (baselines and floors do not).
PEERS = ("uvicorn-trust", "uvicorn", "hypercorn", "werkzeug", "python-ipware", "django-ipware")
_MARK = {"ok": "✓", "noncanonical": "≈", "wrong": "✗", "": ""}
_LABEL = {contender.name: contender.label for contender in CONTENDERS}


@dataclass
class Results:
    """Everything one run measured, plus how it was run."""

    settings: Settings
    cells: list[Cell]
    servers: list[ServerRow] = field(default_factory=list)
    server_note: str = "not run"
    instructions: list[InstructionRow] = field(default_factory=list)
    instructions_note: str = "not run"
    toa: list[ToaRow] = field(default_factory=list)
    toa_note: str = "not run"
    proxy: list[ProxyRow] = field(default_factory=list)
    proxy_note: str = "not run"
    frameworks: list[FrameworkRow] = field(default_factory=list)
    frameworks_note: str = "not run"
    context: list[ContextRow] = field(default_factory=list)
    context_note: str = "not run"
    noisy: bool = False
    seconds: float = 0.0

    def cell(self, scenario: str, mode: str, contender: str) -> Cell | None:
        for cell in self.cells:
            if (cell.scenario, cell.mode, cell.contender) == (scenario, mode, contender):
                return cell
        return None

    def time(self, scenario: str, mode: str, contender: str) -> float | None:
        cell = self.cell(scenario, mode, contender)
        return cell.stats.median if cell is not None and cell.stats is not None else None


@dataclass(frozen=True)
class Target:
    """One target of the issue, checked in this run."""

    target: str
    where: str
    realip: str
    reference: str
    ratio: float | None
    goal: str
    met: bool | None
    best_peer: str = ""


_Row = TypeVar("_Row", ServerRow, InstructionRow)


def _competitors(rows: Iterable[_Row], server: str, mine: str) -> list[_Row]:
    """The peers' rows for one server: neither the bare server, nor the control, nor realip's own row, nor the
    PROXY protocol rows (a different connection: a header before the requests)."""
    return [
        r
        for r in rows
        if r.config.server == server
        and r.config.middleware not in ("none", CONTROL)
        and r.config.name != mine
        and not r.config.preamble
    ]


def _server_mark(config: ServerConfig, answer: str | None) -> str:
    """✓/✗ for a configuration's answer at the server levels; nothing for the bare server and the control."""
    if config.middleware in ("none", CONTROL):
        return ""
    return " ✓" if answer == config.expected else " ✗"


def _us(ns: float) -> str:
    return f"{ns / 1000:.2f} µs"


def _timing(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    if cell.stats is None:
        return cell.note or "-"
    return f"{_us(cell.stats.median)} ±{cell.stats.iqr / 2000:.2f}"


def _answer(cell: Cell | None, baseline: bool = False) -> str:
    if cell is None or (cell.stats is None and not cell.answer):
        return ""
    mark = "" if baseline else _MARK[cell.verdict]
    text = f"{cell.answer} {mark}".strip()
    if cell.mode == "distinct" and not baseline and cell.wrong:
        text += f" ({cell.wrong}/{cell.checked} wrong)"
    return text


def _best_peer(results: Results, scenario: str, mode: str, peers: Iterable[str] = PEERS) -> tuple[str, float] | None:
    """The fastest peer whose answers were right (≈ counts as right) on every request of the pool."""
    best: tuple[str, float] | None = None
    for name in peers:
        cell = results.cell(scenario, mode, name)
        if cell is None or cell.stats is None or cell.verdict == "wrong":
            continue
        if best is None or cell.stats.median < best[1]:
            best = (name, cell.stats.median)
    return best


def _ratio_target(
    results: Results, target: str, scenario: str, mode: str, mine: str, theirs: str, goal: float, peers: Sequence[str]
) -> Target:
    me, them = results.time(scenario, mode, mine), results.time(scenario, mode, theirs)
    best = _best_peer(results, scenario, mode, peers)
    best_text = f"{_LABEL[best[0]]} {_us(best[1])}" if best else "no correct peer"
    if best and me is not None:
        best_text += f" (realip {me / best[1]:.2f}x)"
    if me is None or them is None or them <= 0:
        return Target(target, f"{scenario} {mode}", "-", "-", None, _goal(goal), None, best_text)
    ratio = me / them
    return Target(
        target,
        f"{scenario} {mode}",
        _us(me),
        f"{_LABEL[theirs]} {_us(them)}",
        ratio,
        _goal(goal),
        ratio <= goal,
        best_text,
    )


def _goal(goal: float) -> str:
    return "≤ 1/3" if abs(goal - 1 / 3) < 1e-9 else f"≤ {goal:g}"


def targets(results: Results) -> list[Target]:
    """The issue's targets, each with realip's figure, the reference figure, the ratio and whether it is met."""
    rows: list[Target] = []
    level1_peers = ("uvicorn", "hypercorn", "werkzeug", "python-ipware", "django-ipware")
    for mine, form in (("realip", "ASGI form"), ("realip-map", "mapping form")):
        for key in ("S2", "S3", "S4", "S5", "S6"):
            rows.append(
                _ratio_target(
                    results,
                    f"distinct clients, {form}: ≤ 1/3 of uvicorn's trust check",
                    key,
                    "distinct",
                    mine,
                    "uvicorn-trust",
                    1 / 3,
                    level1_peers,
                )
            )
    for key in ("S2", "S3", "S4", "S5", "S6"):
        rows.append(
            _ratio_target(
                results, "mapping form within 1.5x of the ASGI form", key, "distinct", "realip-map", "realip", 1.5, ()
            )
        )
        rows[-1] = replace(rows[-1], best_peer="")
    for key in ("S2", "S3", "S4", "S5", "S6"):
        rows.append(
            _ratio_target(
                results, "warm client: ≤ uvicorn's cached time", key, "warm", "realip", "uvicorn", 1.0, level1_peers
            )
        )
    for mode in ("distinct", "warm"):
        for mine, theirs, peers in (
            ("realip-asgi", "uvicorn", ("uvicorn", "hypercorn")),
            ("realip-wsgi", "werkzeug", ("werkzeug",)),
        ):
            kind = "ASGI" if mine == "realip-asgi" else "WSGI"
            for key in ("S2", "S3", "S4"):
                rows.append(
                    _ratio_target(
                        results, f"{kind} middleware, {mode}: ≤ 1/2 of {theirs}", key, mode, mine, theirs, 0.5, peers
                    )
                )
    rows.append(
        _ratio_target(results, "S3 within 1.5x of the composite floor", "S3", "warm", "realip", "floor", 1.5, ())
    )
    rows[-1] = replace(rows[-1], best_peer="(the floor: peer + split + parse + trust, same run)")
    by_name = {row.config.name: row for row in results.servers}
    for server in SERVERS:
        bare, me = by_name.get(f"{server}-bare"), by_name.get(f"{server}-realip")
        label = SERVER_LABELS[server]
        if bare is None or me is None or bare.stats is None or me.stats is None:
            rows.append(Target("server: ≥ 98% of bare (req/s)", label, "-", "-", None, "≥ 0.98", None))
            continue
        ratio = me.share.median if me.share is not None else me.stats.median / bare.stats.median
        rivals = [r for r in _competitors(results.servers, server, me.config.name) if r.stats is not None]
        best = max(rivals, key=lambda r: r.stats.median if r.stats else 0.0, default=None)
        best_text = f"{best.config.middleware} {best.stats.median:.0f}/s" if best and best.stats else ""
        rows.append(
            Target(
                "server: ≥ 98% of bare (req/s)",
                f"{label} S3",
                f"{me.stats.median:.0f}/s",
                f"bare {bare.stats.median:.0f}/s",
                ratio,
                "≥ 0.98",
                ratio >= 0.98,
                best_text,
            )
        )
    counted = {row.config.name: row for row in results.instructions}
    for server in SERVERS:
        bare_count, my_count = counted.get(f"{server}-bare"), counted.get(f"{server}-realip")
        control = counted.get(f"{server}-control")
        label = SERVER_LABELS[server]
        if bare_count is None or my_count is None or bare_count.per_request is None or my_count.per_request is None:
            rows.append(Target("server, counted: ≥ 98% of bare", label, "-", "-", None, "≥ 0.98", None))
            continue
        share = bare_count.per_request / my_count.per_request
        peer_counts = [
            r for r in _competitors(results.instructions, server, my_count.config.name) if r.per_request is not None
        ]
        fewest = min(peer_counts, key=lambda r: r.per_request or 0.0, default=None)
        notes = []
        if fewest is not None and fewest.per_request:
            notes.append(
                f"{fewest.config.middleware} {fewest.per_request:,.0f} "
                f"({bare_count.per_request / fewest.per_request:.1%} of bare)"
            )
        if control is not None and control.per_request:
            notes.append(f"the do-nothing control: {bare_count.per_request / control.per_request:.1%} of bare")
        rows.append(
            Target(
                "server, counted: ≥ 98% of bare",
                f"{label} S3, instructions/request",
                f"{my_count.per_request:,.0f}",
                f"bare {bare_count.per_request:,.0f}",
                share,
                "≥ 0.98",
                share >= 0.98,
                "; ".join(notes),
            )
        )
    rows += proxy_counted_targets(results.instructions)
    toa = {row.name: row for row in results.toa}
    for what in ("parse_options", "parse_packet"):
        c, pure = toa.get(f"{what} C"), toa.get(f"{what} pure")
        if c is None or pure is None:
            rows.append(Target("TOA parse: C ≥ 10x pure", what, "-", "-", None, "≥ 10", None))
            continue
        speedup = pure.stats.median / c.stats.median
        rows.append(
            Target(
                "TOA parse: C ≥ 10x pure",
                what,
                _us(c.stats.median),
                f"pure {_us(pure.stats.median)}",
                speedup,
                "≥ 10",
                speedup >= 10,
            )
        )
    rows += proxy_targets(results.proxy)
    rows += context_targets(results.context)
    return rows


def proxy_counted_targets(measured: list[InstructionRow]) -> list[Target]:
    """ "PROXY protocol on: ≥ 98% of bare, counted", one per uvicorn install: the bare app behind realip_toa's listener
    hook against the same install's bare server (no PROXY protocol), on one keep-alive connection; the notes add
    the whole Layer-4 path (realip reading the header) and what the listener costs per connection."""
    what = "PROXY protocol on: ≥ 98% of bare, counted"
    counted = {row.config.name: row for row in measured}
    rows = []
    for server in PROXY_SERVERS:
        bare, listener = counted.get(f"{server}-bare"), counted.get(f"{server}-proxy-listener")
        label = SERVER_LABELS[server]
        if bare is None or listener is None or bare.per_request is None or listener.per_request is None:
            rows.append(Target(what, label, "-", "-", None, "≥ 0.98", None))
            continue
        share = bare.per_request / listener.per_request
        notes = []
        whole = counted.get(f"{server}-proxy-realip")
        if whole is not None and whole.per_request:
            notes.append(
                f"{PROXY_REALIP} {whole.per_request:,.0f} ({bare.per_request / whole.per_request:.1%} of bare)"
            )
        if bare.per_connection and listener.per_connection:
            notes.append(
                f"one request per connection: +{listener.per_connection - bare.per_connection:,.0f} per connection "
                f"({bare.per_connection / listener.per_connection:.1%} of bare)"
            )
        rows.append(
            Target(
                what,
                f"{label}, PROXY v2 once per keep-alive connection, instructions/request",
                f"{listener.per_request:,.0f}",
                f"bare {bare.per_request:,.0f}",
                share,
                "≥ 0.98",
                share >= 0.98 and listener.answer == listener.config.expected,
                "; ".join(notes),
            )
        )
    return rows


def _per_connection_table(measured: list[InstructionRow]) -> list[str]:
    """The rows counted with one request per connection: instructions per connection, and over the bare server."""
    each = [(row, row.per_connection) for row in measured if row.per_connection is not None]
    if not each:
        return []
    bare = {row.config.server: count for row, count in each if row.config.middleware == "none"}
    lines = [
        "Counted again with every request on a new connection (connect, PROXY header when the row sends one, one "
        "request, close): instructions per connection.",
        "",
        "| server | middleware | instructions per connection (median; per seed) | over bare | share of bare |",
        "|---|---|---|---|---|",
    ]
    for row, count in each:
        seeds = ", ".join(f"{value:,.0f}" for value in row.per_connection_by_seed)
        reference = bare.get(row.config.server)
        extra = share = "(reference)" if row.config.middleware == "none" else "-"
        if reference and row.config.middleware != "none":
            extra, share = f"{count - reference:+,.0f}", f"{reference / count:.1%}"
        lines.append(
            f"| {SERVER_LABELS[row.config.server]} | {row.config.middleware} | {count:,.0f} ({seeds}) "
            f"| {extra} | {share} |"
        )
    return lines


def context_targets(measured: list[ContextRow]) -> list[Target]:
    """The forwarded context with every option on costs no more than the peer doing the same work (WSGI: werkzeug's
    ProxyFix with x_for, x_proto, x_host, x_port and x_prefix), and gives the right URL."""
    by_name = {row.name: row for row in measured}
    mine, peer = by_name.get("realip-wsgi-context"), by_name.get("werkzeug")
    what = "forwarded context: ≤ werkzeug ProxyFix doing the same"
    if mine is None or peer is None:
        return [Target(what, "WSGI, every context option", "-", "-", None, "≤ 1", None)]
    ratio = mine.stats.median / peer.stats.median
    return [
        Target(
            what,
            "WSGI, every context option",
            f"{mine.stats.median / 1000:.2f} µs",
            f"ProxyFix {peer.stats.median / 1000:.2f} µs",
            ratio,
            "≤ 1",
            ratio <= 1 and mine.mark == "✓",
        )
    ]


def proxy_targets(measured: list[ProxyRow]) -> list[Target]:
    """The "PROXY parse: C ≥ 10x pure" rows, one per header measured (v1, v2 with TLVs)."""
    rows = []
    by_name = {row.name: row for row in measured}
    for what in ("v1 TCP4", "v2 TCP4 + AWS TLV + CRC32c"):
        c, pure = by_name.get(f"parse {what} C"), by_name.get(f"parse {what} pure")
        if c is None or pure is None:
            rows.append(Target("PROXY parse: C ≥ 10x pure", what, "-", "-", None, "≥ 10", None))
            continue
        speedup = pure.stats.median / c.stats.median
        rows.append(
            Target(
                "PROXY parse: C ≥ 10x pure",
                what,
                _us(c.stats.median),
                f"pure {_us(pure.stats.median)}",
                speedup,
                "≥ 10",
                speedup >= 10,
            )
        )
    return rows


def _met(value: bool | None) -> str:
    return "n/a" if value is None else "met" if value else "NOT met"


def targets_table(rows: list[Target]) -> list[str]:
    lines = [
        "| target | cell | realip | reference | ratio | goal | status | fastest correct peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.target} | {row.where} | {row.realip} | {row.reference} | {ratio} | {row.goal} | "
            f"{_met(row.met)} | {row.best_peer} |"
        )
    return lines


def _level_table(results: Results, mode: str, columns: Sequence[str]) -> list[str]:
    present = [name for name in columns if any(c.contender == name and c.mode == mode for c in results.cells)]
    lines = [
        "| scenario | " + " | ".join(_LABEL[name] for name in present) + " |",
        "|---|" + "---|" * len(present),
    ]
    for scenario in SCENARIOS:
        cells = [results.cell(scenario.key, mode, name) for name in present]
        row = [
            f"{_timing(cell)}<br>{_answer(cell, baseline=name.startswith('bare'))}"
            for name, cell in zip(present, cells, strict=True)
        ]
        lines.append(f"| {scenario.key} {scenario.title} | " + " | ".join(row) + " |")
    return lines


def markdown(results: Results, versions: dict[str, str]) -> str:
    """The whole report as markdown."""
    s = results.settings
    out = [
        "# realip benchmarks",
        "",
        "Generated by `python -m benchmarks` (the full run, about sixteen minutes on two cores; `--help` for the "
        "options); do not edit by hand. Ratios hold within one run on one machine; absolute times depend on the "
        "machine.",
        "",
    ]
    if results.noisy:
        out += ["> **Noisy run**: this machine was busy while measuring; read ratios as rough.", ""]
    out += [
        f"Python {platform.python_version()} on {platform.machine()} {platform.system()}, "
        f"{_cpus()} CPUs; " + ", ".join(f"{name} {version}" for name, version in versions.items()) + ".",
        f"In-process cells: {s.rounds} samples each (batches of about {s.batch_seconds * 1000:g} ms, "
        f"interleaved in shuffled rounds), distinct-client pools of {s.pool} requests; "
        f"run took {results.seconds:.0f} s.",
        "",
        "Each cell: median time per call ± half the interquartile range, then the client address the library "
        "returned: ✓ right, ≈ right address in another spelling, ✗ wrong (in distinct mode, how many of the pool "
        "were wrong). Middlewares are timed around a trivial app, minus the bare app on the same batch.",
        "",
        "## Scenarios",
        "",
        "| | scenario | peer | X-Forwarded-For | right answer | hop count for hop counters |",
        "|---|---|---|---|---|---|",
    ]
    for sc in SCENARIOS:
        xff = "(none)" if sc.xff is None else sc.xff if len(sc.xff) < 60 else sc.xff[:40] + " … (30 entries)"
        out.append(f"| {sc.key} | {sc.title} | {sc.peer} | {xff} | {sc.client} | {sc.hops} |")
    out += [
        "",
        "Hop counters (werkzeug, hypercorn, ipware) are given the exact hop count of each scenario, the most "
        "favourable configuration they allow; it still cannot tell a direct client's forged header (S7) from a "
        "proxy's. A client sending no header to a hop counter is the proxy-less case (S1).",
        "",
        "Distinct mode rotates the client (documentation ranges; 2001:db8::/32 for S5), the trusted hops "
        "(100.64.0.0/10) and the peer (10.0.0.0/8) over the pool. uvicorn's 4096-entry LRU cannot be flushed by the "
        "768 IPv4 documentation addresses, so on IPv4 scenarios it is bypassed (its miss path without LRU "
        "bookkeeping: slightly favours uvicorn); S5's 8192 IPv6 clients miss it for real.",
        "",
        "## How each library is configured (trusted = 10.0.0.0/8 and 100.64.0.0/10, or the closest it supports)",
        "",
        "| library | trust |",
        "|---|---|",
    ]
    out += [f"| {c.label} | {c.trust} |" for c in CONTENDERS]
    for mode in MODES:
        out += ["", f"## Level 1: resolution per call, {mode} ({_MODE_TEXT[mode]})", ""]
        out += _level_table(results, mode, LEVEL1)
    for mode in MODES:
        out += ["", f"## Level 2: middleware overhead, {mode} (wrapped minus bare; bare apps' own time last)", ""]
        out += _level_table(results, mode, LEVEL2)
    out += ["", "## Level 3: whole server, hello world, S3 request from 127.0.0.1", "", results.server_note, ""]
    if results.servers:
        out += [
            "| server | middleware | requests/s (± IQR/2) | share of bare (median over pairs) | client answered |",
            "|---|---|---|---|---|",
        ]
        for row in results.servers:
            if row.stats is None:
                out.append(f"| {SERVER_LABELS[row.config.server]} | {row.config.middleware} | {row.note or '-'} | | |")
                continue
            share = "(reference)" if row.config.middleware == "none" else "-"
            if row.share is not None:
                share = f"{row.share.median:.1%} ±{row.share.iqr / 2:.1%}"
            out.append(
                f"| {SERVER_LABELS[row.config.server]} | {row.config.middleware} | {row.stats.median:.0f} "
                f"±{row.stats.iqr / 2:.0f} "
                f"| {share} | {row.answer}{_server_mark(row.config, row.answer)} |"
            )
    out += ["", "## Level 3, counted: instructions per request inside the server (callgrind)", ""]
    out += [results.instructions_note, ""]
    if results.instructions:
        bare_counts = {r.config.server: r.per_request for r in results.instructions if r.config.middleware == "none"}
        out += [
            "| server | middleware | instructions per request (median; per seed) | over bare | share of bare "
            "| client answered |",
            "|---|---|---|---|---|---|",
        ]
        for counted in results.instructions:
            if counted.per_request is None:
                label = SERVER_LABELS[counted.config.server]
                out.append(f"| {label} | {counted.config.middleware} | {counted.note or '-'} | | | |")
                continue
            seeds = ", ".join(f"{value:,.0f}" for value in counted.by_seed)
            bare = bare_counts.get(counted.config.server)
            extra = share = "(reference)" if counted.config.middleware == "none" else "-"
            if bare and counted.config.middleware != "none":
                extra = f"{counted.per_request - bare:+,.0f}"
                share = f"{bare / counted.per_request:.1%}"
            out.append(
                f"| {SERVER_LABELS[counted.config.server]} | {counted.config.middleware} | "
                f"{counted.per_request:,.0f} ({seeds}) "
                f"| {extra} | {share} | {counted.answer}{_server_mark(counted.config, counted.answer)} |"
            )
        per_connection = _per_connection_table(results.instructions)
        if per_connection:
            out += ["", *per_connection]
    out += ["", "## Level 4: TOA", "", results.toa_note, ""]
    if results.toa:
        out += ["| measured | time per call | answer |", "|---|---|---|"]
        out += [
            f"| {row.name} | {_us(row.stats.median)} ±{row.stats.iqr / 2000:.2f} | {row.answer} |"
            for row in results.toa
        ]
    out += ["", "## Level 4: PROXY protocol", "", results.proxy_note, ""]
    if results.proxy:
        out += ["| measured | time per call | answer |", "|---|---|---|"]
        out += [
            f"| {row.name} | {_us(row.stats.median)} ±{row.stats.iqr / 2000:.2f} | {row.answer} |"
            for row in results.proxy
        ]
    out += ["", "## Frameworks: aiohttp and Sanic", "", results.frameworks_note, ""]
    if results.frameworks:
        out += frameworks_table(results.frameworks)
    out += ["", "## The forwarded context: scheme, host, port and prefix", "", results.context_note, ""]
    if results.context:
        out += context_table(results.context)
    out += ["", "## Targets (issue 6)", ""]
    out += targets_table(targets(results))
    out += ["", "![realip vs peers](benchmarks.png)", ""]
    return "\n".join(out)


_MODE_TEXT = {
    "warm": "one request repeated: caches warm",
    "distinct": "every request from a different client: caches defeated",
}


def _cpus() -> str:
    import os

    return str(os.cpu_count() or "?")


def plot(results: Results, path: Path) -> None:
    """Five panels: level 1 distinct, level 2 warm, level 3 throughput and instructions, TOA."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 2, figsize=(15, 16))
    _bars(axes[0][0], results, "distinct", ("realip", "floor", *PEERS), "Level 1: per call, distinct clients")
    _bars(
        axes[0][1],
        results,
        "warm",
        ("realip-asgi", "uvicorn", "hypercorn", "realip-wsgi", "werkzeug"),
        "Level 2: middleware overhead, warm",
    )
    ax = axes[1][0]
    timed = [(r, r.stats) for r in results.servers if r.stats is not None]
    if timed:
        ax.barh(
            [f"{SERVER_LABELS[r.config.server]}: {r.config.middleware}" for r, _ in timed],
            [st.median for _, st in timed],
            xerr=[[st.median - st.q1 for _, st in timed], [st.q3 - st.median for _, st in timed]],
            color=[_colour(r.config.middleware) for r, _ in timed],
        )
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, results.server_note, ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Level 3: whole server, requests/s (higher is better)")
    ax = axes[1][1]
    if results.toa:
        ax.barh(
            [r.name for r in results.toa],
            [r.stats.median / 1000 for r in results.toa],
            xerr=[
                [(r.stats.median - r.stats.q1) / 1000 for r in results.toa],
                [(r.stats.q3 - r.stats.median) / 1000 for r in results.toa],
            ],
            color=["#e1812c" if " C" in r.name or "request" in r.name else "#7f7f7f" for r in results.toa],
        )
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, results.toa_note, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_title("Level 4: TOA, µs per call")
    ax = axes[2][0]
    bare_counts = {r.config.server: r.per_request for r in results.instructions if r.config.middleware == "none"}
    counted = [
        (r, r.per_request - bare)
        for r in results.instructions
        if r.config.middleware != "none" and r.per_request is not None and (bare := bare_counts.get(r.config.server))
    ]
    if counted:
        ax.barh(
            [f"{r.config.server}: {r.config.middleware}" for r, _ in counted],
            [extra for _, extra in counted],
            color=[_colour(r.config.middleware) for r, _ in counted],
        )
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, results.instructions_note, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_title("Level 3, counted: instructions per request over the bare server (lower is better)")
    axes[2][1].axis("off")
    if results.noisy:
        figure.suptitle("NOISY RUN (busy machine): ratios are rough", color="#c44e52")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


_PALETTE = {
    "realip": "#e1812c",
    "realip-asgi": "#e1812c",
    "realip-wsgi": "#b5541c",
    "floor": "#7f7f7f",
    "floor-scan": "#bcbd22",
    "uvicorn-trust": "#98df8a",
    "uvicorn": "#2ca02c",
    "hypercorn": "#9467bd",
    "werkzeug": "#8c564b",
    "python-ipware": "#e377c2",
    "django-ipware": "#17becf",
}


def _colour(name: str) -> str:
    return "#e1812c" if "realip" in name else "#7f7f7f" if name in ("none", "floor", CONTROL) else "#4c72b0"


def _bars(ax: object, results: Results, mode: str, names: Sequence[str], title: str) -> None:
    keys = [sc.key for sc in SCENARIOS]
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        labelled = False
        for position, key in enumerate(keys):
            cell = results.cell(key, mode, name)
            if cell is None or cell.stats is None:
                continue
            wrong = cell.verdict == "wrong"
            ax.bar(  # type: ignore[attr-defined]
                position + index * width,
                max(cell.stats.median, 1.0) / 1000,
                width,
                color=_PALETTE.get(name, f"C{index}"),
                hatch="xx" if wrong else None,
                edgecolor="black" if wrong else None,
                label=None if labelled else _LABEL[name],
            )
            labelled = True
    ax.set_xticks([p + 0.4 - width / 2 for p in range(len(keys))], keys)  # type: ignore[attr-defined]
    ax.set_yscale("log")  # type: ignore[attr-defined]
    ax.set_ylabel("µs per call (log); hatched = wrong answer")  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    columns = 3 if len(names) > 6 else 2
    ax.legend(fontsize=7, ncol=columns, loc="upper center", bbox_to_anchor=(0.5, -0.07))  # type: ignore[attr-defined]
