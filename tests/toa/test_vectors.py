"""Every byte-level vector through both parsers (C and pure Python), plus the package's typed wrappers."""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType

import pytest

import realip_toa
from realip_toa import DEFAULT_KINDS, TOA, TOAConfigError, pack_kinds, parse_kinds

from .vectors import BAD_KINDS, CHECKSUM_VECTORS, DEFAULT, OPTION_VECTORS, PACKET_VECTORS, V4, V6


@pytest.mark.parametrize(("name", "data", "kinds", "expected"), OPTION_VECTORS, ids=[v[0] for v in OPTION_VECTORS])
def test_option_vectors(impl: ModuleType, name: str, data: bytes, kinds: bytes, expected: object) -> None:
    assert impl.parse_options(data, kinds) == expected


@pytest.mark.parametrize(("name", "data", "kinds", "expected"), PACKET_VECTORS, ids=[v[0] for v in PACKET_VECTORS])
def test_packet_vectors(impl: ModuleType, name: str, data: bytes, kinds: bytes, expected: object) -> None:
    answer = impl.parse_packet(data, kinds)
    assert (answer if answer is None else answer[:7]) == expected
    if answer is not None:
        assert answer[7:9] == (1, 2)  # the vectors' sequence and acknowledgment numbers


@pytest.mark.parametrize(("name", "data", "verdict"), CHECKSUM_VECTORS, ids=[v[0] for v in CHECKSUM_VECTORS])
def test_checksum_verdicts(impl: ModuleType, name: str, data: bytes, verdict: int) -> None:
    answer = impl.parse_packet(data, DEFAULT)
    assert answer is not None and answer[9] == verdict


@pytest.mark.parametrize(("name", "kinds"), BAD_KINDS, ids=[v[0] for v in BAD_KINDS])
def test_bad_kinds_tables_are_rejected(impl: ModuleType, name: str, kinds: bytes) -> None:
    with pytest.raises(ValueError, match="kinds"):
        impl.parse_options(b"", kinds)
    with pytest.raises(ValueError, match="kinds"):
        impl.parse_packet(b"", kinds)


def test_any_buffer_is_accepted(impl: ModuleType) -> None:
    data = bytes([1, 1, 254, 8, 0x1F, 0x90]) + V4
    for buffer in (data, bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:]):
        assert impl.parse_options(buffer, DEFAULT) == (254, V4, 8080)


def test_non_buffers_are_type_errors(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.parse_options("text", DEFAULT)
    with pytest.raises(TypeError):
        impl.parse_packet(None, DEFAULT)


def test_c_is_the_default_implementation() -> None:
    code = "import realip_toa as t, realip_toa._toa as c; print(t.IMPLEMENTATION, t.parse_packet is c.parse_packet)"
    env = {k: v for k, v in os.environ.items() if k != "REALIP_TOA_PURE"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["c", "True"]


def test_env_forces_the_pure_parser() -> None:
    code = "import realip_toa; print(realip_toa.IMPLEMENTATION, realip_toa.parse_options.__module__)"
    env = {**os.environ, "REALIP_TOA_PURE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["python", "realip_toa._pure"]


def test_wrappers_give_text_addresses() -> None:
    kinds = pack_kinds(DEFAULT_KINDS)
    assert kinds == DEFAULT
    packet = PACKET_VECTORS[0][1]
    parsed = realip_toa.parse(packet, kinds)
    toa = TOA(254, "198.51.100.7", 8080)
    assert parsed == realip_toa.Packet("198.51.100.1", 41000, "192.0.2.20", 8000, 0x10, toa, 1, 2, 0)
    assert parsed is not None and parsed.toa is not None and parsed.toa.address == ("198.51.100.7", 8080)
    assert realip_toa.to_toa((253, V6, 1)) == TOA(253, "2001:db8::7", 1)
    assert realip_toa.parse(b"", kinds) is None


def test_kinds_configuration() -> None:
    assert parse_kinds("") == DEFAULT_KINDS
    assert parse_kinds("default") == DEFAULT_KINDS
    assert parse_kinds(" 254/8 , 200/8") == ((254, 8), (200, 8))
    for bad, fragment in [("254", "254"), ("254/9", "254/9"), ("x/8", "x/8"), ("300/8", "300/8"), ("1/8", "1/8")]:
        with pytest.raises(TOAConfigError, match=fragment.replace("/", "/")):
            parse_kinds(bad)
    with pytest.raises(TOAConfigError, match="at least one"):
        pack_kinds([])
    with pytest.raises(TOAConfigError, match="pair"):
        pack_kinds([(254,)])  # type: ignore[list-item]
    assert issubclass(TOAConfigError, ValueError)  # its own error: realip_toa imports nothing from realip
