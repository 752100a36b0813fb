"""Parse one address entry, from a header or the socket peer, into canonical form.

This is the single choke point for untrusted address text: it accepts only the strict forms realip documents,
returns ``None`` for anything else and never raises. Parsing leans on the C ``inet_pton``, which rejects
leading-zero octets and short IPv4 forms (``127.1``), so the common path stays in C.
"""

from __future__ import annotations

from ipaddress import IPv6Address
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import NamedTuple

__all__ = ["Address", "parse_address", "parse_port"]

_MAPPED = 0xFFFF  # value >> 32 of an IPv4-mapped IPv6 address (::ffff:a.b.c.d)
_ZONE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
_MAX_ZONE = 64  # a zone id is an interface name or index; longer ones are junk (or a log-flooding attempt)


class Address(NamedTuple):
    """A parsed address: canonical text, optional port, family and integer value (for trust tests)."""

    ip: str
    port: int | None
    v6: bool
    value: int


# Building the tuple directly skips NamedTuple's Python-level __new__: this runs for every entry of every request.
_new = tuple.__new__


def parse_port(text: str) -> int | None:
    """A port is 1 to 5 ASCII digits, at most 65535; anything else is ``None``."""
    if 0 < len(text) <= 5 and text.isascii() and text.isdigit():
        port = int(text)
        if port <= 65535:
            return port
    return None


def _ipv4(host: str, port: int | None) -> Address | None:
    try:
        packed = inet_pton(AF_INET, host)
    except (OSError, ValueError):  # ValueError: embedded NUL or text that will not encode
        return None
    # inet_pton accepts only the dotted quad without leading zeros, so the input is already canonical.
    return _new(Address, (host, port, False, int.from_bytes(packed, "big")))


def _ipv6(host: str, port: int | None) -> Address | None:
    zone_at = host.find("%")
    if zone_at >= 0:
        zone = host[zone_at + 1 :]
        if not 0 < len(zone) <= _MAX_ZONE or not _ZONE_CHARS.issuperset(zone):
            return None
        host = host[:zone_at]  # the zone names a local interface: meaningless for trust, dropped
    try:
        packed = inet_pton(AF_INET6, host)
    except (OSError, ValueError):
        return None
    value = int.from_bytes(packed, "big")
    if value >> 32 == _MAPPED:
        # Security: an IPv4-mapped address is the IPv4 client seen through a dual-stack socket. Reporting and
        # matching it as IPv4 keeps one client from having two identities (and two rate-limit keys).
        return _new(Address, (inet_ntop(AF_INET, packed[12:]), port, False, value & 0xFFFFFFFF))
    text = inet_ntop(AF_INET6, packed)
    if "." in text:  # some libcs print ::a.b.c.d forms; RFC 5952 wants hex here
        text = IPv6Address(packed).compressed
    return _new(Address, (text, port, True, value))


def parse_address(text: str) -> Address | None:
    """Parse ``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``, ``[2001:db8::1]:443`` and friends; ``None`` if invalid.

    Spaces and tabs around the entry and one pair of surrounding double quotes are removed; zone ids are dropped;
    IPv4-mapped IPv6 addresses come back as IPv4.
    """
    text = text.strip(" \t")
    if ":" not in text and '"' not in text:  # plain IPv4, the common case: inlined
        try:
            packed = inet_pton(AF_INET, text)
        except (OSError, ValueError):
            return None
        return _new(Address, (text, None, False, int.from_bytes(packed, "big")))
    if len(text) > 1 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    if not text:
        return None
    if text[0] == "[":
        close = text.find("]")
        if close < 0:
            return None
        rest = text[close + 1 :]
        if not rest:
            return _ipv6(text[1:close], None)
        if rest[0] != ":":
            return None
        port = parse_port(rest[1:])
        return None if port is None else _ipv6(text[1:close], port)
    if ":" not in text:
        return _ipv4(text, None)
    if text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = parse_port(port_text)
        return None if port is None else _ipv4(host, port)
    return _ipv6(text, None)
