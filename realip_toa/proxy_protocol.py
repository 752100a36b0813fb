"""The PROXY protocol header (v1 text, v2 binary) a Layer-4 load balancer puts before a connection's first bytes.

Threat model: the header is attacker input. Anyone who can reach the port can send one, so it is believed only from
the load balancers (that policy lives in :mod:`realip_toa.proxy_listener`); the parser itself is strict and bounded
(every length checked against the bytes received, the v1 line at most 107 bytes, a v2 header at most ``limit``
bytes, CRC32c verified when present) and never raises on input.

::

    answer = parse(first_bytes)           # NeedMore(total) | Invalid(reason) | Complete(header, consumed)
    if isinstance(answer, Complete):
        header = answer.header            # ProxyHeader: command, family, source, destination, TLVs
        request = first_bytes[answer.consumed:]

The parser is a small C extension (``realip_toa._proxy``) with a pure-Python twin (``realip_toa._proxy_pure``)
giving the same answers; :data:`IMPLEMENTATION` says which is active. ``REALIP_TOA_PURE=1`` forces the pure twins
of both realip_toa parsers (TOA and PROXY); a missing build falls back to the pure twin with one warning.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass
from typing import NamedTuple, cast

from . import _proxy_pure

__all__ = [
    "IMPLEMENTATION",
    "V1_MAX",
    "V2_MAX",
    "Complete",
    "Invalid",
    "NeedMore",
    "ProxyHeader",
    "SSLInfo",
    "TLVs",
    "parse",
]

if os.environ.get("REALIP_TOA_PURE", "") not in ("", "0"):
    _backend = _proxy_pure
    IMPLEMENTATION = "python"
else:
    try:
        import realip_toa._proxy as _backend  # type: ignore[no-redef]

        IMPLEMENTATION = "c"
    except ImportError:  # pragma: no cover - depends on the build
        warnings.warn(
            "realip_toa: the C PROXY protocol parser (realip_toa._proxy) is not built; using the pure-Python parser "
            "(same answers, slower). Reinstall with a C compiler and the Python headers to build it (Debian: "
            "apt-get install gcc python3-dev), or set REALIP_TOA_PURE=1 to choose the pure parsers and silence this.",
            RuntimeWarning,
            stacklevel=2,
        )
        _backend = _proxy_pure
        IMPLEMENTATION = "python"

#: The longest v1 header line, CRLF included.
V1_MAX = 107
#: The largest v2 header the protocol can express (16-byte fixed part + 65535).
V2_MAX = 16 + 65535

#: ``parse(data, limit) -> tuple`` of the active implementation (see ``_proxy_pure`` for the answers).
raw_parse = _backend.parse

COMMANDS = ("LOCAL", "PROXY")
FAMILIES = ("UNSPEC", "INET", "INET6", "UNIX")
TRANSPORTS = ("UNSPEC", "STREAM", "DGRAM")

# Standard TLV types (the PROXY protocol specification, section 2.2.x).
PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_NOOP = 0x04
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_TYPE_NETNS = 0x30
# Vendor TLVs (the 0xE0..0xEF custom range).
PP2_TYPE_GCP = 0xE0  # Google Cloud Private Service Connect: 8-byte connection id, big-endian
PP2_TYPE_ALIBABA = 0xE1  # Alibaba Cloud NLB / PrivateLink: subtype 1 VPC id, 2 endpoint id, 3 endpoint service id
PP2_TYPE_AWS = 0xEA  # AWS NLB / PrivateLink: subtype 1 VPC endpoint id
PP2_TYPE_AZURE = 0xEE  # Azure Private Link: subtype 1 LinkID, uint32 little-endian

#: SSL sub-TLV types and the :class:`SSLInfo` field each fills.
SSL_SUBTYPES = {0x21: "version", 0x22: "cn", 0x23: "cipher", 0x24: "sig_alg", 0x25: "key_alg", 0x26: "group",
                0x27: "sig_scheme"}  # fmt: skip


def _text(value: bytes) -> str:
    """TLV text (US-ASCII or UTF-8 by the spec) for display and matching; undecodable bytes become U+FFFD."""
    return value.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class SSLInfo:
    """The ``PP2_TYPE_SSL`` TLV: how the client reached the load balancer over TLS."""

    #: ``PP2_CLIENT_SSL`` (1), ``PP2_CLIENT_CERT_CONN`` (2), ``PP2_CLIENT_CERT_SESS`` (4) bits.
    client: int
    #: 0 when the client presented a certificate that was verified; any other value means it was not.
    verify: int
    version: str | None = None
    cn: str | None = None
    cipher: str | None = None
    sig_alg: str | None = None
    key_alg: str | None = None
    group: str | None = None
    sig_scheme: str | None = None

    @property
    def over_tls(self) -> bool:
        """The client connected over SSL/TLS."""
        return bool(self.client & 1)

    @property
    def client_certificate_verified(self) -> bool:
        """The client presented a certificate (on this connection or session) and it verified."""
        return bool(self.client & 6) and self.verify == 0


@dataclass(frozen=True, slots=True)
class TLVs:
    """The v2 TLVs decoded into named fields (``None`` when absent); the first TLV of each type counts."""

    alpn: bytes | None = None
    authority: str | None = None
    unique_id: bytes | None = None
    ssl: SSLInfo | None = None
    netns: str | None = None
    aws_vpce_id: str | None = None
    azure_link_id: int | None = None
    gcp_psc_connection_id: int | None = None
    alibaba_vpc_id: str | None = None
    alibaba_endpoint_id: str | None = None
    alibaba_endpoint_service_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The fields that are present, for JSON and logs (bytes as text, SSL as a nested dict)."""
        out: dict[str, object] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bytes):
                value = _text(value)
            elif isinstance(value, SSLInfo):
                value = {k: getattr(value, k) for k in value.__slots__ if getattr(value, k) is not None}
            out[name] = value
        return out


