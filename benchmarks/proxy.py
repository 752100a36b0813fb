"""Level 4, PROXY protocol: the header parser per connection (C extension vs its pure-Python twin) and what the
listener does per connection on top of it.

A hook like :mod:`benchmarks.toa`: it measures ``realip_toa.proxy_protocol`` when both parsers are there, and
otherwise says why not. Parsed: a v1 ``TCP4`` line and a v2 TCP-over-IPv4 header with an AWS VPC endpoint TLV and a
CRC32c TLV (as AWS NLB and HAProxy send them), each followed by a request in the same read. The per-connection row is
the listener's whole work for one connection: the trust check, the parse, the named header, recording it for the
request's lookup and forgetting it at close.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .timing import Stats, compare

__all__ = ["ProxyRow", "measure_proxy", "v1_header", "v2_header"]

_REQUEST = b"GET / HTTP/1.1\r\nHost: app.example.com\r\n\r\n"
_LB, _LB_PORT, _LOCAL, _LOCAL_PORT = "10.0.1.2", 51234, "10.0.9.9", 8000


@dataclass(frozen=True)
class ProxyRow:
    """One PROXY measurement: what was timed, its time per call, and the answer it gave."""

    name: str
    stats: Stats
    answer: str


def v1_header() -> bytes:
    return b"PROXY TCP4 198.51.100.7 10.0.9.9 40123 443\r\n"


def v2_header() -> bytes:
    """TCP over IPv4 with the AWS VPC endpoint TLV and a correct CRC32c TLV."""
    from realip_toa._proxy_pure import crc32c

    aws = b"\x01vpce-08d2bf15fac5001c9"
    body = bytes([198, 51, 100, 7, 10, 0, 9, 9]) + struct.pack("!HH", 40123, 443)
    body += struct.pack("!BH", 0xEA, len(aws)) + aws + struct.pack("!BH", 0x03, 4) + bytes(4)
    header = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + struct.pack("!H", len(body)) + body
    return header[:-4] + struct.pack("!I", crc32c(header))


def _calls(function: Callable[[bytes], Any]) -> Callable[[list[Any]], None]:
    def run(batch: list[Any]) -> None:
        for item in batch:
            function(item)

    return run


def measure_proxy(rounds: int, seconds: float, batch: int = 4096) -> tuple[list[ProxyRow], str]:
    """The PROXY rows (empty when the parsers cannot be compared) and a note saying what was or was not run."""
    try:
        from realip_toa import _proxy_pure
        from realip_toa._table import conn_key
        from realip_toa.proxy_listener import Pass, ProxyProtocolPolicy, ProxyProtocolSource
    except ImportError as error:
        return [], f"realip_toa not importable ({error}): the PROXY protocol section skipped"
    try:
        from realip_toa import _proxy  # type: ignore[attr-defined,unused-ignore]
    except ImportError as error:
        return [], f"realip_toa's C PROXY parser is not built ({error}): nothing to compare the pure parser with"

    inputs = {"v1 TCP4": v1_header() + _REQUEST, "v2 TCP4 + AWS TLV + CRC32c": v2_header() + _REQUEST}
    runs: dict[str, tuple[Callable[[list[Any]], None], list[Any]]] = {}
    answers: dict[str, str] = {}
    for label, data in inputs.items():
        for impl, module in (("C", _proxy), ("pure", _proxy_pure)):
            name = f"parse {label} {impl}"
            runs[name] = (_calls(module.parse), [data] * batch)
            answer = module.parse(data)
            answers[name] = f"{answer[1]} header bytes" if answer[0] == 2 else str(answer)

    source = ProxyProtocolSource(ProxyProtocolPolicy([_LB]))
    policy = source.policy
    key = conn_key((_LB, _LB_PORT), (_LOCAL, _LOCAL_PORT))

    def connection(data: bytes) -> Any:
        reader = policy.reader(_LB)
        verdict = reader.feed(data)
        assert isinstance(verdict, Pass)
        source.record(key, verdict.header)
        source.forget(key)
        return verdict

    for label, data in inputs.items():
        name = f"connection {label}: trust + parse + header + record/forget (C)"
        runs[name] = (_calls(connection), [data] * batch)
        found = connection(data).header
        answers[name] = f"{found.source[0]}:{found.source[1]}" if found and found.source else str(found)
    measured = compare(runs, rounds, seconds)
    note = (
        "realip_toa's PROXY protocol parsers, each input followed by a request in the same read; the connection rows "
        "are the listener's whole work for one connection (C parser)"
    )
    return [ProxyRow(name, measured[name], answers[name]) for name in runs], note
