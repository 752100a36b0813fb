"""A chain of named hops (``chain``): each hop trusted only at its place, and a provider's client header believed
only from the hop next to the client. The scenario table (tests/scenarios.py, CHAIN_SCENARIOS) runs the preset
chain through every adapter and server; here are the rules one by one, the configuration errors, the explanation,
and a property against the plain walk."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realip import ConfigError, Reason, Resolver
from realip._chain import parse_chain
from realip.asgi import RealIPMiddleware
from realip.explain import explain
from tests.scenarios import CLOUDFLARE_EDGE

CHAIN = "cloudflare[cf-connecting-ip] -> clb=cgnat -> ingress=10.0.0.0/8"
INGRESS, CLB = "10.1.2.3", "100.64.3.4"
XFF, CF = "X-Forwarded-For", "CF-Connecting-IP"


def resolve(headers: dict[str, str], peer: str = INGRESS, chain: str = CHAIN, **options: Any) -> Any:
    return Resolver(chain=chain, **options).resolve(peer, headers)


# -- the declaration -----------------------------------------------------------------------------------------------


def test_a_chain_is_one_string_or_a_list_and_prints_as_written() -> None:
    as_text = parse_chain(" cloudflare[CF-Connecting-IP] ->clb=cgnat-> ingress = 10.0.0.0/8, 10.1.0.0/16 ")
    hops = ["cloudflare[cf-connecting-ip]", "clb=cgnat", "ingress=10.0.0.0/8,10.1.0.0/16"]
    as_list = parse_chain(hops)
    assert [hop.text() for hop in as_text] == [hop.text() for hop in as_list]
    assert [hop.text() for hop in as_text] == [
        "cloudflare[cf-connecting-ip]",
        "clb=cgnat",
        "ingress=10.0.0.0/8,10.1.0.0/16",
    ]
    resolver = Resolver(chain=hops)
    assert resolver.chain_text() == "cloudflare[cf-connecting-ip] -> clb=cgnat -> ingress=10.0.0.0/8,10.1.0.0/16"
    assert "100.64.0.0/10" in resolver.trusted_proxies and "10.0.0.0/8" in resolver.trusted_proxies


@pytest.mark.parametrize(
    ("chain", "says"),
    [
        ("", "hop 0 is empty"),
        ("cloudflare -> -> ingress=10.0.0.0/8", "hop 1 is empty"),
        ("edge -> ingress=10.0.0.0/8", "'edge' is not a named set or preset"),
        ("cloudflare[cf connecting] -> ingress=10.0.0.0/8", "in brackets"),
        ("cloudflare[cf-connecting-ip -> ingress=10.0.0.0/8", "in brackets"),
        ("cloudflare[x-forwarded-for]", "not a header one hop writes the client into"),
        ("ingress=10.0.0.0/8 -> ingress=10.1.0.0/16", "appears twice"),
        ("ingress=10.0.0.0/33", "hop 'ingress'"),
        ("ingress=", "hop 'ingress'"),
        ("=10.0.0.0/8", "no usable name"),
        ("in gress=10.0.0.0/8", "no usable name"),
        (42, "must be a string"),
    ],
)
def test_a_bad_chain_fails_at_start_up_naming_the_hop(chain: object, says: str) -> None:
    with pytest.raises(ConfigError) as error:
        Resolver(chain=chain)  # type: ignore[arg-type]
    assert says in str(error.value) and error.value.option == "chain"


@pytest.mark.parametrize("other", [{"trusted_proxies": ["10.0.0.0/8"]}, {"trusted_hops": 1}])
def test_a_chain_names_every_trusted_hop_so_nothing_else_may(other: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="chain and trusted_") as error:
        Resolver(chain=CHAIN, **other)
    assert error.value.option == "chain"


def test_a_client_header_must_not_be_the_chain_header() -> None:
    with pytest.raises(ConfigError, match="read apart from it"):
        Resolver(chain="cloudflare[cf-connecting-ip]", header="cf-connecting-ip")


def test_the_chain_from_the_environment_and_the_cli() -> None:
    resolver = Resolver.from_env({"REALIP_CHAIN": CHAIN})
    assert resolver.chain_text() == CHAIN
    with pytest.raises(ConfigError, match="REALIP_CHAIN='nowhere'"):
        Resolver.from_env({"REALIP_CHAIN": "nowhere"})
    with pytest.raises(ConfigError, match="chain and trusted_proxies"):
        Resolver.from_env({"REALIP_CHAIN": CHAIN, "REALIP_TRUSTED_PROXIES": "10.0.0.0/8"})
    out = subprocess.run(
        [sys.executable, "-m", "realip", "explain", "--chain", CHAIN, "--peer", INGRESS, "-H", f"{XFF}: 198.51.100.7"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert f"chain: {CHAIN}" in out and "client: 198.51.100.7" in out


# -- the walk: each hop at its place -------------------------------------------------------------------------------


def test_the_honest_path_passes_each_hop_in_order() -> None:
    result = resolve({XFF: f"192.0.2.66, 198.51.100.7, {CLOUDFLARE_EDGE}, {CLB}"})
    assert (result.client_ip, result.source, result.reason) == ("198.51.100.7", "x-forwarded-for", "untrusted-entry")
    assert result.proxies == (INGRESS, CLB, CLOUDFLARE_EDGE)


def test_a_hop_may_be_several_proxies_in_a_row_and_a_hop_may_be_absent() -> None:
    two_clbs = resolve({XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}, 100.64.9.9, {CLB}"})
    assert (two_clbs.client_ip, two_clbs.proxies) == ("198.51.100.7", (INGRESS, CLB, "100.64.9.9", CLOUDFLARE_EDGE))
    no_clb = resolve({XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}"})
    assert (no_clb.client_ip, no_clb.proxies) == ("198.51.100.7", (INGRESS, CLOUDFLARE_EDGE))
    from_the_clb = resolve({XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}"}, peer=CLB)  # the peer may be any hop
    assert (from_the_clb.client_ip, from_the_clb.proxies) == ("198.51.100.7", (CLB, CLOUDFLARE_EDGE))


def test_an_inner_hops_address_further_out_is_the_client_where_trusted_proxies_would_believe_it() -> None:
    headers = {XFF: f"198.51.100.7, 10.0.0.9, {CLB}"}
    in_place = resolve(headers)
    assert (in_place.client_ip, in_place.proxies) == ("10.0.0.9", (INGRESS, CLB))
    union = Resolver(trusted_proxies=["cloudflare", "cgnat", "10.0.0.0/8"]).resolve(INGRESS, headers)
    assert union.client_ip == "198.51.100.7"  # the plain walk believes the forged hop


def test_a_peer_outside_every_hop_is_the_client() -> None:
    result = resolve({XFF: "198.51.100.7", CF: "198.51.100.7"}, peer="203.0.113.50")
    assert (result.client_ip, result.reason) == ("203.0.113.50", Reason.UNTRUSTED_PEER)


# -- the provider's client header ----------------------------------------------------------------------------------


def test_the_providers_header_is_the_client_when_the_hop_next_to_the_client_is_the_provider() -> None:
    result = resolve({XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}, {CLB}", CF: "198.51.100.7"})
    assert (result.client_ip, result.source, result.reason) == ("198.51.100.7", "cf-connecting-ip", "provider-header")
    assert result.proxies == (INGRESS, CLB, CLOUDFLARE_EDGE)


def test_the_providers_header_from_the_provider_as_the_peer() -> None:
    result = resolve({CF: "2001:db8::7"}, peer=CLOUDFLARE_EDGE)
    assert (result.client_ip, result.source, result.proxies) == ("2001:db8::7", "cf-connecting-ip", (CLOUDFLARE_EDGE,))


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        ({XFF: f"203.0.113.9, {CLB}", CF: "198.51.100.7"}, "203.0.113.9"),  # around the provider: forged
        ({XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}, 203.0.113.9, {CLB}", CF: "198.51.100.7"}, "203.0.113.9"),
        ({CF: "198.51.100.7"}, INGRESS),  # no chain at all: the ingress is not the provider
        ({XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}, {CLB}", CF: "not-an-address"}, "198.51.100.7"),
        ({XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}, {CLB}", CF: ""}, "198.51.100.7"),
        ({XFF: f"junk, {CLOUDFLARE_EDGE}, {CLB}", CF: "198.51.100.7"}, CLOUDFLARE_EDGE),  # an invalid entry ended it
    ],
)
def test_the_providers_header_is_refused_otherwise(headers: dict[str, str], client: str) -> None:
    result = resolve(headers)
    assert result.client_ip == client and result.source != "cf-connecting-ip"


def test_the_providers_header_is_refused_at_the_hop_limit() -> None:
    headers = {XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}, {CLB}", CF: "192.0.2.66"}
    assert resolve(headers, max_hops=2).reason is Reason.HOP_LIMIT


def test_a_port_in_the_providers_header_is_the_clients() -> None:
    result = resolve({CF: "198.51.100.7:4711"}, peer=CLOUDFLARE_EDGE)
    assert (result.client_ip, result.client_port) == ("198.51.100.7", 4711)


def test_a_hop_without_a_header_in_brackets_never_reads_one() -> None:
    result = resolve({XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}", CF: "192.0.2.66"}, chain="cloudflare -> ingress=private")
    assert (result.client_ip, result.source) == ("198.51.100.7", "x-forwarded-for")


def test_strip_untrusted_keeps_the_providers_header_only_when_believed() -> None:
    def headers_seen(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
        seen: dict[str, Any] = {}

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.update((n.decode(), v.decode()) for n, v in scope["headers"])

        middleware = RealIPMiddleware(app, chain=CHAIN, strip_untrusted=True)
        scope = {"type": "http", "client": (INGRESS, 5000), "headers": headers, "path": "/", "root_path": ""}
        asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
        return seen

    believed = headers_seen(
        [
            (b"x-forwarded-for", f"198.51.100.7, {CLOUDFLARE_EDGE}, {CLB}".encode()),
            (b"cf-connecting-ip", b"198.51.100.7"),
        ]
    )
    assert believed["cf-connecting-ip"] == "198.51.100.7"
    forged = headers_seen(
        [(b"x-forwarded-for", f"203.0.113.9, {CLB}".encode()), (b"cf-connecting-ip", b"198.51.100.7")]
    )
    assert "cf-connecting-ip" not in forged and forged["x-forwarded-for"] == f"203.0.113.9, {CLB}"


# -- the explanation -----------------------------------------------------------------------------------------------


def test_explain_prints_the_chain_and_the_hop_each_address_is_trusted_as() -> None:
    resolver = Resolver(chain=CHAIN)
    headers = {XFF: f"198.51.100.7, {CLOUDFLARE_EDGE}, {CLB}", CF: "198.51.100.7"}
    explanation = explain(resolver, INGRESS, headers)
    assert [step.verdict for step in explanation.steps] == [
        "trusted (ingress)",
        "trusted (clb)",
        "trusted (cloudflare)",
        "untrusted",
        "the client, as cloudflare wrote it",
    ]
    assert explanation.text().splitlines()[0] == f"chain: {CHAIN}"
    assert "the hop next to the client is cloudflare" in explanation.why
    assert json.loads(json.dumps(explanation.as_dict()))["chain"] == CHAIN
    out_of_place = explain(resolver, INGRESS, {XFF: f"198.51.100.7, 10.0.0.9, {CLB}"})
    assert [step.verdict for step in out_of_place.steps][-1] == "untrusted"


# -- against the plain walk ----------------------------------------------------------------------------------------

HOPS = {
    "ingress": ["10.0.0.1", "10.200.0.7"],
    "clb": ["100.64.3.4", "100.127.0.1"],
    "cloudflare": [CLOUDFLARE_EDGE, "2606:4700::1"],
    "client": ["198.51.100.7", "203.0.113.9", "2001:db8::7", "junk"],
}


@given(st.lists(st.sampled_from([address for addresses in HOPS.values() for address in addresses]), max_size=8))
def test_a_chain_never_believes_more_than_the_same_proxies_as_one_set(entries: list[str]) -> None:
    """Whatever the entries, the chain's walk stops where the plain walk over the same proxies does, or earlier (an
    address out of its place), and never believes an address the plain walk would not."""
    headers = {XFF: ", ".join(entries)}
    chain = Resolver(chain="cloudflare -> clb=cgnat -> ingress=10.0.0.0/8").resolve(INGRESS, headers)
    plain = Resolver(trusted_proxies=["cloudflare", "cgnat", "10.0.0.0/8"]).resolve(INGRESS, headers)
    assert chain.examined <= plain.examined
    assert set(chain.proxies) <= set(plain.proxies) | {chain.client_ip}
    assert plain.proxies[: len(chain.proxies)] == chain.proxies
    ranks = {address: rank for rank, hop in enumerate(("ingress", "clb", "cloudflare")) for address in HOPS[hop]}
    trusted_from_right: list[int] = []
    for address in reversed(entries):
        if address not in ranks:
            break
        trusted_from_right.append(ranks[address])
    if trusted_from_right == sorted(trusted_from_right):  # every proxy in its place: the two walks agree
        assert chain == plain
    else:
        assert chain.examined < plain.examined or plain.reason is not Reason.UNTRUSTED_ENTRY
