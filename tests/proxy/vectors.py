"""Byte vectors for the PROXY protocol parsers: every header form and every malformed shape, each with its answer
spelled out by hand (never computed by a parser). Shared by the unit tests, the valgrind driver and the fuzz seeds.

``VECTORS``: ``(name, bytes, expected answer)``; answers are the parsers' raw tuples: ``(0, total)`` need more,
``(1, reason)`` invalid, ``(2, consumed, version, command, family, transport, src, sport, dst, dport, tlvs, crc)``.
"""

from __future__ import annotations

import ipaddress
import struct

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
SRC4, DST4 = ipaddress.ip_address("192.0.2.10").packed, ipaddress.ip_address("198.51.100.20").packed
SRC6, DST6 = ipaddress.ip_address("2001:db8::10").packed, ipaddress.ip_address("2001:db8::20").packed
REQUEST = b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n"


def crc32c_bitwise(data: bytes) -> int:
    """CRC32c computed bit by bit (an implementation independent of the parsers' table-driven ones)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 * (crc & 1))
    return crc ^ 0xFFFFFFFF


def tlv(kind: int, value: bytes, length: int | None = None) -> bytes:
    """One TLV; ``length`` forces a (wrong) length field."""
    return struct.pack("!BH", kind, len(value) if length is None else length) + value


def inet4(sport: int = 56324, dport: int = 443) -> bytes:
    return SRC4 + DST4 + struct.pack("!HH", sport, dport)


def inet6(sport: int = 56324, dport: int = 443) -> bytes:
    return SRC6 + DST6 + struct.pack("!HH", sport, dport)


def v2(body: bytes, *, command: int = 0x21, family: int = 0x11, length: int | None = None, crc: bool = False) -> bytes:
    """A v2 header around ``body`` (address block + TLVs); ``crc`` appends a correct CRC32c TLV."""
    if crc:
        body += tlv(0x03, bytes(4))
    size = len(body) if length is None else length
    header = SIG + bytes([command, family]) + struct.pack("!H", size) + body
    if crc:
        value = crc32c_bitwise(header)
        header = header[:-4] + struct.pack("!I", value)
    return header


def done(
    consumed: int,
    version: int,
    command: int,
    family: int,
    transport: int,
    src: bytes = b"",
    sport: int = 0,
    dst: bytes = b"",
    dport: int = 0,
    tlvs: tuple[tuple[int, bytes], ...] = (),
    crc: bool = False,
) -> tuple[object, ...]:
    return (2, consumed, version, command, family, transport, src, sport, dst, dport, tlvs, crc)


def invalid(reason: str) -> tuple[object, ...]:
    return (1, reason)


V1_TCP4 = b"PROXY TCP4 192.0.2.10 198.51.100.20 56324 443\r\n"
V1_TCP6 = b"PROXY TCP6 2001:db8::10 2001:db8::20 56324 443\r\n"
V1_LONGEST_TCP6 = (
    b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
)
#: The specification's worst case: 107 bytes.
V1_LONGEST = V1_LONGEST_TCP6.replace(b"TCP6", b"UNKNOWN")
V1_4 = done(len(V1_TCP4), 1, 1, 1, 1, SRC4, 56324, DST4, 443)
V1_6 = done(len(V1_TCP6), 1, 1, 2, 1, SRC6, 56324, DST6, 443)
ALL_ONES = b"\xff" * 16

V2_TCP4 = v2(inet4())
V2_TCP6 = v2(inet6(), family=0x21)
AWS = tlv(0xEA, b"\x01vpce-08d2bf15fac5001c9")
AZURE = tlv(0xEE, b"\x01" + struct.pack("<I", 0x12345678))
GCP = tlv(0xE0, struct.pack("!Q", 0x0102030405060708))
ALIBABA = tlv(0xE1, b"\x01vpc-abc") + tlv(0xE1, b"\x02ep-def") + tlv(0xE1, b"\x03epsrv-ghi")
SSL_SUBS = tlv(0x21, b"TLSv1.3") + tlv(0x22, b"client.example") + tlv(0x23, b"TLS_AES_128_GCM_SHA256")
SSL = tlv(0x20, b"\x07" + struct.pack("!I", 0) + SSL_SUBS)
STANDARD = (
    tlv(0x01, b"h2") + tlv(0x02, b"example.com") + tlv(0x05, b"u" * 128) + SSL + tlv(0x30, b"blue") + tlv(0x04, b"")
)
WITH_TLVS = v2(inet4() + STANDARD + AWS + AZURE + GCP + ALIBABA)
WITH_CRC = v2(inet4() + AWS, crc=True)
UNIX_SRC, UNIX_DST = b"/run/lb.sock".ljust(108, b"\0"), b"/run/app.sock".ljust(108, b"\0")


def tlv_pairs(blob: bytes) -> tuple[tuple[int, bytes], ...]:
    """The (type, value) pairs of a well-formed TLV blob, read by hand for the expected answers."""
    out, pos = [], 0
    while pos < len(blob):
        length = struct.unpack("!H", blob[pos + 1 : pos + 3])[0]
        out.append((blob[pos], blob[pos + 3 : pos + 3 + length]))
        pos += 3 + length
    return tuple(out)


def with_crc_answer() -> tuple[object, ...]:
    return done(len(WITH_CRC), 2, 1, 1, 1, SRC4, 56324, DST4, 443, ((0xEA, AWS[3:]), (0x03, WITH_CRC[-4:])), True)


VECTORS: list[tuple[str, bytes, tuple[object, ...]]] = [
    # -- v1 ----------------------------------------------------------------------------------------------------
    ("v1 TCP4", V1_TCP4, V1_4),
    ("v1 TCP4 then the request in the same read", V1_TCP4 + REQUEST, V1_4),
    ("v1 TCP6", V1_TCP6, V1_6),
    ("v1 longest TCP6 line", V1_LONGEST_TCP6, done(104, 1, 1, 2, 1, ALL_ONES, 65535, ALL_ONES, 65535)),
    ("v1 longest valid line (107 bytes)", V1_LONGEST, done(107, 1, 1, 0, 0)),
    ("v1 ports 0", b"PROXY TCP4 192.0.2.10 198.51.100.20 0 0\r\n", done(41, 1, 1, 1, 1, SRC4, 0, DST4, 0)),
    (
        "v1 IPv4-mapped in TCP6",
        b"PROXY TCP6 ::ffff:192.0.2.10 ::1 1 2\r\n",
        done(38, 1, 1, 2, 1, bytes(10) + b"\xff\xff" + SRC4, 1, bytes(15) + b"\x01", 2),
    ),
    ("v1 UNKNOWN alone", b"PROXY UNKNOWN\r\n", done(15, 1, 1, 0, 0)),
    ("v1 UNKNOWN with ignored fields", b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", done(35, 1, 1, 0, 0)),
    ("v1 empty", b"", (0, 0)),
    ("v1 'P' only", b"P", (0, 0)),
    ("v1 signature only", b"PROXY ", (0, 0)),
    ("v1 without CRLF yet", V1_TCP4[:-2], (0, 0)),
    ("v1 CR without LF yet", V1_TCP4[:-1], (0, 0)),
    ("v1 106 bytes, no CRLF yet", b"PROXY UNKNOWN " + b"x" * 92, (0, 0)),
    ("v1 no CRLF within 107 bytes", b"PROXY UNKNOWN " + b"x" * 93, invalid("v1: no CRLF within 107 bytes")),
    ("v1 CR as byte 107", b"PROXY UNKNOWN " + b"x" * 92 + b"\r\n", invalid("v1: no CRLF within 107 bytes")),
    ("v1 line too long (108 with CRLF)", V1_LONGEST[:-2] + b"5\r\n", invalid("v1: no CRLF within 107 bytes")),
    ("v1 CR then not LF", b"PROXY TCP4\rX", invalid("v1: CR not followed by LF")),
    ("v1 bare LF", b"PROXY TCP4 1.2.3.4\n", invalid("v1: byte not allowed in the header line")),
    ("v1 NUL in the line", b"PROXY TCP4 1.2.3.4\0 ", invalid("v1: byte not allowed in the header line")),
    ("v1 high byte in the line", b"PROXY UNKNOWN \xff\r\n", invalid("v1: byte not allowed in the header line")),
    ("v1 lowercase signature", b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", invalid("not a PROXY protocol header")),
    (
        "v1 two spaces after PROXY",
        b"PROXY  TCP4 192.0.2.10 198.51.100.20 1 2\r\n",
        invalid("v1: unknown protocol (expected TCP4, TCP6 or UNKNOWN)"),
    ),
    (
        "v1 UDP4",
        b"PROXY UDP4 192.0.2.10 198.51.100.20 1 2\r\n",
        invalid("v1: unknown protocol (expected TCP4, TCP6 or UNKNOWN)"),
    ),
    ("v1 UNKNOWNX", b"PROXY UNKNOWNX\r\n", invalid("v1: unknown protocol (expected TCP4, TCP6 or UNKNOWN)")),
    ("v1 TCP4 without fields", b"PROXY TCP4\r\n", invalid("v1: unknown protocol (expected TCP4, TCP6 or UNKNOWN)")),
    (
        "v1 three fields",
        b"PROXY TCP4 192.0.2.10 198.51.100.20 1\r\n",
        invalid("v1: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT, single spaces"),
    ),
    (
        "v1 five fields",
        b"PROXY TCP4 192.0.2.10 198.51.100.20 1 2 3\r\n",
        invalid("v1: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT, single spaces"),
    ),
    (
        "v1 double space between fields",
        b"PROXY TCP4 192.0.2.10  198.51.100.20 1 2\r\n",
        invalid("v1: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT, single spaces"),
    ),
    (
        "v1 trailing space",
        b"PROXY TCP4 192.0.2.10 198.51.100.20 1 2 \r\n",
        invalid("v1: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT, single spaces"),
    ),
    ("v1 IPv6 address in TCP4", b"PROXY TCP4 2001:db8::1 198.51.100.20 1 2\r\n", invalid("v1: bad source address")),
    ("v1 IPv4 address in TCP6", b"PROXY TCP6 192.0.2.10 2001:db8::1 1 2\r\n", invalid("v1: bad source address")),
    ("v1 octet 256", b"PROXY TCP4 192.0.2.256 198.51.100.20 1 2\r\n", invalid("v1: bad source address")),
    ("v1 leading zero octet", b"PROXY TCP4 192.0.2.010 198.51.100.20 1 2\r\n", invalid("v1: bad source address")),
    ("v1 three octets", b"PROXY TCP4 192.0.2 198.51.100.20 1 2\r\n", invalid("v1: bad source address")),
    ("v1 hostname", b"PROXY TCP4 localhost 198.51.100.20 1 2\r\n", invalid("v1: bad source address")),
    ("v1 IPv6 zone", b"PROXY TCP6 fe80::1%eth0 2001:db8::1 1 2\r\n", invalid("v1: bad source address")),
    ("v1 IPv6 two ::", b"PROXY TCP6 2001::db8::1 2001:db8::1 1 2\r\n", invalid("v1: bad source address")),
    ("v1 bad destination", b"PROXY TCP4 192.0.2.10 198.51.100 1 2\r\n", invalid("v1: bad destination address")),
    ("v1 port 65536", b"PROXY TCP4 192.0.2.10 198.51.100.20 65536 2\r\n", invalid("v1: bad source port")),
    ("v1 port with leading zero", b"PROXY TCP4 192.0.2.10 198.51.100.20 080 2\r\n", invalid("v1: bad source port")),
    ("v1 negative port", b"PROXY TCP4 192.0.2.10 198.51.100.20 -1 2\r\n", invalid("v1: bad source port")),
    ("v1 six-digit port", b"PROXY TCP4 192.0.2.10 198.51.100.20 000001 2\r\n", invalid("v1: bad source port")),
    ("v1 port in hex", b"PROXY TCP4 192.0.2.10 198.51.100.20 0x50 2\r\n", invalid("v1: bad source port")),
    (
        "v1 bad destination port",
        b"PROXY TCP4 192.0.2.10 198.51.100.20 1 99999\r\n",
        invalid("v1: bad destination port"),
    ),
    # -- v2 ----------------------------------------------------------------------------------------------------
    ("v2 TCP over IPv4", V2_TCP4, done(28, 2, 1, 1, 1, SRC4, 56324, DST4, 443)),
    ("v2 TCP over IPv4, request in the same read", V2_TCP4 + REQUEST, done(28, 2, 1, 1, 1, SRC4, 56324, DST4, 443)),
    ("v2 TCP over IPv6", V2_TCP6, done(52, 2, 1, 2, 1, SRC6, 56324, DST6, 443)),
    ("v2 UDP over IPv4", v2(inet4(), family=0x12), done(28, 2, 1, 1, 2, SRC4, 56324, DST4, 443)),
    ("v2 UDP over IPv6", v2(inet6(), family=0x22), done(52, 2, 1, 2, 2, SRC6, 56324, DST6, 443)),
    ("v2 UNIX stream", v2(UNIX_SRC + UNIX_DST, family=0x31), done(232, 2, 1, 3, 1, UNIX_SRC, 0, UNIX_DST, 0)),
    ("v2 UNIX datagram", v2(UNIX_SRC + UNIX_DST, family=0x32), done(232, 2, 1, 3, 2, UNIX_SRC, 0, UNIX_DST, 0)),
    ("v2 PROXY UNSPEC", v2(b"", family=0x00), done(16, 2, 1, 0, 0)),
    ("v2 PROXY UNSPEC with a TLV", v2(tlv(0x04, b"pad"), family=0x00), done(22, 2, 1, 0, 0, tlvs=((4, b"pad"),))),
    ("v2 LOCAL (health check)", v2(b"", command=0x20, family=0x00), done(16, 2, 0, 0, 0)),
    ("v2 LOCAL with an address block, skipped", v2(inet4(), command=0x20), done(28, 2, 0, 0, 0)),
    ("v2 LOCAL with a bad family byte, ignored", v2(b"", command=0x20, family=0x99), done(16, 2, 0, 0, 0)),
    ("v2 LOCAL with a broken TLV, skipped unread", v2(inet4() + b"\xea\xff\xff", command=0x20), done(31, 2, 0, 0, 0)),
    ("v2 address block padded (longer length)", v2(inet4() + bytes(4), length=16), (1, "v2: TLV runs past the header")),
    (
        "v2 every standard and vendor TLV",
        WITH_TLVS,
        done(len(WITH_TLVS), 2, 1, 1, 1, SRC4, 56324, DST4, 443, tlv_pairs(STANDARD + AWS + AZURE + GCP + ALIBABA)),
    ),
    (
        "v2 TLVs then the request in one read (HAProxy's TLV bug shape)",
        WITH_TLVS + REQUEST,
        done(len(WITH_TLVS), 2, 1, 1, 1, SRC4, 56324, DST4, 443, tlv_pairs(STANDARD + AWS + AZURE + GCP + ALIBABA)),
    ),
    ("v2 CRC32c verified", WITH_CRC, with_crc_answer()),
    ("v2 CRC32c verified, request follows", WITH_CRC + REQUEST, with_crc_answer()),
    ("v2 CRC32c mismatch", WITH_CRC[:-1] + bytes([WITH_CRC[-1] ^ 1]), invalid("v2: CRC32c mismatch")),
    ("v2 CRC32c over a changed address", WITH_CRC[:16] + b"\x01" + WITH_CRC[17:], invalid("v2: CRC32c mismatch")),
    ("v2 CRC32c TLV of 3 bytes", v2(inet4() + tlv(0x03, b"abc")), invalid("v2: CRC32c TLV is not 4 bytes")),
    (
        "v2 two CRC32c TLVs",
        v2(inet4() + tlv(0x03, bytes(4)) + tlv(0x03, bytes(4))),
        invalid("v2: more than one CRC32c TLV"),
    ),
    ("v2 UNIQUE_ID of 129 bytes", v2(inet4() + tlv(0x05, b"u" * 129)), invalid("v2: UNIQUE_ID longer than 128 bytes")),
    ("v2 empty TLV value", v2(inet4() + tlv(0xEA, b"")), done(31, 2, 1, 1, 1, SRC4, 56324, DST4, 443, ((0xEA, b""),))),
    (
        "v2 TLV length past the end (CVE shape)",
        v2(inet4() + tlv(0xEA, b"\x01vpce", length=200)),
        invalid("v2: TLV runs past the header"),
    ),
    (
        "v2 TLV length past the end, request bytes after it",
        v2(inet4() + tlv(0xEA, b"\x01vpce", length=40)) + REQUEST,
        invalid("v2: TLV runs past the header"),
    ),
    ("v2 TLV header cut (2 bytes left)", v2(inet4() + b"\xea\x00"), invalid("v2: TLV runs past the header")),
    ("v2 TLV header cut (1 byte left)", v2(inet4() + b"\xea"), invalid("v2: TLV runs past the header")),
    (
        "v2 SSL TLV of 4 bytes",
        v2(inet4() + tlv(0x20, b"\x01\x00\x00\x00")),
        invalid("v2: SSL TLV shorter than 5 bytes"),
    ),
    (
        "v2 SSL sub-TLV past its TLV",
        v2(inet4() + tlv(0x20, b"\x01" + bytes(4) + tlv(0x21, b"TLSv1.3", length=9))),
        invalid("v2: SSL sub-TLV runs past its TLV"),
    ),
    (
        "v2 SSL sub-TLV header cut",
        v2(inet4() + tlv(0x20, b"\x01" + bytes(4) + b"\x21\x00")),
        invalid("v2: SSL sub-TLV runs past its TLV"),
    ),
    (
        "v2 SSL with no sub-TLV",
        v2(inet4() + tlv(0x20, b"\x01" + bytes(4))),
        done(36, 2, 1, 1, 1, SRC4, 56324, DST4, 443, ((0x20, b"\x01" + bytes(4)),)),
    ),
    (
        "v2 length shorter than the IPv4 block",
        v2(inet4()[:11], length=11),
        invalid("v2: length shorter than the address block"),
    ),
    (
        "v2 length shorter than the IPv6 block",
        v2(inet6(), family=0x21, length=35),
        invalid("v2: length shorter than the address block"),
    ),
    (
        "v2 length shorter than the UNIX block",
        v2(UNIX_SRC, family=0x31),
        invalid("v2: length shorter than the address block"),
    ),
    ("v2 version 1 nibble", SIG + b"\x11\x11\x00\x0c" + inet4(), invalid("v2: version is not 2")),
    ("v2 version 3 nibble", SIG + b"\x31\x11\x00\x0c" + inet4(), invalid("v2: version is not 2")),
    ("v2 command 2", SIG + b"\x22\x11\x00\x0c" + inet4(), invalid("v2: unknown command")),
    ("v2 command F", SIG + b"\x2f", invalid("v2: unknown command")),
    ("v2 family 4", v2(inet4(), family=0x41), invalid("v2: unknown address family or transport")),
    ("v2 transport 3", v2(inet4(), family=0x13), invalid("v2: unknown address family or transport")),
    ("v2 INET with UNSPEC transport", v2(inet4(), family=0x10), invalid("v2: unknown address family or transport")),
    ("v2 family byte alone is checked early", SIG + b"\x21\x41", invalid("v2: unknown address family or transport")),
    ("v2 signature prefix", SIG[:5], (0, 16)),
    ("v2 signature only", SIG, (0, 16)),
    ("v2 fixed header cut", V2_TCP4[:15], (0, 16)),
    ("v2 fixed header, block missing", V2_TCP4[:16], (0, 28)),
    ("v2 one byte short", V2_TCP4[:-1], (0, 28)),
    ("v2 LOCAL one byte short", v2(b"xyz", command=0x20)[:-1], (0, 19)),
    ("v2 declared 65535 bytes, 100 received", (SIG + b"\x21\x11\xff\xff" + inet4() + bytes(100)), (0, 65551)),
    ("v2 broken signature", SIG[:11] + b"\x0b" + b"\x21\x11\x00\x0c" + inet4(), invalid("not a PROXY protocol header")),
    ("v2 signature byte 5 wrong", SIG[:4] + b"\x01", invalid("not a PROXY protocol header")),
    # -- neither -----------------------------------------------------------------------------------------------
    ("plain HTTP", REQUEST, invalid("not a PROXY protocol header")),
    ("TLS ClientHello", b"\x16\x03\x01\x02\x00\x01", invalid("not a PROXY protocol header")),
    ("CRLF then HTTP", b"\r\nGET / HTTP/1.1\r\n", invalid("not a PROXY protocol header")),
]

#: v2 headers over a small ``limit`` (the listener's cap): (name, bytes, limit, answer).
LIMIT_VECTORS: list[tuple[str, bytes, int, tuple[object, ...]]] = [
    ("at the limit", V2_TCP4, 28, done(28, 2, 1, 1, 1, SRC4, 56324, DST4, 443)),
    (
        "one over the limit, refused before the block arrives",
        V2_TCP4[:16],
        27,
        invalid("v2: header longer than the limit"),
    ),
    ("LOCAL over the limit", v2(bytes(100), command=0x20)[:16], 64, invalid("v2: header longer than the limit")),
    (
        "largest declared length under the smallest limit",
        SIG + b"\x21\x11\xff\xff",
        16,
        invalid("v2: header longer than the limit"),
    ),
    ("v1 is not affected by the v2 limit", V1_TCP4, 16, V1_4),
]