def _decode_ssl(value: bytes) -> SSLInfo:
    """The SSL TLV (its sub-TLV framing was validated by the parser)."""
    fields: dict[str, str] = {}
    pos = 5
    while pos + 3 <= len(value):
        kind, length = value[pos], (value[pos + 1] << 8) | value[pos + 2]
        name = SSL_SUBTYPES.get(kind)
        if name is not None and name not in fields:
            fields[name] = _text(value[pos + 3 : pos + 3 + length])
        pos += 3 + length
    return SSLInfo(value[0], int.from_bytes(value[1:5], "big"), **fields)


_ALIBABA = {1: "alibaba_vpc_id", 2: "alibaba_endpoint_id", 3: "alibaba_endpoint_service_id"}


def decode_tlvs(raw: tuple[tuple[int, bytes], ...]) -> TLVs:
    """Name the standard and vendor TLVs of a v2 header. Values of an unexpected shape are left out (still in the
    raw list), never raised on: the header itself was valid."""
    fields: dict[str, object] = {}

    def put(name: str, value: object) -> None:
        fields.setdefault(name, value)

    for kind, value in raw:
        if kind == PP2_TYPE_ALPN:
            put("alpn", value)
        elif kind == PP2_TYPE_AUTHORITY:
            put("authority", _text(value))
        elif kind == PP2_TYPE_UNIQUE_ID:
            put("unique_id", value)
        elif kind == PP2_TYPE_SSL and len(value) >= 5:
            put("ssl", _decode_ssl(value))
        elif kind == PP2_TYPE_NETNS:
            put("netns", _text(value))
        elif kind == PP2_TYPE_AWS and value[:1] == b"\x01":
            put("aws_vpce_id", _text(value[1:]))
        elif kind == PP2_TYPE_AZURE and value[:1] == b"\x01" and len(value) == 5:
            put("azure_link_id", int.from_bytes(value[1:], "little"))
        elif kind == PP2_TYPE_GCP and len(value) == 8:
            put("gcp_psc_connection_id", int.from_bytes(value, "big"))
        elif kind == PP2_TYPE_ALIBABA and value[:1] and value[0] in _ALIBABA:
            put(_ALIBABA[value[0]], _text(value[1:]))
    return TLVs(**fields)  # type: ignore[arg-type]


