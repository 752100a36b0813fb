"""Byte-level test vectors for the TOA parsers: every option format and every malformed shape, with the answer
spelled out by hand (never computed by a parser). Shared by the unit tests, the valgrind driver and the fuzz seeds.

``OPTION_VECTORS``: ``(name, options block, kinds table, expected parse_options answer)``.
``PACKET_VECTORS``: ``(name, IP packet, kinds table, expected parse_packet answer)``.
"""

from __future__ import annotations

import ipaddress
import struct

DEFAULT = bytes([254, 8, 254, 20, 253, 20, 200, 8, 201, 20])
ONLY_200 = bytes([200, 8])

V4 = ipaddress.ip_address("198.51.100.7").packed
V6 = ipaddress.ip_address("2001:db8::7").packed
SRC4, DST4 = ipaddress.ip_address("198.51.100.1").packed, ipaddress.ip_address("192.0.2.20").packed
SRC6, DST6 = ipaddress.ip_address("2001:db8:5::1").packed, ipaddress.ip_address("2001:db8:5::20").packed

NOP, EOL = b"\x01", b"\x00"
MSS = bytes([2, 4, 0x05, 0xB4])
SACK_OK = bytes([4, 2])
TS = bytes([8, 10]) + bytes(range(8))
WS = bytes([3, 3, 7])
TFO_EXP = bytes([254, 6, 0xF9, 0x89, 0xAB, 0xCD])  # RFC 6994 experimental TCP Fast Open, not a TOA


def toa(kind: int, port: int, address: bytes) -> bytes:
    """A TOA option: kind, length, port, address (network order)."""
    return bytes([kind, 4 + len(address)]) + struct.pack("!H", port) + address


OPT_254_V4 = toa(254, 8080, V4)

OPTION_VECTORS: list[tuple[str, bytes, bytes, tuple[int, bytes, int] | None]] = [
    ("254/8 alone", OPT_254_V4, DEFAULT, (254, V4, 8080)),
    ("254/20 IPv6 (dpvs)", toa(254, 443, V6), DEFAULT, (254, V6, 443)),
    ("253/20 IPv6 (Alibaba LVS)", toa(253, 1, V6), DEFAULT, (253, V6, 1)),
    ("200/8 IPv4 (Tencent, UCloud, JD)", toa(200, 65535, V4), DEFAULT, (200, V4, 65535)),
    ("201/20 IPv6 (JD)", toa(201, 0, V6), DEFAULT, (201, V6, 0)),
    ("after NOP padding", NOP + NOP + OPT_254_V4, DEFAULT, (254, V4, 8080)),
    ("after a SYN's options", MSS + SACK_OK + TS + NOP + WS + OPT_254_V4, DEFAULT, (254, V4, 8080)),
    ("after NOP NOP timestamps (an ACK)", NOP + NOP + TS + OPT_254_V4, DEFAULT, (254, V4, 8080)),
    ("before other options", OPT_254_V4 + NOP + NOP + TS, DEFAULT, (254, V4, 8080)),
    ("after TFO experimental 254/6", TFO_EXP + toa(200, 9, V4), DEFAULT, (200, V4, 9)),
    ("the first of two TOAs wins", toa(200, 1, V4) + toa(254, 2, V4), DEFAULT, (200, V4, 1)),
    ("253/8 is not honoured by default", toa(253, 80, V4), DEFAULT, None),
    ("201/8 is not honoured by default", toa(201, 80, V4), DEFAULT, None),
    ("200/20 is skipped, the next one found", toa(200, 80, V6) + toa(254, 81, V4), DEFAULT, (254, V4, 81)),
    ("custom table: 254 ignored, 200 found", OPT_254_V4 + toa(200, 7, V4), ONLY_200, (200, V4, 7)),
    ("custom table: nothing honoured", OPT_254_V4, ONLY_200, None),
    ("empty table honours nothing", OPT_254_V4, b"", None),
    ("empty block", b"", DEFAULT, None),
    ("only NOPs", NOP * 40, DEFAULT, None),
    ("EOL ends the block", NOP + EOL + OPT_254_V4, DEFAULT, None),
    ("length 0 stops the parse", bytes([5, 0]) + OPT_254_V4, DEFAULT, None),
    ("length 1 stops the parse", bytes([5, 1]) + OPT_254_V4, DEFAULT, None),
    ("TOA length 0", bytes([254, 0, 0, 80]) + V4, DEFAULT, None),
    ("TOA length 1", bytes([254, 1, 0, 80]) + V4, DEFAULT, None),
    ("kind without length at the end", NOP + NOP + bytes([254]), DEFAULT, None),
    ("TOA runs past the end", OPT_254_V4[:7], DEFAULT, None),
    ("TOA header only", OPT_254_V4[:2], DEFAULT, None),
    ("IPv6 TOA runs past the end", toa(253, 1, V6)[:19], DEFAULT, None),
    ("unknown option runs past the end", bytes([30, 255]) + OPT_254_V4, DEFAULT, None),
    ("unknown length-2 option then TOA", bytes([30, 2]) + OPT_254_V4, DEFAULT, (254, V4, 8080)),
    ("TOA at the very end of 40 bytes", NOP * 32 + OPT_254_V4, DEFAULT, (254, V4, 8080)),
    ("TOA one byte short at the end", NOP * 33 + OPT_254_V4[:7], DEFAULT, None),
    ("all 0xff", b"\xff" * 40, DEFAULT, None),
]


