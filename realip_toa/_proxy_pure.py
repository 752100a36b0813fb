"""Pure-Python PROXY protocol parser: the same function, the same answers and the same reason texts as ``_proxy.c``.

Bytes in, tuples out, no policy. :func:`parse` is handed the bytes a connection has received so far and answers:

* ``(0, total)``: more bytes are needed; ``total`` is the header's full length when known (a v2 header after its
  16-byte fixed part; 16 before it), else 0 (a v1 line whose CRLF has not arrived).
* ``(1, reason)``: not a valid header; close the connection.
* ``(2, consumed, version, command, family, transport, src, sport, dst, dport, tlvs, crc_checked)``: a complete
  header of ``consumed`` bytes (what follows is the first request). ``command`` is 0 (LOCAL) or 1 (PROXY);
  ``family`` 0 (UNSPEC), 1 (INET), 2 (INET6) or 3 (UNIX); ``transport`` 0 (UNSPEC), 1 (STREAM) or 2 (DGRAM);
  ``src``/``dst`` are packed addresses (4 or 16 bytes), the two 108-byte UNIX paths, or ``b""``; ``tlvs`` is
  ``((type, value), ...)`` in header order; ``crc_checked`` says a CRC32c TLV was present and matched.

Every length is checked against the bytes received and the lengths the header claims (the HAProxy TLV-length and
mod_remoteip CVE-2019-10097 classes of bug): the v1 line is at most 107 bytes with CRLF; a v2 header is at most
``limit`` bytes; every TLV and SSL sub-TLV ends inside the header; UNIQUE_ID is at most 128 bytes; CRC32c is
verified. LOCAL headers are skipped unread, as the specification says.
"""

from __future__ import annotations

import socket

__all__ = ["V1_MAX", "V2_MAX", "parse"]

#: The longest v1 header line, CRLF included.
V1_MAX = 107
#: The largest v2 header: the 16-byte fixed part plus a 16-bit length.
V2_MAX = 16 + 65535

NEED, INVALID, DONE = 0, 1, 2
_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_SIG = b"PROXY "
_V2_FIXED = 16
_UNIX_LEN = 108
_CRC32C, _UNIQUE_ID, _SSL = 0x03, 0x05, 0x20
_FAMILIES = frozenset((0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32))
_ADDRESS_BLOCK = {0: 0, 1: 12, 2: 36, 3: 2 * _UNIX_LEN}
_V4_CHARS = frozenset(b"0123456789.")
_V6_CHARS = frozenset(b"0123456789.:abcdefABCDEF")

#: Every reason :func:`parse` can give (the C parser's texts are the same; a test compares them).
REASONS = {
    "not_proxy": "not a PROXY protocol header",
    "v1_no_crlf": "v1: no CRLF within 107 bytes",
    "v1_cr": "v1: CR not followed by LF",
    "v1_byte": "v1: byte not allowed in the header line",
    "v1_proto": "v1: unknown protocol (expected TCP4, TCP6 or UNKNOWN)",
    "v1_fields": "v1: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT, single spaces",
    "v1_src": "v1: bad source address",
    "v1_dst": "v1: bad destination address",
    "v1_sport": "v1: bad source port",
    "v1_dport": "v1: bad destination port",
    "v2_version": "v2: version is not 2",
    "v2_command": "v2: unknown command",
    "v2_family": "v2: unknown address family or transport",
    "v2_limit": "v2: header longer than the limit",
    "v2_address": "v2: length shorter than the address block",
    "v2_tlv": "v2: TLV runs past the header",
    "v2_crc_len": "v2: CRC32c TLV is not 4 bytes",
    "v2_crc_twice": "v2: more than one CRC32c TLV",
    "v2_crc": "v2: CRC32c mismatch",
    "v2_unique_id": "v2: UNIQUE_ID longer than 128 bytes",
    "v2_ssl": "v2: SSL TLV shorter than 5 bytes",
    "v2_ssl_sub": "v2: SSL sub-TLV runs past its TLV",
}

Answer = tuple[object, ...]