class ProxyHeader(NamedTuple):
    """A complete, valid PROXY protocol header.

    ``source`` is the client the load balancer saw, ``(ip, port)`` with the IP as text, or ``None`` when the header
    carries no IP address (LOCAL health checks, ``UNKNOWN``/UNSPEC, UNIX sockets): the connection's own peer stands.
    """

    version: int
    #: ``"PROXY"`` (on behalf of a client) or ``"LOCAL"`` (the balancer's own connection, e.g. a health check).
    command: str
    #: ``"INET"``, ``"INET6"``, ``"UNIX"`` or ``"UNSPEC"``.
    family: str
    #: ``"STREAM"``, ``"DGRAM"`` or ``"UNSPEC"``.
    transport: str
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    #: ``((type, value), ...)`` in header order (v2 only).
    raw_tlvs: tuple[tuple[int, bytes], ...] = ()
    #: A CRC32c TLV was present and matched (a mismatch makes the header invalid).
    crc32c_checked: bool = False
    #: The UNIX socket paths of a v2 UNIX header (text up to the first NUL), else ``None``.
    unix_source: str | None = None
    unix_destination: str | None = None

    @property
    def tlvs(self) -> TLVs:
        """The TLVs decoded into named fields (decoded on each access; keep the result if you read it often)."""
        return decode_tlvs(self.raw_tlvs)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view: the addresses, the decoded TLVs and the raw TLV types."""
        return {
            "version": self.version,
            "command": self.command,
            "family": self.family,
            "transport": self.transport,
            "source": list(self.source) if self.source else None,
            "destination": list(self.destination) if self.destination else None,
            "tlvs": self.tlvs.as_dict(),
            "tlv_types": [f"0x{kind:02X}" for kind, _value in self.raw_tlvs],
            "crc32c_checked": self.crc32c_checked,
        }


class NeedMore(NamedTuple):
    """Not enough bytes yet: ``total`` is the header's full length when known (v2), else ``None`` (v1, or nothing
    received yet): read what arrives and parse again."""

    total: int | None


class Invalid(NamedTuple):
    """Not a valid PROXY protocol header: close the connection. ``reason`` says what was wrong."""

    reason: str


class Complete(NamedTuple):
    """A valid header of ``consumed`` bytes; the bytes after it are the connection's first request bytes."""

    header: ProxyHeader
    consumed: int


def _unix_path(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="surrogateescape")


_new_header = tuple.__new__  # building the named tuple from a tuple skips its keyword-handling __new__ (per connection)
_inet_ntop, _AF_INET, _AF_INET6 = socket.inet_ntop, socket.AF_INET, socket.AF_INET6


_Raw = tuple[int, int, int, int, int, int, bytes, int, bytes, int, tuple[tuple[int, bytes], ...], bool]


def header_from_raw(raw: tuple[object, ...]) -> ProxyHeader:
    """A :class:`ProxyHeader` from the parser's complete answer ``(2, consumed, version, ...)``."""
    _status, _consumed, version, command, family, transport, src, sport, dst, dport, tlvs, crc = cast(_Raw, raw)
    source = destination = unix_source = unix_destination = None
    if command == 1 and (family == 1 or family == 2):
        af = _AF_INET if family == 1 else _AF_INET6
        source, destination = (_inet_ntop(af, src), sport), (_inet_ntop(af, dst), dport)
    elif command == 1 and family == 3:
        unix_source, unix_destination = _unix_path(src), _unix_path(dst)
    command_name, family_name, transport_name = COMMANDS[command], FAMILIES[family], TRANSPORTS[transport]
    fields = (version, command_name, family_name, transport_name, source, destination, tlvs, bool(crc))
    return _new_header(ProxyHeader, (*fields, unix_source, unix_destination))


def parse(data: bytes | bytearray | memoryview, limit: int = V2_MAX) -> NeedMore | Invalid | Complete:
    """Parse the PROXY protocol header at the start of a connection's first bytes ``data``.

    ``limit`` caps a v2 header's total size (16..65551); a larger declared length is :class:`Invalid` before any of
    it is read. Never raises on input; ``limit`` out of range is a ``ValueError``.
    """
    raw = raw_parse(data, limit)
    status = raw[0]
    if status == 2:
        return Complete(header_from_raw(raw), raw[1])  # type: ignore[arg-type]
    if status == 0:
        return NeedMore(raw[1] or None)  # type: ignore[arg-type]
    return Invalid(raw[1])  # type: ignore[arg-type]
