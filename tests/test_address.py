"""Address entries: every accepted form, every invalid form, and canonical output text."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realip._address import parse_address, parse_port

ACCEPTED = [
    # (entry, canonical ip, port)
    ("1.2.3.4", "1.2.3.4", None),
    ("1.2.3.4:80", "1.2.3.4", 80),
    ("198.51.100.7:65535", "198.51.100.7", 65535),
    ("198.51.100.7:0", "198.51.100.7", 0),
    ("2001:db8::1", "2001:db8::1", None),
    ("[2001:db8::1]", "2001:db8::1", None),
    ("[2001:db8::1]:443", "2001:db8::1", 443),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1", None),
    ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", None),  # RFC 5952: the first of two equal runs
    ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", None),  # a single zero group is not compressed
    ("::ffff:1.2.3.4", "1.2.3.4", None),
    ("::ffff:102:304", "1.2.3.4", None),
    ("::FFFF:0102:0304", "1.2.3.4", None),
    ("[::ffff:1.2.3.4]:8080", "1.2.3.4", 8080),
    ("::1.2.3.4", "::102:304", None),  # IPv4-compatible (deprecated) stays IPv6, in hex
    ("::2", "::2", None),
    ("fe80::1%eth0", "fe80::1", None),
    ("[fe80::1%eth0]:80", "fe80::1", 80),
    ("fe80::1%25", "fe80::1", None),
    ("  1.2.3.4\t", "1.2.3.4", None),
    ('"1.2.3.4"', "1.2.3.4", None),
    ('"[2001:db8::1]:443"', "2001:db8::1", 443),
    ("0.0.0.0", "0.0.0.0", None),
    ("::", "::", None),
    ("255.255.255.255", "255.255.255.255", None),
]

INVALID = [
    ("", "empty"),
    ("   ", "blank"),
    ("01.2.3.4", "leading-zero octet"),
    ("1.2.3.04", "leading-zero octet at the end"),
    ("127.1", "short IPv4 form"),
    ("1.2.3", "three octets"),
    ("2130706433", "numeric IPv4"),
    ("0x7f.0.0.1", "hex octet"),
    ("256.1.1.1", "octet out of range"),
    ("1.2.3.4.5", "five octets"),
    ("example.com", "hostname"),
    ("localhost", "hostname"),
    ("unknown", "RFC 7239 unknown"),
    ("_hidden", "obfuscated identifier"),
    ("1.2.3.4:65536", "port out of range"),
    ("1.2.3.4:123456", "port of six digits"),
    ("1.2.3.4:", "empty port"),
    ("1.2.3.4:-1", "negative port"),
    ("1.2.3.4:８０", "non-ASCII digits in port"),
    ("1.2.3.4:²", "superscript digit in port"),
    ("[1.2.3.4]", "bracketed IPv4"),
    ("[1.2.3.4]:80", "bracketed IPv4 with port"),
    ("[2001:db8::1", "unclosed bracket"),
    ("[2001:db8::1]80", "junk after bracket"),
    ("[2001:db8::1]:", "empty port after bracket"),
    ("2001:db8::1:80:", "trailing colon"),
    ("1::2::3", "two double colons"),
    ("00001::1", "five hex digits"),
    ("fe80::1%", "empty zone"),
    ("fe80::1%" + "x" * 65, "overlong zone"),
    ("fe80::1%et h0", "space in zone"),
    ("1.2.3.4\n", "newline"),
    ("1.2.3.4\r", "carriage return"),
    ("1.2.3.4\x00", "NUL"),
    ("\x0b1.2.3.4", "vertical tab"),
    ("1.2.3.4\u00a0", "non-breaking space"),
    ("１.2.3.4", "fullwidth digit"),
    ("١.2.3.4", "Arabic-Indic digit"),
    ('"1.2.3.4', "unmatched quote"),
    ('""', "empty quotes"),
    ("<script>", "markup"),
    ("1.2.3.4 5.6.7.8", "two addresses"),
    ("::ffff:01.2.3.4", "leading zero in mapped IPv4"),
]


@pytest.mark.parametrize(("entry", "ip", "port"), ACCEPTED, ids=[row[0] for row in ACCEPTED])
def test_accepted_forms(entry: str, ip: str, port: int | None) -> None:
    address = parse_address(entry)
    assert address is not None
    assert (address.ip, address.port) == (ip, port)


@pytest.mark.parametrize(("entry", "why"), INVALID, ids=[row[1] for row in INVALID])
def test_invalid_forms(entry: str, why: str) -> None:
    assert parse_address(entry) is None, why


def test_mapped_address_matches_as_ipv4_value() -> None:
    mapped, plain = parse_address("::ffff:10.1.2.3"), parse_address("10.1.2.3")
    assert mapped is not None and plain is not None
    assert (mapped.v6, mapped.value) == (plain.v6, plain.value) == (False, int(ipaddress.IPv4Address("10.1.2.3")))


@pytest.mark.parametrize(("text", "port"), [("0", 0), ("80", 80), ("00080", 80), ("65535", 65535)])
def test_port_accepted(text: str, port: int) -> None:
    assert parse_port(text) == port


@pytest.mark.parametrize("text", ["", "65536", "123456", "+80", " 80", "8_0", "٨٠"])
def test_port_rejected(text: str) -> None:
    assert parse_port(text) is None


@given(st.ip_addresses(v=4))
def test_ipv4_canonical_matches_ipaddress(ip: ipaddress.IPv4Address) -> None:
    address = parse_address(str(ip))
    assert address is not None and address.ip == str(ip) and address.value == int(ip) and not address.v6


@given(st.ip_addresses(v=6))
def test_ipv6_canonical_is_rfc5952(ip: ipaddress.IPv6Address) -> None:
    for spelling in (ip.exploded, ip.exploded.upper(), ip.compressed, f"[{ip}]", f"[{ip}]:8080"):
        address = parse_address(spelling)
        assert address is not None
        if ip.ipv4_mapped is not None:
            assert (address.ip, address.v6) == (str(ip.ipv4_mapped), False)
        else:
            assert (address.ip, address.v6, address.value) == (ip.compressed, True, int(ip))


@given(st.text(max_size=80))
def test_never_raises_and_output_is_canonical(text: str) -> None:
    address = parse_address(text)
    if address is not None:
        assert address.ip == str(ipaddress.ip_address(address.ip))
        assert parse_address(address.ip) == address._replace(port=None)