def _crc_table() -> tuple[int, ...]:
    """The reflected CRC32c (Castagnoli, polynomial 0x82F63B78) byte table."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _crc_table()


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC32c of ``data`` (the checksum the v2 CRC32C TLV carries)."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _invalid(key: str) -> Answer:
    return (INVALID, REASONS[key])


def _port(text: bytes) -> int:
    """A decimal port: "0" or 1..5 digits without a leading zero, at most 65535; -1 if not."""
    if not 1 <= len(text) <= 5 or (len(text) > 1 and text[:1] == b"0") or not all(48 <= c <= 57 for c in text):
        return -1
    value = int(text)
    return value if value <= 65535 else -1


def _address(text: bytes, v6: bool) -> bytes | None:
    """The packed address of a TCP4/TCP6 token (``socket.inet_pton``, as ``inet_pton`` in C), else ``None``."""
    if len(text) > 45 or len(text) < (2 if v6 else 7) or (not v6 and len(text) > 15):
        return None
    if not set(text) <= (_V6_CHARS if v6 else _V4_CHARS):
        return None
    try:
        return socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, text.decode("ascii"))
    except OSError:
        return None


def _v1_line(line: bytes, consumed: int) -> Answer:
    """The complete v1 line (CRLF excluded), ``PROXY `` already matched."""
    rest = line[6:]
    if rest[:7] == b"UNKNOWN" and (len(rest) == 7 or rest[7:8] == b" "):
        return (DONE, consumed, 1, 1, 0, 0, b"", 0, b"", 0, (), False)
    if rest[:5] not in (b"TCP4 ", b"TCP6 "):
        return _invalid("v1_proto")
    v6 = rest[3:4] == b"6"
    fields = rest[5:].split(b" ")
    if len(fields) != 4 or not all(fields):
        return _invalid("v1_fields")
    src = _address(fields[0], v6)
    if src is None:
        return _invalid("v1_src")
    dst = _address(fields[1], v6)
    if dst is None:
        return _invalid("v1_dst")
    sport = _port(fields[2])
    if sport < 0:
        return _invalid("v1_sport")
    dport = _port(fields[3])
    if dport < 0:
        return _invalid("v1_dport")
    return (DONE, consumed, 1, 1, 2 if v6 else 1, 1, src, sport, dst, dport, (), False)


def _v1(data: bytes) -> Answer:
    n = len(data)
    for i in range(6, min(n, V1_MAX)):
        ch = data[i]
        if ch == 0x0D:
            if i + 1 >= V1_MAX:
                return _invalid("v1_no_crlf")
            if i + 1 >= n:
                return (NEED, 0)
            if data[i + 1] != 0x0A:
                return _invalid("v1_cr")
            return _v1_line(data[:i], i + 2)
        if ch < 0x20 or ch > 0x7E:
            return _invalid("v1_byte")
    return _invalid("v1_no_crlf") if n >= V1_MAX else (NEED, 0)


def _walk(data: bytes, start: int, end: int, top: bool, tlvs: list[tuple[int, bytes]]) -> str | None:
    """Walk the TLVs in ``data[start:end]``; the reason key of the first framing problem, else ``None``.

    At the top level, append each ``(type, value)`` to ``tlvs``; SSL sub-TLVs are checked, not collected.
    """
    pos = start
    crc_seen = False
    while pos < end:
        if end - pos < 3:
            return "v2_tlv" if top else "v2_ssl_sub"
        kind = data[pos]
        length = (data[pos + 1] << 8) | data[pos + 2]
        if length > end - pos - 3:
            return "v2_tlv" if top else "v2_ssl_sub"
        if top:
            if kind == _CRC32C:
                if length != 4:
                    return "v2_crc_len"
                if crc_seen:
                    return "v2_crc_twice"
                crc_seen = True
            elif kind == _UNIQUE_ID and length > 128:
                return "v2_unique_id"
            elif kind == _SSL:
                if length < 5:
                    return "v2_ssl"
                problem = _walk(data, pos + 3 + 5, pos + 3 + length, False, tlvs)
                if problem is not None:
                    return problem
            tlvs.append((kind, data[pos + 3 : pos + 3 + length]))
        pos += 3 + length
    return None


def _v2(data: bytes, limit: int) -> Answer:
    n = len(data)
    if n > 12 and data[12] not in (0x20, 0x21):
        return _invalid("v2_version" if data[12] >> 4 != 2 else "v2_command")
    if n > 13 and data[12] == 0x21 and data[13] not in _FAMILIES:
        return _invalid("v2_family")
    if n < _V2_FIXED:
        return (NEED, _V2_FIXED)
    length = (data[14] << 8) | data[15]
    total = _V2_FIXED + length
    if total > limit:
        return _invalid("v2_limit")
    if data[12] & 0x0F == 0:  # LOCAL: the connection's own addresses; the block is skipped unread
        return (NEED, total) if n < total else (DONE, total, 2, 0, 0, 0, b"", 0, b"", 0, (), False)
    family, transport = data[13] >> 4, data[13] & 0x0F
    block = _ADDRESS_BLOCK[family]
    if length < block:
        return _invalid("v2_address")
    if n < total:
        return (NEED, total)
    src = dst = b""
    sport = dport = 0
    if family in (1, 2):
        size = 4 if family == 1 else 16
        src, dst = data[16 : 16 + size], data[16 + size : 16 + 2 * size]
        ports = 16 + 2 * size
        sport, dport = (data[ports] << 8) | data[ports + 1], (data[ports + 2] << 8) | data[ports + 3]
    elif family == 3:
        src, dst = data[16 : 16 + _UNIX_LEN], data[16 + _UNIX_LEN : 16 + 2 * _UNIX_LEN]
    tlvs: list[tuple[int, bytes]] = []
    problem = _walk(data, _V2_FIXED + block, total, True, tlvs)
    if problem is not None:
        return _invalid(problem)
    checked = False
    for index, (kind, value) in enumerate(tlvs):
        if kind == _CRC32C:
            at = _V2_FIXED + block + sum(3 + len(v) for _k, v in tlvs[:index]) + 3
            zeroed = data[:at] + b"\0\0\0\0" + data[at + 4 : total]
            if crc32c(zeroed) != int.from_bytes(value, "big"):
                return _invalid("v2_crc")
            checked = True
    return (DONE, total, 2, 1, family, transport, src, sport, dst, dport, tuple(tlvs), checked)


def parse(data: bytes | bytearray | memoryview, limit: int = V2_MAX, /) -> Answer:
    """Parse a PROXY protocol header at the start of ``data`` (see the module docstring for the answers)."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError("limit must be an int")
    if not _V2_FIXED <= limit <= V2_MAX:
        raise ValueError("limit must be 16..65551 (the v2 fixed header to the largest v2 header)")
    data = bytes(memoryview(data))  # a TypeError for anything not bytes-like, as in C
    n = len(data)
    if n == 0:
        return (NEED, 0)
    if data[:12] == _V2_SIG[: min(n, 12)]:
        return (NEED, _V2_FIXED) if n < 12 else _v2(data, limit)
    if data[:6] == _V1_SIG[: min(n, 6)]:
        return (NEED, 0) if n < 6 else _v1(data)
    return _invalid("not_proxy")
