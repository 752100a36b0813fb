"""Hypothesis properties: spoof resistance, answers drawn from the request, never raising, canonical round trips,
and hop-count mode agreeing with CIDR mode."""

from __future__ import annotations

import ipaddress

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from realip import Resolver
from realip._address import parse_address
from realip._trust import compile_trust
from realip._walk import PureTrust
from realip.explain import explain
from tests.kernel.inputs import on

TRUSTED_NETS = ("10.0.0.0/8", "100.64.0.0/10", "2001:db8:f::/48")
RESOLVER = Resolver(trusted_proxies=TRUSTED_NETS)
FORWARDED = Resolver(trusted_proxies=TRUSTED_NETS, header="forwarded")


def _v4(network: str) -> st.SearchStrategy[str]:
    net = ipaddress.ip_network(network)
    return st.integers(0, net.num_addresses - 1).map(lambda i: str(net[i]))


trusted_ip = st.one_of(_v4("10.0.0.0/8"), _v4("100.64.0.0/10"), _v4("2001:db8:f::/48"))
untrusted_ip = st.one_of(_v4("198.51.100.0/24"), _v4("203.0.113.0/24"), _v4("192.0.2.0/24"), _v4("2001:db8:a::/48"))


def spelled(ip: str) -> st.SearchStrategy[str]:
    """The ways a proxy may write an address: bare, with a port, IPv6 bracketed."""
    if ":" in ip:
        return st.sampled_from([ip, f"[{ip}]", f"[{ip}]:443", ip.upper()])
    return st.sampled_from([ip, f"{ip}:8080", f"::ffff:{ip}"])


def fwd(entry: str) -> str:
    return f'for="{entry}"' if ":" in entry else f"for={entry}"


@st.composite
def honest_chain(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A client (untrusted) and the trusted proxies' entries to its right."""
    client = draw(untrusted_ip.flatmap(spelled))
    hops = draw(st.lists(trusted_ip.flatmap(spelled), max_size=5))
    return client, hops


junk = st.text(alphabet=st.characters(codec="latin-1"), max_size=60)


@given(honest_chain(), junk, trusted_ip)
def test_spoof_resistance_list_header(chain: tuple[str, list[str]], prefix: str, peer: str) -> None:
    client, hops = chain
    honest = ", ".join([client, *hops])
    expected = RESOLVER.resolve(peer, [("X-Forwarded-For", honest)])
    assert expected.client_ip == parse_address(client).ip  # type: ignore[union-attr]
    forged_same_line = RESOLVER.resolve(peer, [("X-Forwarded-For", f"{prefix},{honest}")])
    forged_own_line = RESOLVER.resolve(peer, [("X-Forwarded-For", prefix), ("X-Forwarded-For", honest)])
    assert forged_same_line == expected == forged_own_line


@given(honest_chain(), junk, st.lists(st.one_of(untrusted_ip, trusted_ip, junk), max_size=4), trusted_ip)
def test_spoof_resistance_forwarded(chain: tuple[str, list[str]], prefix: str, elements: list[str], peer: str) -> None:
    client, hops = chain
    honest = ", ".join(fwd(e) for e in [client, *hops])
    expected = FORWARDED.resolve(peer, [("Forwarded", honest)])
    assert expected.client_ip == parse_address(client).ip  # type: ignore[union-attr]
    # A client's own header line, whatever it holds, never changes the answer.
    assert FORWARDED.resolve(peer, [("Forwarded", prefix), ("Forwarded", honest)]) == expected
    # Whole elements prepended on the same line never change it either.
    prepended = ", ".join([*(fwd(e) for e in elements), honest])
    assert FORWARDED.resolve(peer, [("Forwarded", prepended)]) == expected
    # Arbitrary text on the same line (stray quotes included) cannot reach into the proxies' elements.
    assert FORWARDED.resolve(peer, [("Forwarded", f"{prefix},{honest}")]) == expected


@given(st.one_of(trusted_ip, untrusted_ip), st.lists(st.one_of(junk, trusted_ip, untrusted_ip), max_size=8))
def test_answer_is_the_peer_or_a_chain_entry_in_canonical_text(peer: str, entries: list[str]) -> None:
    result = RESOLVER.resolve(peer, [("X-Forwarded-For", ", ".join(entries))])
    candidates = {parse_address(e).ip for e in entries if parse_address(e) is not None}  # type: ignore[union-attr]
    assert result.client_ip == peer or result.client_ip in candidates
    assert result.client_ip == str(ipaddress.ip_address(result.client_ip))  # type: ignore[arg-type]
    assert result.examined <= RESOLVER.max_hops


@settings(max_examples=max(300, settings.default.max_examples))
@given(
    st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=300)), max_size=6),
    st.sampled_from(["x-forwarded-for", "forwarded", "x-real-ip"]),
    st.one_of(st.none(), st.integers(1, 3)),
    st.one_of(st.none(), st.text(max_size=20), st.tuples(st.text(max_size=10), st.integers())),
)
def test_any_header_bytes_never_raise(
    raw: list[tuple[bytes, bytes]], header: str, hops: int | None, peer: object
) -> None:
    resolver = Resolver(
        trusted_proxies=("0.0.0.0/0", "::/0", "unix"),
        header=header,
        trusted_hops=hops,
        proto_header="x-forwarded-proto",
    )
    named = [(header.encode() if i % 2 else name, value) for i, (name, value) in enumerate(raw)]
    named += [(b"x-forwarded-proto", value) for _, value in raw[:2]]
    result = resolver.resolve(peer, named)  # type: ignore[arg-type]
    assert result.examined <= resolver.max_hops
    assert result.scheme in (None, "http", "https")
    text_result = resolver.resolve("10.0.0.1", [(n.decode("latin-1"), v.decode("latin-1")) for n, v in named])
    assert text_result.client_ip is not None