def tcp(options: bytes = b"", flags: int = 0x10, payload: bytes = b"", doff: int | None = None) -> bytes:
    """A TCP header 198.51.100.1:41000 -> :8000 with ``options`` (padded to 4 bytes unless ``doff`` is forced)."""
    if doff is None:
        options += NOP * (-len(options) % 4)
        doff = 5 + len(options) // 4
    return struct.pack("!HHIIBBHHH", 41000, 8000, 1, 2, doff << 4, flags, 64240, 0, 0) + options + payload


def ipv4(
    segment: bytes, *, ihl: int = 5, total: int | None = None, proto: int = 6, frag: int = 0x4000, trailer: bytes = b""
) -> bytes:
    """An IPv4 packet SRC4 -> DST4 (checksum left zero: the parsers do not check it)."""
    options = bytes(max(0, ihl - 5) * 4)
    length = 4 * ihl + len(segment) if total is None else total
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, 7, frag, 64, proto, 0, SRC4, DST4)
    return header + options + segment + trailer


def ipv6(
    segment: bytes, *, ext: list[tuple[int, bytes]] | None = None, payload: int | None = None, first: int | None = None
) -> bytes:
    """An IPv6 packet SRC6 -> DST6; ``ext`` is ``[(header type, header bytes without next-header)...]``."""
    chain = b""
    headers = ext or []
    for index, (_kind, body) in enumerate(headers):
        following = headers[index + 1][0] if index + 1 < len(headers) else 6
        chain += bytes([following]) + body
    nxt = first if first is not None else (headers[0][0] if headers else 6)
    length = len(chain) + len(segment) if payload is None else payload
    return struct.pack("!IHBB16s16s", 0x60000000, length, nxt, 64, SRC6, DST6) + chain + segment


HOP = (0, bytes([0]) + bytes(6))  # hop-by-hop, 8 bytes (length field 0)
DEST16 = (60, bytes([1]) + bytes(14))  # destination options, 16 bytes
FRAG_FIRST = (44, bytes([0, 0x00, 0x01]) + bytes(4))  # offset 0, more fragments
FRAG_LATER = (44, bytes([0, 0x00, 0xA8]) + bytes(4))  # offset 21 (x8 bytes)
AH = (51, bytes([1]) + bytes(10))  # (1 + 2) * 4 = 12 bytes

P4 = (4, SRC4, 41000, DST4, 8000)
P6 = (6, SRC6, 41000, DST6, 8000)
ACK_TOA = tcp(NOP + NOP + TS + OPT_254_V4)

