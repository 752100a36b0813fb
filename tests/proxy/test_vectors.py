"""Every header form and malformed shape through both parsers, every split of every vector, and the public API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from realip_toa import _proxy_pure
from realip_toa.proxy_protocol import Complete, Invalid, NeedMore, SSLInfo, TLVs, parse

from .vectors import (
    LIMIT_VECTORS,
    REQUEST,
    SIG,
    V1_TCP4,
    V2_TCP4,
    VECTORS,
    WITH_CRC,
    WITH_TLVS,
    crc32c_bitwise,
    inet4,
    tlv,
    v2,
)

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize(("name", "data", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_vector(impl: ModuleType, name: str, data: bytes, expected: tuple[object, ...]) -> None:
    assert impl.parse(data) == expected
    assert impl.parse(bytearray(data)) == expected
    assert impl.parse(memoryview(data)) == expected


@pytest.mark.parametrize(("name", "data", "limit", "expected"), LIMIT_VECTORS, ids=[v[0] for v in LIMIT_VECTORS])
def test_limit(impl: ModuleType, name: str, data: bytes, limit: int, expected: tuple[object, ...]) -> None:
    assert impl.parse(data, limit) == expected


@pytest.mark.parametrize(("name", "data", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_every_prefix_waits_or_fails_the_same_way(
    impl: ModuleType, name: str, data: bytes, expected: tuple[object, ...]
) -> None:
    """A header split at any byte boundary: no prefix is complete, none fails differently; the total, once the
    v2 fixed part has arrived, is the header's length."""
    end = expected[1] if expected[0] == 2 else len(data)
    assert isinstance(end, int)
    for cut in range(end):
        answer = impl.parse(data[:cut])
        if expected[0] == 1 and answer[0] == 1:
            assert answer == expected, cut
            continue
        assert answer[0] == 0, (cut, answer)
        if data.startswith(SIG) and cut >= 16 and expected[0] == 2:
            assert answer == (0, end), cut


def test_reason_texts_are_the_same_in_c() -> None:
    source = (REPO / "realip_toa" / "_proxy.c").read_text()
    in_c = set(re.findall(r'#define R_\w+ "([^"]+)"', source))
    assert in_c == set(_proxy_pure.REASONS.values())
    assert {v[2][1] for v in VECTORS if v[2][0] == 1} | {v[3][1] for v in LIMIT_VECTORS if v[3][0] == 1} == in_c


