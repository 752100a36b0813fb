"""Level 4, TOA: the option parser per packet (C extension vs its pure-Python twin) and the lookup per request.

A hook: it measures ``realip_toa`` when it is importable and has both parsers, and otherwise says why not. The
lookup per request is the connection-table read plus ``Resolver.resolve(..., layer4=)``, against resolve without TOA.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .scenarios import TRUSTED
from .timing import Stats, compare

__all__ = ["ToaRow", "measure_toa"]

_CLIENT, _CLIENT_PORT = "198.51.100.7", 40123
_LB, _LB_PORT, _LOCAL, _LOCAL_PORT = "10.0.1.2", 51234, "10.0.9.9", 8000


@dataclass(frozen=True)
class ToaRow:
    """One TOA measurement: what was timed, its time per call, and the answer it gave."""

    name: str
    stats: Stats
    answer: str


def _packet() -> tuple[bytes, bytes]:
    """A TCP SYN from the load balancer carrying TOA 254/8 after NOP NOP timestamps, and its options block."""
    from socket import AF_INET, inet_pton

    toa = struct.pack("!BBH4s", 254, 8, _CLIENT_PORT, inet_pton(AF_INET, _CLIENT))
    options = b"\x01\x01\x08\x0a" + struct.pack("!II", 1, 0) + toa + b"\x01\x01"  # 20 bytes
    tcp = struct.pack("!HHIIBBHHH", _LB_PORT, _LOCAL_PORT, 1, 0, (5 + len(options) // 4) << 4, 0x02, 65535, 0, 0)
    total = 20 + len(tcp) + len(options)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 6, 0, inet_pton(AF_INET, _LB), inet_pton(AF_INET, _LOCAL)
    )
    return ip + tcp + options, options


def _loop(function: Callable[..., Any], *args: Any) -> Callable[[list[Any]], None]:
    def run(batch: list[Any]) -> None:
        for item in batch:
            function(item, *args)

    return run


def _parse_loop(function: Callable[[Any, bytes], Any], kinds: bytes) -> Callable[[list[Any]], None]:
    """A batch of parser calls with no per-call harness work beyond the call (no ``*args`` packing), so the loop's
    fixed cost dilutes neither parser's time."""

    def run(batch: list[Any]) -> None:
        for item in batch:
            function(item, kinds)

    return run


def measure_toa(rounds: int, seconds: float, batch: int = 4096) -> tuple[list[ToaRow], str]:
    """The TOA rows (empty when ``realip_toa`` cannot be measured) and a note saying what was or was not run."""
    try:
        import realip_toa
        from realip_toa import _pure
    except ImportError as error:
        return [], f"realip_toa not importable ({error}): level 4 skipped"
    try:
        from realip_toa import _toa  # type: ignore[attr-defined,unused-ignore]
    except ImportError as error:
        return [], f"realip_toa's C parser is not built ({error}): nothing to compare the pure parser with"
    from realip import Resolver

    packet, options = _packet()
    kinds = realip_toa.pack_kinds(realip_toa.DEFAULT_KINDS)
    packets, option_blocks = [packet] * batch, [options] * batch
    runs: dict[str, tuple[Callable[[list[Any]], None], list[Any]]] = {
        "parse_options C": (_parse_loop(_toa.parse_options, kinds), option_blocks),
        "parse_options pure": (_parse_loop(_pure.parse_options, kinds), option_blocks),
        "parse_packet C": (_parse_loop(_toa.parse_packet, kinds), packets),
        "parse_packet pure": (_parse_loop(_pure.parse_packet, kinds), packets),
    }
    answers: dict[str, object] = {
        "parse_options C": _toa.parse_options(options, kinds),
        "parse_options pure": _pure.parse_options(options, kinds),
        "parse_packet C": _toa.parse_packet(packet, kinds),
        "parse_packet pure": _pure.parse_packet(packet, kinds),
    }
    note = "realip_toa C and pure parsers on one SYN (IPv4, TOA 254/8 after NOP NOP timestamps)"
    resolve = Resolver(trusted_proxies=list(TRUSTED), layer4_proxies=list(TRUSTED)).resolve
    peer, headers = (_LB, _LB_PORT), [(b"host", b"app.example.com")]
    try:
        from realip_toa._table import ConnTable, conn_key

        table: ConnTable[realip_toa.TOA] = ConnTable()
        key = conn_key(peer, (_LOCAL, _LOCAL_PORT))
        assert key is not None
        found = realip_toa.to_toa(_toa.parse_options(options, kinds))
        if found is None:
            raise ValueError("the C parser found no TOA in the test SYN")
        table.put(key, found)

        def lookup(item: Any) -> Any:
            entry = table.get(conn_key(peer, (_LOCAL, _LOCAL_PORT)))  # type: ignore[arg-type]
            return resolve(peer, headers, ("toa", entry.address) if entry else None)

        runs["request: table lookup + resolve(layer4=)"] = (_loop(lookup), [None] * batch)
        answers["request: table lookup + resolve(layer4=)"] = lookup(None).client_ip
    except Exception as error:  # the table API is young: report, do not fail the run
        note += f"; per-request lookup not measured ({type(error).__name__}: {error})"
    runs["request: resolve without TOA"] = (_loop(lambda item: resolve(peer, headers)), [None] * batch)
    answers["request: resolve without TOA"] = resolve(peer, headers).client_ip
    measured = compare(runs, rounds, seconds)
    rows = [ToaRow(name, measured[name], _show(answers[name])) for name in runs]
    return rows, note


def _show(answer: object) -> str:
    """A parser answer in text: the TOA address and port, else the value as is."""
    from socket import AF_INET, inet_ntop

    if isinstance(answer, tuple) and len(answer) == 3 and isinstance(answer[1], bytes) and len(answer[1]) == 4:
        return f"{inet_ntop(AF_INET, answer[1])}:{answer[2]}"
    if isinstance(answer, tuple) and len(answer) == 10:  # parse_packet: the TOA is its seventh field
        return _show(answer[6])
    return str(answer)