PACKET_VECTORS: list[tuple[str, bytes, bytes, tuple[object, ...] | None]] = [
    ("IPv4 handshake ACK with 254/8", ipv4(ACK_TOA), DEFAULT, (*P4, 0x10, (254, V4, 8080))),
    (
        "IPv4 SYN with 254/8",
        ipv4(tcp(MSS + SACK_OK + TS + NOP + WS + OPT_254_V4, 0x02)),
        DEFAULT,
        (*P4, 0x02, (254, V4, 8080)),
    ),
    (
        "IPv4 data segment with 200/8",
        ipv4(tcp(toa(200, 5, V4), 0x18, b"GET / HTTP/1.1\r\n")),
        DEFAULT,
        (*P4, 0x18, (200, V4, 5)),
    ),
    ("IPv4 without options", ipv4(tcp()), DEFAULT, (*P4, 0x10, None)),
    ("IPv4 timestamps only", ipv4(tcp(NOP + NOP + TS)), DEFAULT, (*P4, 0x10, None)),
    ("IPv4 with IP options (ihl 6)", ipv4(ACK_TOA, ihl=6), DEFAULT, (*P4, 0x10, (254, V4, 8080))),
    (
        "IPv4 Ethernet padding after total length",
        ipv4(ACK_TOA, trailer=bytes(6)),
        DEFAULT,
        (*P4, 0x10, (254, V4, 8080)),
    ),
    ("IPv4 first fragment (MF set)", ipv4(ACK_TOA, frag=0x2000), DEFAULT, (*P4, 0x10, (254, V4, 8080))),
    ("IPv4 later fragment", ipv4(ACK_TOA, frag=0x2010), DEFAULT, None),
    ("IPv4 UDP", ipv4(ACK_TOA, proto=17), DEFAULT, None),
    ("IPv4 ihl 4", ipv4(ACK_TOA, ihl=4), DEFAULT, None),
    ("IPv4 ihl past the buffer", ipv4(b"", ihl=15, total=60)[:40], DEFAULT, None),
    ("IPv4 total length below ihl", ipv4(ACK_TOA, total=19), DEFAULT, None),
    ("IPv4 shorter than a header", ipv4(ACK_TOA)[:19], DEFAULT, None),
    ("IPv4 TCP header truncated by total length", ipv4(ACK_TOA, total=20 + 19), DEFAULT, None),
    ("IPv4 TCP header truncated by the buffer", ipv4(ACK_TOA)[:39], DEFAULT, None),
    ("IPv4 total length cuts the TOA", ipv4(ACK_TOA, total=20 + len(ACK_TOA) - 1), DEFAULT, (*P4, 0x10, None)),
    ("IPv4 buffer cuts the TOA", ipv4(ACK_TOA)[:-1], DEFAULT, (*P4, 0x10, None)),
    ("IPv4 data offset 4", ipv4(tcp(OPT_254_V4, doff=4)), DEFAULT, None),
    (
        "IPv4 data offset past the end, TOA complete",
        ipv4(tcp(OPT_254_V4, doff=15)),
        DEFAULT,
        (*P4, 0x10, (254, V4, 8080)),
    ),
    ("IPv4 data offset excludes the TOA", ipv4(tcp(OPT_254_V4, doff=6)), DEFAULT, (*P4, 0x10, None)),
    ("IPv4 TOA in the payload is not an option", ipv4(tcp(b"", 0x18, OPT_254_V4)), DEFAULT, (*P4, 0x18, None)),
    ("IPv6 ACK with 253/20", ipv6(tcp(NOP + NOP + TS + toa(253, 2, V6))), DEFAULT, (*P6, 0x10, (253, V6, 2))),
    ("IPv6 SYN with 254/20", ipv6(tcp(MSS + toa(254, 3, V6), 0x02)), DEFAULT, (*P6, 0x02, (254, V6, 3))),
    ("IPv6 with 201/20", ipv6(tcp(toa(201, 4, V6))), DEFAULT, (*P6, 0x10, (201, V6, 4))),
    (
        "IPv6 with hop-by-hop and destination options",
        ipv6(ACK_TOA, ext=[HOP, DEST16]),
        DEFAULT,
        (*P6, 0x10, (254, V4, 8080)),
    ),
    ("IPv6 first fragment", ipv6(ACK_TOA, ext=[FRAG_FIRST]), DEFAULT, (*P6, 0x10, (254, V4, 8080))),
    ("IPv6 later fragment", ipv6(ACK_TOA, ext=[FRAG_LATER]), DEFAULT, None),
    ("IPv6 with AH", ipv6(ACK_TOA, ext=[AH]), DEFAULT, (*P6, 0x10, (254, V4, 8080))),
    ("IPv6 with routing header", ipv6(ACK_TOA, ext=[(43, bytes(7))]), DEFAULT, (*P6, 0x10, (254, V4, 8080))),
    ("IPv6 with 8 extension headers", ipv6(ACK_TOA, ext=[HOP] * 8), DEFAULT, (*P6, 0x10, (254, V4, 8080))),
    ("IPv6 with 9 extension headers", ipv6(ACK_TOA, ext=[HOP] * 9), DEFAULT, None),
    ("IPv6 ESP", ipv6(ACK_TOA, first=50), DEFAULT, None),
    ("IPv6 no next header", ipv6(ACK_TOA, first=59), DEFAULT, None),
    ("IPv6 UDP", ipv6(ACK_TOA, first=17), DEFAULT, None),
    ("IPv6 extension header runs past the end", ipv6(b"", ext=[(60, bytes([200]) + bytes(6))]), DEFAULT, None),
    ("IPv6 extension header cut after next-header byte", ipv6(b"", ext=[HOP])[:41], DEFAULT, None),
    ("IPv6 fragment header cut", ipv6(b"", ext=[FRAG_FIRST])[:45], DEFAULT, None),
    ("IPv6 AH cut", ipv6(b"", ext=[AH])[:41], DEFAULT, None),
    (
        "IPv6 payload length 0 (jumbo): the buffer bounds it",
        ipv6(ACK_TOA, payload=0),
        DEFAULT,
        (*P6, 0x10, (254, V4, 8080)),
    ),
    ("IPv6 payload length cuts the TCP header", ipv6(ACK_TOA, payload=19), DEFAULT, None),
    ("IPv6 payload length cuts the TOA", ipv6(ACK_TOA, payload=len(ACK_TOA) - 1), DEFAULT, (*P6, 0x10, None)),
    ("IPv6 shorter than a header", ipv6(ACK_TOA)[:39], DEFAULT, None),
    ("IPv6 header only", ipv6(b""), DEFAULT, None),
    ("version 5", bytes([0x50]) + ipv4(ACK_TOA)[1:], DEFAULT, None),
    ("version 0", bytes(60), DEFAULT, None),
    ("one byte", b"\x45", DEFAULT, None),
    ("empty", b"", DEFAULT, None),
    ("custom table on a packet", ipv4(tcp(OPT_254_V4 + toa(200, 6, V4))), ONLY_200, (*P4, 0x10, (200, V4, 6))),
]