def test_crc32c_reference_value() -> None:
    assert crc32c_bitwise(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert _proxy_pure.crc32c(b"123456789") == 0xE3069283


@pytest.mark.parametrize("limit", [15, 65552, -1, 2**70])
def test_a_bad_limit_is_a_value_error(impl: ModuleType, limit: int) -> None:
    with pytest.raises(ValueError, match=r"limit must be 16\.\.65551"):
        impl.parse(b"", limit)


def test_bad_argument_types(impl: ModuleType) -> None:
    for bad in ("PROXY", None, 7):
        with pytest.raises(TypeError):
            impl.parse(bad)
    for bad_limit in (True, 1.5, "28"):
        with pytest.raises(TypeError, match="limit must be an int"):
            impl.parse(b"", bad_limit)


# -- the public API -----------------------------------------------------------------------------------------------


def test_v1_header_fields() -> None:
    answer = parse(V1_TCP4 + REQUEST)
    assert isinstance(answer, Complete) and answer.consumed == len(V1_TCP4)
    header = answer.header
    assert (header.version, header.command, header.family, header.transport) == (1, "PROXY", "INET", "STREAM")
    assert header.source == ("192.0.2.10", 56324) and header.destination == ("198.51.100.20", 443)
    assert header.raw_tlvs == () and header.tlvs == TLVs() and not header.crc32c_checked
    assert (V1_TCP4 + REQUEST)[answer.consumed :] == REQUEST


def test_v2_ipv6_and_local_and_unknown() -> None:
    answer = parse(b"PROXY TCP6 2001:db8::10 2001:db8::20 1 2\r\n")
    assert isinstance(answer, Complete) and answer.header.source == ("2001:db8::10", 1)
    local = parse(v2(inet4(), command=0x20))
    assert isinstance(local, Complete)
    assert (local.header.command, local.header.source, local.header.destination) == ("LOCAL", None, None)
    unknown = parse(b"PROXY UNKNOWN\r\n")
    assert isinstance(unknown, Complete)
    assert (unknown.header.command, unknown.header.family, unknown.header.source) == ("PROXY", "UNSPEC", None)


def test_unix_paths() -> None:
    block = b"/run/lb.sock".ljust(108, b"\0") + b"/run/app\xff.sock".ljust(108, b"\0")
    answer = parse(v2(block, family=0x31))
    assert isinstance(answer, Complete)
    header = answer.header
    assert (header.family, header.source, header.unix_source) == ("UNIX", None, "/run/lb.sock")
    assert header.unix_destination == "/run/app\udcff.sock"


def test_every_tlv_decoded() -> None:
    answer = parse(WITH_TLVS)
    assert isinstance(answer, Complete)
    tlvs = answer.header.tlvs
    assert tlvs.alpn == b"h2" and tlvs.authority == "example.com" and tlvs.unique_id == b"u" * 128
    assert tlvs.netns == "blue"
    assert tlvs.ssl == SSLInfo(7, 0, version="TLSv1.3", cn="client.example", cipher="TLS_AES_128_GCM_SHA256")
    assert tlvs.ssl.over_tls and tlvs.ssl.client_certificate_verified
    assert tlvs.aws_vpce_id == "vpce-08d2bf15fac5001c9"
    assert tlvs.azure_link_id == 0x12345678
    assert tlvs.gcp_psc_connection_id == 0x0102030405060708
    assert (tlvs.alibaba_vpc_id, tlvs.alibaba_endpoint_id, tlvs.alibaba_endpoint_service_id) == (
        "vpc-abc",
        "ep-def",
        "epsrv-ghi",
    )
    shown = answer.header.as_dict()
    assert shown["tlvs"]["aws_vpce_id"] == "vpce-08d2bf15fac5001c9"  # type: ignore[index]
    assert shown["tlvs"]["ssl"]["cn"] == "client.example"  # type: ignore[index]
    assert "0xEA" in shown["tlv_types"]  # type: ignore[operator]


def test_odd_vendor_values_are_left_raw_not_raised() -> None:
    odd = tlv(0xEA, b"\x02other") + tlv(0xEE, b"\x01\x00") + tlv(0xE0, b"short") + tlv(0xE1, b"\x09x") + tlv(0xE1, b"")
    answer = parse(v2(inet4() + odd))
    assert isinstance(answer, Complete)
    assert answer.header.tlvs == TLVs() and len(answer.header.raw_tlvs) == 5


def test_first_tlv_of_a_type_counts() -> None:
    answer = parse(v2(inet4() + tlv(0xEA, b"\x01first") + tlv(0xEA, b"\x01second")))
    assert isinstance(answer, Complete) and answer.header.tlvs.aws_vpce_id == "first"


def test_crc_checked_flag() -> None:
    answer = parse(WITH_CRC)
    assert isinstance(answer, Complete) and answer.header.crc32c_checked


def test_need_more_and_invalid() -> None:
    assert parse(b"") == NeedMore(None)
    assert parse(b"PROXY TCP4 ") == NeedMore(None)
    assert parse(V2_TCP4[:20]) == NeedMore(28)
    assert parse(SIG[:3]) == NeedMore(16)
    assert parse(b"GET / HTTP/1.1\r\n") == Invalid("not a PROXY protocol header")
    assert parse(V2_TCP4, limit=20) == Invalid("v2: header longer than the limit")


def test_implementation_is_c_and_the_environment_forces_python() -> None:
    code = "import realip_toa.proxy_protocol as p, realip_toa as t; print(p.IMPLEMENTATION, t.IMPLEMENTATION)"
    env = {key: value for key, value in os.environ.items() if key != "REALIP_TOA_PURE"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["c", "c"]
    env = {**os.environ, "REALIP_TOA_PURE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["python", "python"]


def test_a_missing_build_warns_once_and_falls_back() -> None:
    code = (
        "import sys, warnings\n"
        "sys.modules['realip_toa._proxy'] = None  # as if it was never built\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    import realip_toa.proxy_protocol as p\n"
        "    import realip_toa.proxy_protocol\n"
        "print(p.IMPLEMENTATION, len(caught))\n"
        "print(caught[0].message)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "REALIP_TOA_PURE"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    first, message = out.stdout.splitlines()[:2]
    assert first == "python 1"
    assert "REALIP_TOA_PURE=1" in message and "python3-dev" in message
