"""Trusted-proxy configuration: every entry form, the named sets' exact networks, and every ConfigError."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realip import NAMED_SETS, ConfigError, Resolver
from realip._address import parse_address
from realip._trust import compile_trust


def trusts(entries: tuple[str, ...], address: str) -> bool:
    parsed = parse_address(address)
    assert parsed is not None
    return compile_trust(entries).contains(parsed.value, parsed.v6)


def test_named_sets_are_exactly_the_documented_networks() -> None:
    assert NAMED_SETS == {
        "any": ("0.0.0.0/0", "::/0"),
        "loopback": ("127.0.0.0/8", "::1/128"),
        "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
        "link-local": ("169.254.0.0/16", "fe80::/10"),
        "cgnat": ("100.64.0.0/10",),
        "unix": (),
    }


@pytest.mark.parametrize(
    ("name", "inside", "outside"),
    [
        ("loopback", ["127.0.0.1", "127.255.255.255", "::1"], ["128.0.0.1", "::2", "126.255.255.255"]),
        (
            "private",
            ["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fdff::1"],
            ["172.32.0.1", "11.0.0.1", "192.169.0.1", "fe00::1", "100.64.0.1"],
        ),
        ("link-local", ["169.254.0.1", "fe80::1", "febf::1"], ["169.255.0.1", "fec0::1"]),
        ("cgnat", ["100.64.0.0", "100.127.255.255"], ["100.63.255.255", "100.128.0.0"]),
        ("unix", [], ["127.0.0.1", "10.0.0.1"]),
    ],
)
def test_named_set_membership(name: str, inside: list[str], outside: list[str]) -> None:
    for address in inside:
        assert trusts((name,), address), address
    for address in outside:
        assert not trusts((name,), address), address


def test_named_sets_are_case_insensitive_and_unix_is_a_flag() -> None:
    assert trusts(("LoopBack",), "127.0.0.1")
    assert compile_trust(("unix",)).unix and not compile_trust(("loopback",)).unix


@pytest.mark.parametrize(
    ("entry", "inside", "outside"),
    [
        ("10.0.0.0/8", "10.255.0.1", "11.0.0.1"),
        ("2001:db8::/32", "2001:db8:ffff::1", "2001:db9::1"),
        ("198.51.100.7", "198.51.100.7", "198.51.100.8"),
        ("2001:db8::7", "2001:db8::7", "2001:db8::8"),
        ("198.51.100.1-198.51.100.9", "198.51.100.9", "198.51.100.10"),
        ("2001:db8::1-2001:db8::ff", "2001:db8::80", "2001:db8::100"),
        ("198.51.*.*", "198.51.7.9", "198.52.0.1"),
        ("198.51.100-101.*", "198.51.101.200", "198.51.102.1"),
        ("0.0.0.0/0", "203.0.113.1", "2001:db8::1"),
        ("::/0", "2001:db8::1", "203.0.113.1"),
        ("::ffff:10.0.0.0/104", "10.9.9.9", "11.0.0.1"),
        ("::ffff:198.51.100.7", "198.51.100.7", "198.51.100.8"),
        ("::ffff:198.51.100.7/128", "198.51.100.7", "198.51.100.8"),
        (" 10.0.0.0/8 ", "10.0.0.1", "11.0.0.1"),
    ],
)
def test_entry_forms(entry: str, inside: str, outside: str) -> None:
    assert trusts((entry,), inside)
    assert not trusts((entry,), outside)


def test_mapped_peer_matches_ipv4_network() -> None:
    assert trusts(("10.0.0.0/8",), "::ffff:10.1.2.3")
    assert not trusts(("::ffff:0:0/96",), "2001:db8::1")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("10.0.0.1/33", r"trusted_proxies\[0\]='10.0.0.1/33' has prefix /33, beyond /32"),
        ("2001:db8::/129", r"beyond /128"),
        ("10.0.0.1/8", r"host bits set: write '10.0.0.0/8' for the network or '10.0.0.1/32' for one host"),
        ("2001:db8::1/32", r"host bits set: write '2001:db8::/32'"),
        ("10.0.0.0/", r"bad prefix length ''"),
        ("10.0.0.0/x", r"bad prefix length 'x'"),
        ("10.0.0.0/8/8", r"bad prefix length"),
        ("010.0.0.0/8", r"'010.0.0.0' is not an IP address"),
        ("10.1/16", r"'10.1' is not an IP address"),
        ("::ffff:10.0.0.0/8", r"IPv4-mapped network with a prefix below /96"),
        ("10.0.0.9-10.0.0.1", r"is reversed: write '10.0.0.1-10.0.0.9'"),
        ("10.0.0.1-2001:db8::1", r"mixes IPv4 and IPv6"),
        ("10.0.0.1-", r"a range is two addresses"),
        ("10.0.*", r"a glob is four octets"),
        ("10.0.0.*.*", r"a glob is four octets"),
        ("010.0.*.*", r"a glob is four octets"),
        ("10.0.3-1.*", r"a glob is four octets"),
        ("01.2.3.4", r"is not an address, CIDR network, range, glob or named set \(any, loopback, private, link-local"),
        ("example.com", r"'example.com' is not an address, CIDR"),
        ("internal", r"'internal' is not an address"),
        ("", r"trusted_proxies\[0\]='' is empty"),
        ("  ", r"is empty"),
        ("10.0.0.1:80", r"is not an address"),
        ("[2001:db8::1]", r"is not an address"),
        ("fe80::1%eth0", r"is not an address"),
        ("**", r"a glob is four octets"),
    ],
)
def test_bad_entries_raise_config_error_naming_the_entry(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Resolver(trusted_proxies=(entry,))


def test_error_names_the_index_of_the_bad_entry() -> None:
    with pytest.raises(ConfigError, match=r"trusted_proxies\[2\]='10.0.0.1/33'"):
        Resolver(trusted_proxies=("loopback", "cgnat", "10.0.0.1/33"))


def test_non_string_entry_and_bare_string_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"trusted_proxies\[0\]=167772160 is a int, not a string"):
        Resolver(trusted_proxies=(167772160,))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"single string: pass a list or tuple of entries, for example \['10"):
        Resolver(trusted_proxies="10.0.0.0/8")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_empty_trust_trusts_nothing() -> None:
    resolver = Resolver(trusted_proxies=())
    assert resolver.trusted_proxies == ()
    assert resolver.resolve("127.0.0.1", {"X-Forwarded-For": "198.51.100.7"}).client_ip == "127.0.0.1"


def test_networks_are_merged_for_display() -> None:
    assert Resolver(trusted_proxies=("10.0.0.0/8", "10.1.0.0/16", "unix")).trusted_proxies == ("10.0.0.0/8", "unix")


@given(
    st.lists(st.tuples(st.ip_addresses(v=4), st.integers(0, 32)), min_size=1, max_size=6),
    st.ip_addresses(v=4),
)
def test_membership_agrees_with_ipaddress(
    networks: list[tuple[ipaddress.IPv4Address, int]], probe: ipaddress.IPv4Address
) -> None:
    nets = [ipaddress.ip_network(f"{ip}/{prefix}", strict=False) for ip, prefix in networks]
    assert trusts(tuple(str(net) for net in nets), str(probe)) == any(probe in net for net in nets)


@given(
    st.lists(st.tuples(st.ip_addresses(v=6), st.integers(0, 128)), min_size=1, max_size=6),
    st.ip_addresses(v=6),
)
def test_ipv6_membership_agrees_with_ipaddress(
    networks: list[tuple[ipaddress.IPv6Address, int]], probe: ipaddress.IPv6Address
) -> None:
    nets = [ipaddress.ip_network(f"{ip}/{prefix}", strict=False) for ip, prefix in networks]
    nets = [net for net in nets if net.network_address.ipv4_mapped is None]  # mapped networks are IPv4 entries
    if not nets or probe.ipv4_mapped is not None:
        return
    assert trusts(tuple(str(net) for net in nets), str(probe)) == any(probe in net for net in nets)