@given(st.one_of(untrusted_ip, trusted_ip).flatmap(spelled), trusted_ip)
def test_canonical_text_round_trips(entry: str, peer: str) -> None:
    first = RESOLVER.resolve(peer, {"X-Forwarded-For": entry})
    again = RESOLVER.resolve(peer, {"X-Forwarded-For": first.client_ip})  # type: ignore[dict-item]
    assert again.client_ip == first.client_ip
    forwarded = FORWARDED.resolve(peer, {"Forwarded": fwd(first.client_ip)})  # type: ignore[arg-type]
    assert forwarded.client_ip == first.client_ip


@given(untrusted_ip, st.lists(trusted_ip, max_size=6), st.lists(st.one_of(junk, untrusted_ip), max_size=3), trusted_ip)
def test_hop_mode_agrees_with_cidr_mode(client: str, hops: list[str], left: list[str], peer: str) -> None:
    assume(all("," not in item for item in left))
    chain = ", ".join([*left, client, *hops])
    cidr = RESOLVER.resolve(peer, {"X-Forwarded-For": chain})
    counted = Resolver(trusted_proxies=TRUSTED_NETS, trusted_hops=len(hops) + 1).resolve(
        peer, {"X-Forwarded-For": chain}
    )
    unchecked = Resolver(trusted_proxies=("any",), trusted_hops=len(hops) + 1).resolve(peer, {"X-Forwarded-For": chain})
    assert cidr.client_ip == counted.client_ip == unchecked.client_ip == client
    assert cidr.source == counted.source


@given(st.one_of(trusted_ip, untrusted_ip), st.lists(st.one_of(junk, trusted_ip, untrusted_ip), max_size=8))
def test_explanation_agrees_with_the_resolver(peer: str, entries: list[str]) -> None:
    headers = [("X-Forwarded-For", ", ".join(entries))]
    explanation = explain(RESOLVER, peer, headers)
    assert explanation.result == RESOLVER.resolve(peer, headers)
    assert len(explanation.steps) == explanation.result.examined + 1
    last = explanation.steps[-1]
    if explanation.result.source != "peer" and last.verdict != "invalid":
        assert last.address == explanation.result.client_ip


trusted_v4 = st.one_of(_v4("10.0.0.0/8"), _v4("100.64.0.0/10"))
fast_entry = st.one_of(trusted_v4, trusted_v4, trusted_ip.flatmap(spelled), untrusted_ip.flatmap(spelled), junk)


@settings(max_examples=max(400, settings.default.max_examples))
@example("10.0.0.9", 1, [(b"x-forwarded-for", "10.0.0.1, 10.0.0.2")], 1)  # hop limit
@example("10.0.0.9", 1, [(b"x-forwarded-for", "10.0.0.1, 10.0.0.2")], 2)  # all trusted: the leftmost
@example("10.0.0.9", 1, [(b"x-forwarded-for", "198.51.100.7, junk, 10.0.0.2")], 6)  # invalid after trusted
@example("10.0.0.9", 1, [(b"X-Forwarded-For", "[2001:db8::7]:443, 100.64.0.1:80")], 6)  # ports, IPv6
@example("10.0.0.9", 1, [(b"x-forwarded-for", ' , "198.51.100.7",')], 6)  # quotes and empty elements
@given(
    st.one_of(trusted_v4, trusted_v4, untrusted_ip, junk),
    st.integers(0, 65535),
    st.lists(
        st.tuples(
            st.sampled_from([b"x-forwarded-for", b"X-Forwarded-For", "x-forwarded-for", b"x-forwarded-fox", b"host"]),
            st.lists(fast_entry, max_size=8).map(", ".join),
        ),
        max_size=3,
    ),
    st.integers(1, 6),
)
def test_every_form_and_both_implementations_agree(
    peer: str, port: int, headers: list[tuple[object, str]], hops: int
) -> None:
    """ASGI-style lists, tuples of the same pairs, and a Resolver on the pure twin instead of the kernel (when it is
    built) all give the same Result."""
    resolver = Resolver(trusted_proxies=TRUSTED_NETS, max_hops=hops)
    pure = Resolver(trusted_proxies=TRUSTED_NETS, max_hops=hops)
    on(pure, PureTrust(compile_trust(TRUSTED_NETS)))
    encoded = [(name, value.encode("latin-1") if isinstance(name, bytes) else value) for name, value in headers]
    expected = pure.resolve((peer, port), encoded)  # type: ignore[arg-type]
    assert resolver.resolve((peer, port), encoded) == expected  # type: ignore[arg-type]
    assert resolver.resolve((peer, port), tuple(encoded)) == expected  # type: ignore[arg-type]
