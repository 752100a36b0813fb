"""Pure-Python TOA parser: the same functions and the same answers as the C extension ``_toa``.

Bytes in, tuples out, no policy. Every read is bounds-checked against the buffer (and the lengths the headers
claim); anything malformed or truncated ends the parse quietly with what was safely found (or ``None``).

``kinds`` is a table of honoured ``(kind, length)`` pairs packed as bytes: ``bytes([254, 8, 253, 20])``. A length of
8 means ``port(2) IPv4(4)``, 20 means ``port(2) IPv6(16)``; any other length is a ``ValueError``.
"""

from __future__ import annotations

import functools

__all__ = ["MAX_EXT_HEADERS", "parse_options", "parse_packet"]

#: At most this many IPv6 extension headers are walked before giving up on a packet (bounded work per packet).
MAX_EXT_HEADERS = 8

_EOL, _NOP = 0, 1
_TCP = 6
_V6_SKIPPABLE = {0: 8, 43: 8, 60: 8}  # hop-by-hop, routing, destination options: (len + 1) * 8 bytes
_V6_FRAGMENT, _V6_AH = 44, 51

_BAD_KINDS = "kinds must be (kind, length) byte pairs, at most 256, each length 8 (IPv4) or 20 (IPv6)"

Toa = tuple[int, bytes, int]
Packet = tuple[int, bytes, int, bytes, int, int, Toa | None, int, int, int]


@functools.lru_cache(maxsize=64)
def _table(kinds: bytes) -> frozenset[tuple[int, int]]:
    """Check and unpack the packed ``(kind, length)`` table."""
    pairs = frozenset((kinds[i], kinds[i + 1]) for i in range(0, len(kinds) - 1, 2))
    if len(kinds) % 2 or len(kinds) > 512 or any(length not in (8, 20) for _kind, length in pairs):
        raise ValueError(_BAD_KINDS)
    return pairs


def _scan(data: bytes | bytearray | memoryview, start: int, end: int, table: frozenset[tuple[int, int]]) -> Toa | None:
    """The first honoured TOA option in ``data[start:end]`` as ``(kind, packed address, port)``, else ``None``."""
    i = start
    while i < end:
        kind = data[i]
        if kind == _EOL:
            return None
        if kind == _NOP:
            i += 1
            continue
        if i + 1 >= end:
            return None  # a kind byte without its length byte
        length = data[i + 1]
        if length < 2 or i + length > end:
            return None  # malformed (would loop or stall) or runs past the header
        if (kind, length) in table:
            port = (data[i + 2] << 8) | data[i + 3]
            return kind, bytes(data[i + 4 : i + length]), port
        i += length
    return None


def parse_options(options: bytes | bytearray | memoryview, kinds: bytes) -> Toa | None:
    """Find the first honoured TOA in a TCP options block (the bytes after the 20-byte TCP header)."""
    table = _table(bytes(kinds))
    data = memoryview(options).cast("B")
    return _scan(data, 0, len(data), table)


def _checksum(data: memoryview, version: int, tcp: int, end: int, routed: bool) -> int:
    """The TCP checksum verdict of ``data[tcp:end]`` (``end``: the length the IP header declares): 1 right, 0 wrong,
    -1 when it cannot be checked (the buffer holds less than the declared segment, a jumbogram, a routing header)."""
    n = len(data)
    if end == 0 or end > n or routed or end < tcp:
        return -1
    length = end - tcp
    if version == 4:
        pseudo = bytes(data[12:20]) + bytes((0, 6)) + length.to_bytes(2, "big")
    else:
        pseudo = bytes(data[8:40]) + length.to_bytes(4, "big") + bytes((0, 0, 0, 6))
    blob = pseudo + bytes(data[tcp:end])
    if len(blob) % 2:
        blob += b"\0"
    total = sum(int.from_bytes(blob[i : i + 2], "big") for i in range(0, len(blob), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return 1 if total == 0xFFFF else 0


def parse_packet(packet: bytes | bytearray | memoryview, kinds: bytes) -> Packet | None:
    """Parse an IPv4/IPv6 packet (IP header first) carrying TCP.

    Returns ``(ip_version, src, sport, dst, dport, tcp_flags, toa, seq, ack, checksum)`` with packed addresses,
    ``toa`` as from :func:`parse_options` (or ``None``), the sequence and acknowledgment numbers, and the checksum
    verdict (1 right, 0 wrong, -1 cannot be checked); or ``None`` when the bytes are not a complete enough
    first-fragment TCP segment to name its connection.
    """
    table = _table(bytes(kinds))
    data = memoryview(packet).cast("B")
    n = len(data)
    if n < 1:
        return None
    version = data[0] >> 4
    if version == 4:
        if n < 20:
            return None
        ihl = (data[0] & 0x0F) * 4
        total = (data[2] << 8) | data[3]
        if ihl < 20 or total < ihl or n < ihl:
            return None
        if data[9] != _TCP or ((data[6] & 0x1F) << 8 | data[7]) != 0:
            return None  # not TCP, or not the first fragment
        end = min(n, total)
        declared = total
        routed = False
        src, dst = bytes(data[12:16]), bytes(data[16:20])
        tcp = ihl
    elif version == 6:
        if n < 40:
            return None
        payload = (data[4] << 8) | data[5]
        end = min(n, 40 + payload) if payload else n
        declared = 40 + payload if payload else 0
        routed = False
        src, dst = bytes(data[8:24]), bytes(data[24:40])
        nxt = data[6]
        tcp = 40
        for _ in range(MAX_EXT_HEADERS + 1):
            if nxt == _TCP:
                break
            if nxt in _V6_SKIPPABLE:
                if tcp + 2 > end:
                    return None
                routed = routed or nxt == 43
                nxt, tcp = data[tcp], tcp + (data[tcp + 1] + 1) * 8
            elif nxt == _V6_FRAGMENT:
                if tcp + 8 > end:
                    return None
                if ((data[tcp + 2] << 8) | data[tcp + 3]) >> 3:
                    return None  # not the first fragment
                nxt, tcp = data[tcp], tcp + 8
            elif nxt == _V6_AH:
                if tcp + 2 > end:
                    return None
                nxt, tcp = data[tcp], tcp + (data[tcp + 1] + 2) * 4
            else:
                return None  # ESP, no-next-header, or anything we cannot walk
        else:
            return None  # too many extension headers
    else:
        return None
    if tcp + 20 > end:
        return None
    sport = (data[tcp] << 8) | data[tcp + 1]
    dport = (data[tcp + 2] << 8) | data[tcp + 3]
    flags = data[tcp + 13]
    seq = int.from_bytes(data[tcp + 4 : tcp + 8], "big")
    ack = int.from_bytes(data[tcp + 8 : tcp + 12], "big")
    doff = (data[tcp + 12] >> 4) * 4
    if doff < 20:
        return None
    toa = _scan(data, tcp + 20, min(end, tcp + doff), table)
    return version, src, sport, dst, dport, flags, toa, seq, ack, _checksum(data, version, tcp, declared, routed)
