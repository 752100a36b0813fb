"""The C and pure-Python parsers give identical answers on random and mutated input (hypothesis)."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realip_toa import _pure

from .conftest import c_parser
from .vectors import DEFAULT, OPTION_VECTORS, PACKET_VECTORS, ipv4, ipv6, tcp

_toa = c_parser()
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

kinds_tables = st.lists(
    st.tuples(st.sampled_from([200, 201, 253, 254, 2, 30, 255]), st.sampled_from([8, 20])), max_size=6
).map(lambda pairs: b"".join(bytes(p) for p in pairs))
option_bytes = st.lists(
    st.one_of(
        st.binary(max_size=8),
        st.sampled_from([b"\x01", b"\x00", b"\x01\x01"]),
        st.tuples(
            st.sampled_from([200, 201, 253, 254]),
            st.sampled_from([0, 1, 2, 6, 8, 20, 40]),
            st.binary(min_size=0, max_size=18),
        ).map(lambda t: bytes([t[0], t[1]]) + t[2]),
    ),
    max_size=8,
).map(b"".join)


def same(data: bytes, kinds: bytes) -> None:
    assert _toa.parse_options(data, kinds) == _pure.parse_options(data, kinds)
    assert _toa.parse_packet(data, kinds) == _pure.parse_packet(data, kinds)


@SETTINGS
@given(st.binary(max_size=120), kinds_tables)
def test_random_bytes(data: bytes, kinds: bytes) -> None:
    same(data, kinds)


@SETTINGS
@given(option_bytes, kinds_tables)
def test_structured_options(options: bytes, kinds: bytes) -> None:
    assert _toa.parse_options(options, kinds) == _pure.parse_options(options, kinds)


@SETTINGS
@given(
    option_bytes,
    st.integers(0, 15),
    st.integers(0, 255),
    st.booleans(),
    st.integers(0, 0xFFFF),
    st.integers(0, 3),
    st.binary(max_size=16),
)
def test_structured_packets(
    options: bytes, doff: int, flags: int, v6: bool, length: int, cut: int, payload: bytes
) -> None:
    segment = tcp(options[:40], flags, payload, doff=doff)
    if v6:
        packet = ipv6(segment, ext=[(0, bytes(7)), (44, bytes(7))][:cut], payload=length if cut == 3 else None)
    else:
        packet = ipv4(segment, total=length if cut == 3 else None, frag=0x4000 if cut != 2 else 0x2001)
    same(packet, DEFAULT)
    same(packet[: len(packet) - cut * 3], DEFAULT)


@SETTINGS
@given(st.sampled_from([v[1] for v in OPTION_VECTORS + PACKET_VECTORS]), st.data())
def test_mutated_vectors(vector: bytes, data: st.DataObject) -> None:
    mutated = bytearray(vector)
    for _ in range(data.draw(st.integers(1, 4))):
        if not mutated:
            break
        index = data.draw(st.integers(0, len(mutated) - 1))
        mutated[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    same(bytes(mutated[:cut]), DEFAULT)
    same(bytes(mutated), DEFAULT)


def test_every_ipv6_extension_depth() -> None:
    segment = tcp(struct.pack("!BBH4s", 254, 8, 80, bytes(4)))
    for depth in range(12):
        packet = ipv6(segment, ext=[(60, bytes(7))] * depth)
        expected = None if depth > 8 else _pure.parse_packet(packet, DEFAULT)
        assert _toa.parse_packet(packet, DEFAULT) == expected
        assert (expected is None) == (depth > 8)


@SETTINGS
@given(st.binary(max_size=40), st.binary(max_size=12))
def test_arbitrary_kinds_tables_agree_or_both_fail(data: bytes, kinds: bytes) -> None:
    for name in ("parse_options", "parse_packet"):
        answers = []
        for module in (_toa, _pure):
            try:
                answers.append(getattr(module, name)(data, kinds))
            except ValueError as exc:
                answers.append(("ValueError", str(exc)))
        assert answers[0] == answers[1]
