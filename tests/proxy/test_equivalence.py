"""The C and pure-Python PROXY parsers give identical answers on random, structured and mutated input (hypothesis),
including the limit argument and every cut of a mutated header."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realip_toa import _proxy_pure

from .conftest import c_parser
from .vectors import SIG, VECTORS, crc32c_bitwise, tlv

_proxy = c_parser()
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(data: bytes, limit: int = 65551) -> None:
    assert _proxy.parse(data, limit) == _proxy_pure.parse(data, limit)


@SETTINGS
@given(st.binary(max_size=160), st.integers(16, 65551))
def test_random_bytes(data: bytes, limit: int) -> None:
    same(data, limit)
    same(SIG + data, limit)
    same(b"PROXY " + data, limit)


v1_token = st.one_of(
    st.sampled_from([b"TCP4", b"TCP6", b"UNKNOWN", b"UDP4", b""]),
    st.from_regex(rb"\A[0-9a-fA-F:.]{0,46}\Z"),
    st.from_regex(rb"\A[0-9]{0,6}\Z"),
    st.ip_addresses().map(lambda a: str(a).encode()),
    st.binary(max_size=6),
)


@SETTINGS
@given(
    st.lists(v1_token, max_size=7), st.sampled_from([b" ", b"  ", b"\t"]), st.sampled_from([b"\r\n", b"\r", b"\n", b""])
)
def test_structured_v1(tokens: list[bytes], sep: bytes, end: bytes) -> None:
    same(b"PROXY " + sep.join(tokens) + end + b"GET /")


tlv_blob = st.lists(
    st.tuples(
        st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x05, 0x20, 0x30, 0xE0, 0xE1, 0xEA, 0xEE, 0xFF]),
        st.binary(max_size=40),
        st.one_of(st.none(), st.integers(0, 0xFFFF)),
    ).map(lambda t: tlv(t[0], t[1], t[2])),
    max_size=6,
).map(b"".join)


@SETTINGS
@given(
    st.sampled_from([0x20, 0x21, 0x21, 0x21, 0x11, 0x22]),
    st.sampled_from([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32, 0x13, 0x41]),
    st.binary(min_size=0, max_size=240),
    tlv_blob,
    st.one_of(st.none(), st.integers(0, 0xFFFF)),
    st.booleans(),
    st.integers(16, 400),
)
def test_structured_v2(
    command: int, family: int, block: bytes, tlvs: bytes, length: int | None, crc: bool, limit: int
) -> None:
    body = block + tlvs
    if crc:
        body += tlv(0x03, bytes(4))
    header = SIG + bytes([command, family]) + struct.pack("!H", len(body) if length is None else length) + body
    if crc and length is None:
        header = header[:-4] + struct.pack("!I", crc32c_bitwise(header))
    same(header)
    same(header, limit)
    same(header + b"GET / HTTP/1.1\r\n")


@SETTINGS
@given(st.sampled_from([v[1] for v in VECTORS]), st.data())
def test_mutated_vectors(vector: bytes, data: st.DataObject) -> None:
    mutated = bytearray(vector)
    for _ in range(data.draw(st.integers(1, 4))):
        if not mutated:
            break
        index = data.draw(st.integers(0, len(mutated) - 1))
        mutated[index] = data.draw(st.integers(0, 255))
    for cut in sorted({0, len(mutated) // 2, len(mutated), data.draw(st.integers(0, len(mutated)))}):
        same(bytes(mutated[:cut]))
