"""Configuration from REALIP_* environment variables (what a Kubernetes ConfigMap sets)."""

from __future__ import annotations

import pytest

from realip import ConfigError, Resolver
from realip.env import resolver_options_from_env


def test_every_variable_is_read() -> None:
    env = {
        "REALIP_TRUSTED_PROXIES": "10.0.0.0/8, cgnat,2001:db8::/32",
        "REALIP_HEADER": "X-Original-Forwarded-For, X-Forwarded-For",
        "REALIP_TRUSTED_HOPS": "2",
        "REALIP_MAX_HOPS": " 30 ",
        "REALIP_PROTO_HEADER": "X-Forwarded-Proto",
    }
    assert resolver_options_from_env(env) == {
        "trusted_proxies": ("10.0.0.0/8", "cgnat", "2001:db8::/32"),
        "header": ("X-Original-Forwarded-For", "X-Forwarded-For"),
        "trusted_hops": 2,
        "max_hops": 30,
        "proto_header": "X-Forwarded-Proto",
    }
    resolver = Resolver.from_env(env)
    assert resolver.header == ("x-original-forwarded-for", "x-forwarded-for")
    assert (resolver.trusted_hops, resolver.max_hops, resolver.proto_header) == (2, 30, "x-forwarded-proto")


def test_unset_and_empty_variables_keep_defaults() -> None:
    resolver = Resolver.from_env({"REALIP_TRUSTED_PROXIES": "  ", "REALIP_HEADER": ""})
    assert resolver.trusted_proxies == ("127.0.0.0/8", "::1/128")
    assert resolver.header == ("x-forwarded-for",)


def test_single_header_name_and_resolution() -> None:
    resolver = Resolver.from_env({"REALIP_TRUSTED_PROXIES": "10.0.0.0/8", "REALIP_HEADER": "x-real-ip"})
    assert resolver.resolve("10.1.2.3", {"X-Real-IP": "198.51.100.7"}).client_ip == "198.51.100.7"


def test_keyword_overrides_win_over_the_environment() -> None:
    resolver = Resolver.from_env({"REALIP_TRUSTED_PROXIES": "10.0.0.1/8"}, trusted_proxies=("cgnat",))
    assert resolver.trusted_proxies == ("100.64.0.0/10",)


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "cgnat")
    assert Resolver.from_env().trusted_proxies == ("100.64.0.0/10",)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"REALIP_TRUSTED_PROXIES": "10.0.0.0/8,10.0.0.1/33"},
            r"REALIP_TRUSTED_PROXIES='10.0.0.0/8,10.0.0.1/33': trusted_proxies\[1\]='10.0.0.1/33' has prefix /33",
        ),
        (
            {"REALIP_TRUSTED_PROXIES": "10.0.0.0/8,,cgnat"},
            r"REALIP_TRUSTED_PROXIES='10.0.0.0/8,,cgnat': entry 1 is empty",
        ),
        ({"REALIP_TRUSTED_HOPS": "two"}, r"REALIP_TRUSTED_HOPS='two' is not a whole number"),
        ({"REALIP_TRUSTED_HOPS": "0"}, r"REALIP_TRUSTED_HOPS='0': trusted_hops=0 must be a whole number"),
        ({"REALIP_MAX_HOPS": "-1"}, r"REALIP_MAX_HOPS='-1' is not a whole number"),
        ({"REALIP_HEADER": "x forwarded"}, r"REALIP_HEADER='x forwarded': header="),
        ({"REALIP_PROTO_HEADER": "a b"}, r"REALIP_PROTO_HEADER='a b': proto_header='a b'"),
        ({"REALIP_MAX_HOPS": "9223372036854775808"}, r"REALIP_MAX_HOPS='9223372036854775808' is not a whole number"),
        ({"REALIP_MAX_HOPS": "1001"}, r"REALIP_MAX_HOPS='1001': max_hops=1001 must be a whole number from 1 to 1000"),
        ({"REALIP_TRUSTED_HOPS": "1"}, r"REALIP_TRUSTED_HOPS='1': trusted_hops=1 \(hop-count mode\) also needs"),
        ({"REALIP_HEADER": "peer"}, r"REALIP_HEADER='peer': header='peer': 'peer' is what Result.source says"),
    ],
)
def test_bad_values_name_the_variable_and_the_entry(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Resolver.from_env(env)
