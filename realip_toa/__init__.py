"""realip_toa: the real client behind Layer-4 full-NAT load balancers, from the TCP option they add (TOA).

A full-NAT load balancer (Alibaba LVS, iQIYI dpvs, Tencent, Huawei, UCloud, JD) replaces the client's source address
with its own and carries the client's address and port in a TCP option. This package reads that option in user space
in one of three ways (see :class:`TOASource`): a loaded ``toa.ko`` kernel module (``"kernel"``), the SYN the kernel
saved for the connection (``"saved-syn"``, no privileges), or a packet capture that sees the handshake ACK and first
data segments (``"capture"``, needs ``CAP_NET_RAW``). realip's ``layer4="toa:MODE"`` option hands the answer to its
resolver, which believes it only when the peer is one of its ``layer4_proxies`` (the load balancers).

The byte parser is a small C extension with a pure-Python twin giving the same answers; ``IMPLEMENTATION`` says which
one is active (``"c"`` or ``"python"``); ``REALIP_TOA_PURE=1`` in the environment forces the pure one.

The other Layer-4 carrier, the PROXY protocol header, lives in :mod:`realip_toa.proxy_protocol` (the parser) and
:mod:`realip_toa.proxy_listener` (the per-listener policy and ``ProxyProtocolSource``), with server hooks in
:mod:`realip_toa.uvicorn_hooks` and :mod:`realip_toa.gunicorn_workers`. This package is the lower layer: it imports
nothing from ``realip``.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterable
from typing import NamedTuple

from . import _pure

__all__ = [
    "DEFAULT_KINDS",
    "IMPLEMENTATION",
    "TOA",
    "Packet",
    "TOAConfigError",
    "TOASource",
    "pack_kinds",
    "parse",
    "parse_kinds",
    "parse_options",
    "parse_packet",
    "to_toa",
]

#: The honoured ``(kind, length)`` pairs by default: 254/8 and 254/20 (LVS, dpvs, Huawei, Volcengine), 253/20
#: (Alibaba LVS IPv6), 200/8 (Tencent, UCloud, JD), 201/20 (JD IPv6).
DEFAULT_KINDS: tuple[tuple[int, int], ...] = ((254, 8), (254, 20), (253, 20), (200, 8), (201, 20))

if os.environ.get("REALIP_TOA_PURE", "") not in ("", "0"):
    _backend = _pure
    IMPLEMENTATION = "python"
else:
    try:
        import realip_toa._toa as _backend  # type: ignore[no-redef]

        IMPLEMENTATION = "c"
    except ImportError:  # pragma: no cover - depends on the build
        warnings.warn(
            "realip_toa: the C parser (realip_toa._toa) is not built; using the pure-Python parser (same answers, "
            "slower). Reinstall with a C compiler and the Python headers to build it (Debian: apt-get install gcc "
            "python3-dev), or set REALIP_TOA_PURE=1 to choose the pure parser and silence this warning.",
            RuntimeWarning,
            stacklevel=2,
        )
        _backend = _pure
        IMPLEMENTATION = "python"

#: ``parse_options(options, kinds) -> (kind, packed_ip, port) | None`` from the active implementation.
parse_options = _backend.parse_options
#: ``parse_packet(packet, kinds) -> (version, src, sport, dst, dport, flags, toa, seq, ack, checksum) | None`` from
#: the active one.
parse_packet = _backend.parse_packet


class TOAConfigError(ValueError):
    """A Layer-4 configuration realip_toa cannot use (bad mode, kind, port, or a missing privilege); raised at start-up.

    realip_toa is the lower layer and imports nothing from ``realip``; realip's adapters turn this error into a
    ``realip.ConfigError`` that names their own setting (``layer4=``, ``REALIP_LAYER4``, ``REALIP["LAYER4"]``).
    """


class TOA(NamedTuple):
    """A client address carried in a TCP option: the option kind, the address as text, and the port."""

    kind: int
    ip: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        """``(ip, port)``: the address ``Resolver.resolve(..., ("toa", address))`` takes."""
        return (self.ip, self.port)


class Packet(NamedTuple):
    """One parsed TCP segment: its connection (as the receiver sees it), TCP flags, the TOA it carried, its sequence
    and acknowledgment numbers, and its checksum verdict (1 right, 0 wrong, -1 cannot be checked)."""

    src: str
    sport: int
    dst: str
    dport: int
    flags: int
    toa: TOA | None
    seq: int = 0
    ack: int = 0
    checksum: int = -1


def to_toa(raw: tuple[int, bytes, int] | None) -> TOA | None:
    """Turn a parser answer ``(kind, packed_ip, port)`` into a :class:`TOA` (text address)."""
    if raw is None:
        return None
    kind, packed, port = raw
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return TOA(kind, socket.inet_ntop(family, packed), port)


def pack_kinds(kinds: Iterable[tuple[int, int]]) -> bytes:
    """Pack ``(kind, length)`` pairs into the table the parsers take; a bad pair raises :class:`TOAConfigError`."""
    out = bytearray()
    for pair in kinds:
        try:
            kind, length = (int(v) for v in pair)
        except (TypeError, ValueError) as exc:
            raise TOAConfigError(f"TOA kind {pair!r}: expected a (kind, length) pair such as (254, 8)") from exc
        if not 2 <= kind <= 255 or length not in (8, 20):
            raise TOAConfigError(
                f"TOA kind {kind}/{length}: the kind must be 2..255 and the length 8 (IPv4) or 20 (IPv6)"
            )
        out += bytes((kind, length))
    if not out:
        raise TOAConfigError("TOA kinds: at least one (kind, length) pair is needed, e.g. 254/8")
    return bytes(out)


def parse_kinds(text: str) -> tuple[tuple[int, int], ...]:
    """Read ``"254/8,200/8"`` (or ``"default"``) into ``(kind, length)`` pairs; bad entries raise TOAConfigError."""
    text = text.strip()
    if text in ("", "default"):
        return DEFAULT_KINDS
    pairs = []
    for entry in text.split(","):
        kind, sep, length = entry.strip().partition("/")
        if not sep or not kind.isdigit() or not length.isdigit():
            raise TOAConfigError(f"TOA kind {entry.strip()!r}: expected KIND/LENGTH such as 254/8 or 253/20")
        pairs.append((int(kind), int(length)))
    pack_kinds(pairs)
    return tuple(pairs)


def parse(packet: bytes | bytearray | memoryview, kinds: bytes) -> Packet | None:
    """Parse one IP packet into a :class:`Packet` (text addresses), or ``None`` if it is not a usable TCP segment."""
    raw = parse_packet(packet, kinds)
    if raw is None:
        return None
    version, src, sport, dst, dport, flags, toa, seq, ack, checksum = raw
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    src_text, dst_text = socket.inet_ntop(family, src), socket.inet_ntop(family, dst)
    return Packet(src_text, sport, dst_text, dport, flags, to_toa(toa), seq, ack, checksum)


from .source import TOASource  # noqa: E402  (needs the names above)