BAD_KINDS = [
    ("odd length", bytes([254])),
    ("length 6 entry", bytes([254, 6])),
    ("length 0 entry", bytes([200, 0])),
    ("too many pairs", bytes([200, 8]) * 257),
]


def _sum16(data: bytes) -> int:
    """RFC 1071 one's-complement sum, written here independently of the parsers."""
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def with_checksum(packet: bytes, delta: int = 0) -> bytes:
    """``packet`` (from :func:`ipv4` or :func:`ipv6` without extension headers) with its TCP checksum set right,
    plus ``delta`` (a non-zero delta makes it wrong)."""
    if packet[0] >> 4 == 4:
        ihl, total = (packet[0] & 0x0F) * 4, struct.unpack("!H", packet[2:4])[0]
        segment = packet[ihl:total]
        pseudo = packet[12:20] + struct.pack("!BBH", 0, 6, len(segment))
        tcp_at = ihl
    else:
        segment = packet[40:]
        pseudo = packet[8:40] + struct.pack("!IxxxB", len(segment), 6)
        tcp_at = 40
    zeroed = segment[:16] + b"\0\0" + segment[18:]
    value = (~_sum16(pseudo + zeroed) + delta) & 0xFFFF
    return packet[: tcp_at + 16] + struct.pack("!H", value) + packet[tcp_at + 18 :]


_DATA = tcp(NOP + NOP + TS + OPT_254_V4, 0x18, b"GET / HTTP/1.1\r\n\r\n!")  # odd payload length

#: ``(name, packet, checksum verdict)``: 1 right, 0 wrong, -1 cannot be checked.
CHECKSUM_VECTORS: list[tuple[str, bytes, int]] = [
    ("IPv4 ACK, right", with_checksum(ipv4(ACK_TOA)), 1),
    ("IPv4 ACK, wrong by one", with_checksum(ipv4(ACK_TOA), 1), 0),
    ("IPv4 data of odd length, right", with_checksum(ipv4(_DATA)), 1),
    ("IPv4 data of odd length, wrong", with_checksum(ipv4(_DATA), 0x100), 0),
    ("IPv4 with Ethernet padding, right", with_checksum(ipv4(ACK_TOA)) + bytes(6), 1),
    ("IPv4 cut by the capture", with_checksum(ipv4(_DATA))[:-3], -1),
    ("IPv4 zero checksum field", ipv4(ACK_TOA), 0),
    ("IPv6 ACK, right", with_checksum(ipv6(ACK_TOA)), 1),
    ("IPv6 data, wrong", with_checksum(ipv6(_DATA), 7), 0),
    ("IPv6 cut by the capture", with_checksum(ipv6(_DATA))[:-1], -1),
    ("IPv6 jumbogram (payload length 0)", ipv6(ACK_TOA, payload=0), -1),
    ("IPv6 routing header", ipv6(ACK_TOA, ext=[(43, bytes(7))]), -1),
]
