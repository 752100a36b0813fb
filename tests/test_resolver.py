"""The walk: every rule of the contract (CIDR mode, hop-count mode, Forwarded, ports, proxies, scheme, limits)."""

from __future__ import annotations

import logging

import pytest

import realip.resolver
from realip import ConfigError, Reason, Resolver

TRUST = ("10.0.0.0/8", "cgnat")
XFF = "X-Forwarded-For"


def resolve(xff: str | None, peer: object = "10.1.2.3", **options: object) -> tuple[object, ...]:
    options.setdefault("trusted_proxies", TRUST)
    headers = [] if xff is None else [(XFF, xff)]
    r = Resolver(**options).resolve(peer, headers)  # type: ignore[arg-type]
    return r.client_ip, r.client_port, r.source, r.reason


# -- CIDR mode ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xff", "expected"),
    [
        ("198.51.100.7, 100.64.3.4", ("198.51.100.7", None, "x-forwarded-for", Reason.UNTRUSTED_ENTRY)),
        ("192.0.2.1, 198.51.100.7, 100.64.3.4", ("198.51.100.7", None, "x-forwarded-for", Reason.UNTRUSTED_ENTRY)),
        ("10.0.0.5, 100.64.3.4", ("10.0.0.5", None, "x-forwarded-for", Reason.ALL_TRUSTED)),
        ("198.51.100.7, bogus, 100.64.3.4", ("100.64.3.4", None, "x-forwarded-for", Reason.INVALID_ENTRY)),
        ("bogus", ("10.1.2.3", None, "peer", Reason.INVALID_ENTRY)),
        ("unknown, 100.64.3.4", ("100.64.3.4", None, "x-forwarded-for", Reason.INVALID_ENTRY)),
        ("", ("10.1.2.3", None, "peer", Reason.NO_HEADER)),
        (" , ,\t", ("10.1.2.3", None, "peer", Reason.NO_HEADER)),
        (None, ("10.1.2.3", None, "peer", Reason.NO_HEADER)),
        ("198.51.100.7,,, ,100.64.3.4", ("198.51.100.7", None, "x-forwarded-for", Reason.UNTRUSTED_ENTRY)),
        ("198.51.100.7:8080, 100.64.3.4:443", ("198.51.100.7", 8080, "x-forwarded-for", Reason.UNTRUSTED_ENTRY)),
        ("[2001:db8::7]:1234", ("2001:db8::7", 1234, "x-forwarded-for", Reason.UNTRUSTED_ENTRY)),
        ("10.0.0.5:99", ("10.0.0.5", 99, "x-forwarded-for", Reason.ALL_TRUSTED)),
    ],
)
def test_cidr_walk(xff: str | None, expected: tuple[object, ...]) -> None:
    assert resolve(xff) == expected


def test_untrusted_peer_ignores_headers_entirely() -> None:
    r = Resolver(trusted_proxies=TRUST).resolve(("203.0.113.9", 5000), {XFF: "198.51.100.7"})
    assert (r.client_ip, r.client_port, r.source, r.reason, r.proxies) == (
        "203.0.113.9",
        5000,
        "peer",
        Reason.UNTRUSTED_PEER,
        (),
    )


def test_peer_port_is_client_port_when_client_is_peer() -> None:
    r = Resolver(trusted_proxies=TRUST).resolve(("10.1.2.3", 4321), {XFF: "junk"})
    assert (r.client_ip, r.client_port, r.peer_port) == ("10.1.2.3", 4321, 4321)


def test_proxies_are_the_trusted_hops_passed_nearest_first() -> None:
    r = Resolver(trusted_proxies=TRUST).resolve("10.1.2.3", {XFF: "198.51.100.7, 10.9.9.9, 100.64.3.4"})
    assert r.proxies == ("10.1.2.3", "100.64.3.4", "10.9.9.9")
    # All trusted: the leftmost is the client, not a proxy passed through.
    r = Resolver(trusted_proxies=TRUST).resolve("10.1.2.3", {XFF: "10.9.9.9, 100.64.3.4"})
    assert (r.client_ip, r.proxies) == ("10.9.9.9", ("10.1.2.3", "100.64.3.4"))
    # Invalid entry: the client is the last trusted address reached.
    r = Resolver(trusted_proxies=TRUST).resolve("10.1.2.3", {XFF: "x, 100.64.3.4"})
    assert (r.client_ip, r.proxies) == ("100.64.3.4", ("10.1.2.3",))
    r = Resolver(trusted_proxies=TRUST).resolve("10.1.2.3", {XFF: "x"})
    assert (r.client_ip, r.proxies) == ("10.1.2.3", ())


def test_max_hops_bounds_the_walk() -> None:
    chain = ", ".join(["198.51.100.7"] + [f"10.0.0.{i}" for i in range(1, 6)])
    r = Resolver(trusted_proxies=TRUST, max_hops=3).resolve("10.1.2.3", {XFF: chain})
    assert (r.client_ip, r.reason, r.examined) == ("10.0.0.3", Reason.HOP_LIMIT, 3)
    r = Resolver(trusted_proxies=TRUST, max_hops=6).resolve("10.1.2.3", {XFF: chain})
    assert (r.client_ip, r.reason, r.examined) == ("198.51.100.7", Reason.UNTRUSTED_ENTRY, 6)
    # Exactly max_hops entries, all trusted: the leftmost, not a hop-limit stop.
    r = Resolver(trusted_proxies=TRUST, max_hops=2).resolve("10.1.2.3", {XFF: "10.0.0.1, 10.0.0.2"})
    assert (r.client_ip, r.reason) == ("10.0.0.1", Reason.ALL_TRUSTED)


def test_empty_elements_do_not_count_towards_max_hops() -> None:
    r = Resolver(trusted_proxies=TRUST, max_hops=2).resolve("10.1.2.3", {XFF: "198.51.100.7,,,, ,100.64.3.4,,"})
    assert (r.client_ip, r.examined) == ("198.51.100.7", 2)


def test_one_megabyte_header_examines_at_most_max_hops() -> None:
    huge = ", ".join(["10.0.0.1"] * 120_000)  # over 1 MB, every entry trusted
    assert len(huge) > 1_000_000
    r = Resolver(trusted_proxies=TRUST).resolve("10.1.2.3", [(XFF, huge)])
    assert (r.client_ip, r.reason, r.examined) == ("10.0.0.1", Reason.HOP_LIMIT, 20)
    commas = "198.51.100.7" + "," * 1_000_000 + "100.64.3.4"  # empty elements: skipped, not counted
    r = Resolver(trusted_proxies=TRUST).resolve("10.1.2.3", [(XFF, commas)])
    assert (r.client_ip, r.examined) == ("198.51.100.7", 2)
    quotes = 'for="\\",' * 150_000  # stray quotes in Forwarded: still linear, every element invalid
    r = Resolver(trusted_proxies=TRUST, header="forwarded").resolve("10.1.2.3", [("Forwarded", quotes)])
    assert (r.client_ip, r.reason, r.examined) == ("10.1.2.3", Reason.INVALID_ENTRY, 1)


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("for=" + " " * 64_000 + "x, for=198.51.100.7", "198.51.100.7"),  # was 29 s: a lazy regex backtracking
        (";".join(f"a{index}=1" for index in range(150_000)), "10.1.2.3"),  # 1.3 MB of pairs: was re-sliced per pair
        ('for="' + '\\"' * 500_000 + '", for=198.51.100.7', "198.51.100.7"),  # escaped quotes
        ('for="' + "\\" * 1_000_000 + '"', "10.1.2.3"),  # backslashes
        ('"' * 1_000_000 + ", for=198.51.100.7;proto=https", "198.51.100.7"),  # stray quotes left of our element
    ],
    ids=["64 KB of spaces", "1.3 MB of pairs", "escaped quotes", "backslashes", "stray quotes"],
)
def test_forwarded_parsing_is_linear_in_the_header(value: str, client: str) -> None:
    """Inputs that took seconds to minutes with the regular expressions now parse in one pass; the client's own
    element (read for proto=) included. A quadratic parse would stall CI far beyond its time budget."""
    for proto in (None, "forwarded"):
        resolver = Resolver(trusted_proxies=TRUST, header="forwarded", proto_header=proto)
        assert resolver.resolve("10.1.2.3", {"Forwarded": value}).client_ip == client


# -- headers: forms, repeats, chains ------------------------------------------------------------------------


def test_repeated_header_lines_join_in_order() -> None:
    r = Resolver(trusted_proxies=TRUST).resolve(
        "10.1.2.3", [(XFF, "192.0.2.1, 198.51.100.7"), ("x-forwarded-for", "100.64.3.4")]
    )
    assert (r.client_ip, r.proxies) == ("198.51.100.7", ("10.1.2.3", "100.64.3.4"))


def test_header_names_are_case_insensitive_in_every_input_form() -> None:
    resolver = Resolver(trusted_proxies=TRUST)
    for headers in (
        {"X-FORWARDED-FOR": "198.51.100.7"},
        {"x-forwarded-for": "198.51.100.7"},
        [(b"x-forwarded-for", b"198.51.100.7")],
        [(b"X-Forwarded-For", b"198.51.100.7")],
        [("X-Forwarded-For", b"198.51.100.7")],
        iter([("x-forwarded-for", "198.51.100.7")]),
    ):
        assert resolver.resolve("10.1.2.3", headers).client_ip == "198.51.100.7"  # type: ignore[arg-type]


def test_bytes_values_are_latin1_and_junk_is_invalid() -> None:
    r = Resolver(trusted_proxies=TRUST).resolve("10.1.2.3", [(b"x-forwarded-for", b"\xff\xfe1.2.3.4, 100.64.3.4")])
    assert (r.client_ip, r.reason) == ("100.64.3.4", Reason.INVALID_ENTRY)


@pytest.mark.parametrize(
    "headers",
    [
        [(bytearray(b"X-Forwarded-For"), b"198.51.100.7")],
        [(memoryview(b"x-forwarded-for"), memoryview(b"198.51.100.7"))],
        [("x-forwarded-for", bytearray(b"198.51.100.7"))],
        [(b"x-forwarded-for", memoryview(b" 198.51.100.7, 100.64.3.4")[1:])],
        ((b"X-FORWARDED-FOR", "198.51.100.7"),),
    ],
    ids=["bytearray name", "memoryview name and value", "bytearray value", "memoryview slice", "tuple of pairs"],
)
def test_any_bytes_like_name_or_value_is_read(headers: list[tuple[object, object]]) -> None:
    for resolver in (
        Resolver(trusted_proxies=TRUST),
        Resolver(trusted_proxies=TRUST, proto_header="x-forwarded-proto"),
    ):
        r = resolver.resolve("10.1.2.3", headers)  # type: ignore[arg-type]
        assert (r.client_ip, r.source) == ("198.51.100.7", "x-forwarded-for")


def test_header_spellings_are_remembered_but_only_so_many() -> None:
    """Names seen in requests are remembered so the next request matches them in one lookup, but a client making
    up names cannot grow that memory, and a remembered spelling never changes an answer."""
    resolver = Resolver(trusted_proxies=TRUST)
    for index in range(5000):
        r = resolver.resolve("10.1.2.3", [(f"x-junk-{index}".encode(), b"1"), (b"X-Forwarded-FOR", b"198.51.100.7")])
        assert r.client_ip == "198.51.100.7"
    assert len(resolver._slots) <= 256


def test_single_address_header_is_a_list_of_one() -> None:
    resolver = Resolver(trusted_proxies=TRUST, header="X-Real-IP")
    assert resolver.resolve("10.1.2.3", {"X-Real-IP": "198.51.100.7"}).source == "x-real-ip"
    assert resolver.resolve("10.1.2.3", {XFF: "198.51.100.7"}).client_ip == "10.1.2.3"  # no fallback to XFF
    assert resolver.resolve("10.1.2.3", {"cf-connecting-ip": "198.51.100.7"}).client_ip == "10.1.2.3"


def test_tuple_of_names_concatenates_one_chain_in_order() -> None:
    resolver = Resolver(trusted_proxies=TRUST, header=("x-original-forwarded-for", "x-forwarded-for"))
    r = resolver.resolve("10.1.2.3", {"X-Forwarded-For": "100.64.0.9", "X-Original-Forwarded-For": "198.51.100.7"})
    assert (r.client_ip, r.source, r.proxies) == (
        "198.51.100.7",
        "x-original-forwarded-for",
        ("10.1.2.3", "100.64.0.9"),
    )
    r = resolver.resolve("10.1.2.3", {"X-Forwarded-For": "198.51.100.7"})
    assert (r.client_ip, r.source) == ("198.51.100.7", "x-forwarded-for")


# -- RFC 7239 Forwarded -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("for=198.51.100.7", ("198.51.100.7", None)),
        ("For=198.51.100.7", ("198.51.100.7", None)),
        ("FOR=198.51.100.7;proto=https;by=10.0.0.1", ("198.51.100.7", None)),
        ('for="198.51.100.7:8080"', ("198.51.100.7", 8080)),
        ("for=198.51.100.7:8080", ("198.51.100.7", 8080)),
        ('for="[2001:db8::7]:4711"', ("2001:db8::7", 4711)),
        ("for=[2001:db8::7]:4711", ("2001:db8::7", 4711)),
        ('for="2001:db8::7"', ("2001:db8::7", None)),
        ('for="[2001:db8::7]"', ("2001:db8::7", None)),
        ("proto=https; for=198.51.100.7 ;by=x", ("198.51.100.7", None)),
        ('host="a,b;c"; for=198.51.100.7', ("198.51.100.7", None)),  # , and ; inside quotes do not split
        ("for=198.51.100.7, for=100.64.3.4", ("198.51.100.7", None)),
        ("for=198.51.100.7,, ,for=100.64.3.4", ("198.51.100.7", None)),
        ('for="\\198.51.100.7"', ("198.51.100.7", None)),  # quoted-pair unescaped
    ],
)
def test_forwarded_for_values(value: str, client: tuple[str, int | None]) -> None:
    r = Resolver(trusted_proxies=TRUST, header="forwarded").resolve("10.1.2.3", {"Forwarded": value})
    assert (r.client_ip, r.client_port, r.source) == (*client, "forwarded")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("for=unknown", "unknown node"),
        ("for=_hidden", "obfuscated identifier"),
        ('for="_hidden"', "quoted obfuscated identifier"),
        ("proto=https", "element without for="),
        ("for=198.51.100.7;for=198.51.100.8", "for= twice in one element"),
        ('for="198.51.100.7', "unmatched quote"),
        ("for", "pair without ="),
        ("for=198.51.100.7 junk", "junk after the value"),
        ('for="198.51.100.7"x', "junk after a quoted value"),
    ],
)
def test_forwarded_invalid_elements_stop_the_walk(value: str, why: str) -> None:
    resolver = Resolver(trusted_proxies=TRUST, header="forwarded")
    r = resolver.resolve("10.1.2.3", {"Forwarded": value + ", for=100.64.3.4"})
    assert (r.client_ip, r.reason) == ("100.64.3.4", Reason.INVALID_ENTRY), why


@pytest.mark.parametrize(
    "value",
    [
        'for="192.0.2.66, for=198.51.100.7, for=100.64.3.4',
        'for="192.0.2.66, for="198.51.100.7", for="100.64.3.4"',  # a stray quote cannot pair with the proxies'
        'for=192.0.2.66;x="\\", for="198.51.100.7";proto=https, for=100.64.3.4',
    ],
)
def test_forwarded_stray_quote_does_not_swallow_the_proxy_elements(value: str) -> None:
    r = Resolver(trusted_proxies=TRUST, header="forwarded").resolve("10.1.2.3", {"Forwarded": value})
    assert (r.client_ip, r.reason) == ("198.51.100.7", Reason.UNTRUSTED_ENTRY)


# -- hop-count mode -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hops", "xff", "expected"),
    [
        (1, "192.0.2.1, 198.51.100.7", ("198.51.100.7", None, "x-forwarded-for", Reason.HOP_COUNT)),
        (2, "192.0.2.1, 198.51.100.7, 100.64.3.4", ("198.51.100.7", None, "x-forwarded-for", Reason.HOP_COUNT)),
        (2, "198.51.100.7:99, 203.0.113.1", ("198.51.100.7", 99, "x-forwarded-for", Reason.HOP_COUNT)),
        (2, "10.0.0.1, 100.64.0.1", ("10.0.0.1", None, "x-forwarded-for", Reason.HOP_COUNT)),  # not trust-checked
        (3, "198.51.100.7, 100.64.3.4", ("10.1.2.3", None, "peer", Reason.SHORT_CHAIN)),
        (2, "garbage, 100.64.3.4", ("10.1.2.3", None, "peer", Reason.INVALID_ENTRY)),
        (2, "198.51.100.7, garbage", ("198.51.100.7", None, "x-forwarded-for", Reason.HOP_COUNT)),  # not parsed
        (1, None, ("10.1.2.3", None, "peer", Reason.NO_HEADER)),
    ],
)
def test_hop_count_mode(hops: int, xff: str | None, expected: tuple[object, ...]) -> None:
    assert resolve(xff, trusted_hops=hops, trusted_proxies=("any",)) == expected


def test_hop_count_mode_always_checks_the_peer() -> None:
    assert resolve("198.51.100.7", peer="203.0.113.9", trusted_hops=1)[0] == "203.0.113.9"
    assert resolve("198.51.100.7", peer="10.1.2.3", trusted_hops=1)[0] == "198.51.100.7"


@pytest.mark.parametrize("any_peer", ["any", "*", "ANY"])
def test_any_peer_is_trusted_only_when_written_down(any_peer: str) -> None:
    """The hop counters' trust-all (werkzeug, hypercorn) must be asked for by name; None is not enough."""
    assert resolve("198.51.100.7", peer="203.0.113.9", trusted_hops=1, trusted_proxies=(any_peer,))[0] == "198.51.100.7"
    assert resolve("198.51.100.7", peer=None, trusted_hops=1, trusted_proxies=(any_peer,))[0] == "198.51.100.7"
    assert resolve("198.51.100.7", peer="2001:db8::9", trusted_hops=1, trusted_proxies=(any_peer,))[0] == "198.51.100.7"


def test_hop_count_mode_without_trusted_proxies_is_refused_with_the_way_to_trust_any_peer() -> None:
    with pytest.raises(
        ConfigError, match=r"trusted_hops=1 \(hop-count mode\) also needs trusted_proxies.*\['any'\]"
    ) as error:
        Resolver(trusted_hops=1)
    assert error.value.option == "trusted_hops"


# -- peers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "normalized", "port"),
    [
        ("10.1.2.3", "10.1.2.3", None),
        ("::ffff:10.1.2.3", "10.1.2.3", None),
        (("::ffff:10.1.2.3", 5555), "10.1.2.3", 5555),
        ("[::1]", "::1", None),
        (("::1", 80), "::1", 80),
        ("10.1.2.3:81", "10.1.2.3", 81),
        (["10.1.2.3", 82], "10.1.2.3", 82),
        (("10.1.2.3", "51158"), "10.1.2.3", 51158),  # granian's ASGI port, a string of digits
        (["10.1.2.3", "65535"], "10.1.2.3", 65535),
        (("10.1.2.3", "65536"), "10.1.2.3", None),  # not a port
        (("10.1.2.3", "+80"), "10.1.2.3", None),
        (("10.1.2.3", "\uff18\uff10"), "10.1.2.3", None),  # fullwidth digits: isdigit(), not ASCII
        (("10.1.2.3", "123456"), "10.1.2.3", None),
        (("10.1.2.3", 80.0), "10.1.2.3", None),
    ],
)
def test_peer_forms(peer: object, normalized: str, port: int | None) -> None:
    r = Resolver(trusted_proxies=("10.0.0.0/8", "loopback")).resolve(peer, {XFF: "198.51.100.7"})  # type: ignore[arg-type]
    assert (r.peer, r.peer_port, r.client_ip) == (normalized, port, "198.51.100.7")


def test_unix_socket_peer() -> None:
    untrusted = Resolver().resolve(None, {XFF: "198.51.100.7"})
    assert (untrusted.client_ip, untrusted.peer, untrusted.source) == (None, None, "peer")
    trusted = Resolver(trusted_proxies=("unix",)).resolve(None, {XFF: "198.51.100.7"})
    assert (trusted.client_ip, trusted.proxies) == ("198.51.100.7", ())
    no_header = Resolver(trusted_proxies=("unix",)).resolve(None, {})
    assert (no_header.client_ip, no_header.reason) == (None, Reason.NO_HEADER)


def test_peer_that_is_not_an_ip_is_never_trusted_and_reported_as_given() -> None:
    r = Resolver(trusted_proxies=("0.0.0.0/0", "::/0")).resolve(("testclient", 50000), {XFF: "198.51.100.7"})
    assert (r.client_ip, r.client_port, r.reason) == ("testclient", 50000, Reason.UNTRUSTED_PEER)


def test_repr_and_trusted_proxies_say_what_is_really_trusted() -> None:
    assert repr(Resolver(trusted_proxies=("any",), trusted_hops=1)).startswith(
        "Resolver(trusted_proxies=('0.0.0.0/0', '::/0', 'unix'), header=('x-forwarded-for',), trusted_hops=1"
    )
    assert Resolver().trusted_proxies == ("127.0.0.0/8", "::1/128")


@pytest.mark.parametrize(
    "entries", [("any",), ("*",), ("0.0.0.0/0",), ("10.0.0.0/8", "::/0"), ("0.0.0.0/1", "128.0.0.0/1")]
)
def test_trusting_everyone_is_logged_once(entries: tuple[str, ...], caplog: pytest.LogCaptureFixture) -> None:
    realip.resolver._warned_trust.clear()
    with caplog.at_level(logging.WARNING, logger="realip"):
        Resolver(trusted_proxies=entries)
        Resolver(trusted_proxies=entries)  # the same configuration again (Django's checks build it twice)
    warnings = [record.getMessage() for record in caplog.records if record.name == "realip"]
    assert len(warnings) == 1 and "any client that reaches the app directly can choose the address" in warnings[0]


def test_narrow_trust_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="realip"):
        Resolver(trusted_proxies=("10.0.0.0/8", "2001:db8::/32", "unix"))
    assert not [record for record in caplog.records if record.name == "realip"]


def test_default_trust_is_loopback_in_cidr_mode() -> None:
    resolver = Resolver()
    assert resolver.trusted_proxies == ("127.0.0.0/8", "::1/128")
    assert resolver.resolve("127.0.0.1", {XFF: "198.51.100.7"}).client_ip == "198.51.100.7"
    assert resolver.resolve("10.1.2.3", {XFF: "198.51.100.7"}).client_ip == "10.1.2.3"


# -- scheme --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "scheme"),
    [
        ({XFF: "198.51.100.7, 100.64.3.4", "X-Forwarded-Proto": "https, http"}, "https"),  # aligned: client's hop
        ({XFF: "198.51.100.7, 100.64.3.4", "X-Forwarded-Proto": "http"}, "http"),  # not aligned: rightmost
        ({XFF: "198.51.100.7", "X-Forwarded-Proto": "HTTPS"}, "https"),
        ({XFF: "198.51.100.7", "X-Forwarded-Proto": "javascript"}, None),
        ({XFF: "198.51.100.7", "X-Forwarded-Proto": "wss"}, None),
        ({XFF: "198.51.100.7"}, None),
        ({"X-Forwarded-Proto": "https"}, "https"),  # no forwarding header: the trusted peer's word
        ({XFF: "192.0.2.1, 198.51.100.7, 100.64.3.4", "X-Forwarded-Proto": "http, https, http"}, "https"),
    ],
)
def test_scheme_from_proto_header(headers: dict[str, str], scheme: str | None) -> None:
    resolver = Resolver(trusted_proxies=TRUST, proto_header="x-forwarded-proto")
    assert resolver.resolve("10.1.2.3", headers).scheme == scheme


def test_scheme_needs_a_trusted_peer_and_a_configured_header() -> None:
    headers = {XFF: "198.51.100.7", "X-Forwarded-Proto": "https"}
    assert (
        Resolver(trusted_proxies=TRUST, proto_header="x-forwarded-proto").resolve("203.0.113.9", headers).scheme is None
    )
    assert Resolver(trusted_proxies=TRUST).resolve("10.1.2.3", headers).scheme is None


def test_scheme_from_forwarded_element_of_the_client() -> None:
    resolver = Resolver(trusted_proxies=TRUST, header="forwarded", proto_header="forwarded")
    value = "for=192.0.2.1;proto=http, for=198.51.100.7;proto=https, for=100.64.3.4;proto=http"
    assert resolver.resolve("10.1.2.3", {"Forwarded": value}).scheme == "https"


def test_scheme_in_hop_mode_and_from_clb_header() -> None:
    resolver = Resolver(trusted_proxies=("loopback",), trusted_hops=1, proto_header="x-client-proto")
    assert resolver.resolve("127.0.0.1", {XFF: "198.51.100.7", "X-Client-Proto": "https"}).scheme == "https"


# -- configuration errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_hops": 0}, r"max_hops=0 must be a whole number from 1 to 1000"),
        ({"max_hops": "20"}, r"max_hops='20' must be a whole number from 1 to 1000"),
        ({"max_hops": True}, r"max_hops=True must be a whole number from 1 to 1000"),
        ({"trusted_hops": 0}, r"trusted_hops=0 must be a whole number from 1 to 1000"),
        ({"trusted_hops": 1.0}, r"trusted_hops=1.0 must be a whole number from 1 to 1000"),
        ({"trusted_hops": 21}, r"trusted_hops=21 is greater than max_hops=20"),
        ({"max_hops": 1001}, r"max_hops=1001 must be a whole number from 1 to 1000"),
        ({"max_hops": 2**63}, r"max_hops=9223372036854775808 must be a whole number from 1 to 1000"),
        ({"trusted_hops": 2**63, "max_hops": 1000}, r"trusted_hops=9223372036854775808 must be a whole number"),
        ({"header": "peer"}, r"header='peer': 'peer' is what Result.source says .* use the header's real name"),
        ({"header": ("x-forwarded-for", "TOA")}, r"'TOA' is what Result.source says"),
        ({"header": "proxy-protocol"}, r"'proxy-protocol' is what Result.source says"),
        ({"header": ""}, r"header='': '' is not a valid HTTP header name"),
        ({"header": ()}, r"header=\(\) is empty"),
        ({"header": "x forwarded for"}, r"'x forwarded for' is not a valid HTTP header name"),
        ({"header": "x-forwarded-for:"}, r"is not a valid HTTP header name"),
        ({"header": ("x-forwarded-for", "X-Forwarded-For")}, r"names a header twice"),
        ({"header": 7}, r"header=7 must be a header name or a tuple of names"),
        ({"proto_header": "bad header"}, r"proto_header='bad header' is not a valid HTTP header name"),
    ],
)
def test_configuration_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        Resolver(**options)  # type: ignore[arg-type]
    assert error.value.option == next(iter(options))  # the option it is about, for adapters to name their setting


def test_header_list_is_accepted_like_a_tuple() -> None:
    assert Resolver(header=["X-Original-Forwarded-For", "X-Forwarded-For"]).header == (  # type: ignore[arg-type]
        "x-original-forwarded-for",
        "x-forwarded-for",
    )


# -- Layer 4: a load balancer's TOA or PROXY protocol client -----------------------------------------------------

BALANCER = "192.0.2.1"  # a load balancer that writes no header: not in TRUST
L4 = Resolver(trusted_proxies=TRUST, layer4_proxies=[BALANCER])


def test_a_balancer_carried_client_replaces_the_peer_and_is_the_client_when_untrusted() -> None:
    for kind in ("toa", "proxy-protocol"):
        r = L4.resolve((BALANCER, 4000), {XFF: "192.0.2.66"}, (kind, ("198.51.100.7", 5555)))
        assert (r.client_ip, r.client_port, r.source, r.reason) == ("198.51.100.7", 5555, kind, Reason.LAYER4)
        assert (r.peer, r.peer_port, r.proxies, r.scheme) == (BALANCER, 4000, (BALANCER,), None)


def test_a_carried_client_from_a_peer_that_is_not_a_balancer_is_ignored() -> None:
    r = L4.resolve(("203.0.113.9", 4000), {}, ("toa", ("198.51.100.7", 5555)))
    assert (r.client_ip, r.source, r.reason) == ("203.0.113.9", "peer", Reason.UNTRUSTED_PEER)
    r = L4.resolve(("10.1.2.3", 4000), {XFF: "192.0.2.66"}, ("toa", ("198.51.100.7", 5555)))  # a header proxy
    assert (r.client_ip, r.source) == ("192.0.2.66", "x-forwarded-for")
    r = Resolver(trusted_proxies=[BALANCER]).resolve(BALANCER, {}, ("toa", ("198.51.100.7", 5555)))  # no balancers
    assert (r.client_ip, r.source, r.reason) == (BALANCER, "peer", Reason.NO_HEADER)


def test_a_balancer_without_a_carried_client_is_the_client_and_no_header_of_it_is_read() -> None:
    """A Layer-4 balancer passes the client's bytes through, so a header it "sends" is the client's own."""
    for layer4 in (None, ("proxy-protocol", None), ("toa", ("bogus", 1))):
        r = L4.resolve((BALANCER, 4000), {XFF: "6.6.6.6"}, layer4)  # type: ignore[arg-type]
        assert (r.client_ip, r.source, r.reason, r.examined) == (BALANCER, "peer", Reason.NO_LAYER4, 0)
    both = Resolver(trusted_proxies=[BALANCER], layer4_proxies=[BALANCER])  # also a header proxy: then it is read
    assert both.resolve(BALANCER, {XFF: "198.51.100.7"}).client_ip == "198.51.100.7"


def test_a_trusted_carried_address_continues_the_header_walk() -> None:
    r = L4.resolve(BALANCER, {XFF: "198.51.100.7"}, ("toa", ("100.64.0.5", 1000)))
    assert (r.client_ip, r.source, r.proxies) == ("198.51.100.7", "x-forwarded-for", (BALANCER, "100.64.0.5"))
    r = L4.resolve(BALANCER, {}, ("toa", ("100.64.0.5", 1000)))
    assert (r.client_ip, r.client_port, r.source, r.proxies) == ("100.64.0.5", 1000, "toa", (BALANCER,))
    r = L4.resolve(BALANCER, {XFF: "junk"}, ("proxy-protocol", "[::ffff:100.64.0.5]:1000"))
    assert (r.client_ip, r.source, r.reason) == ("100.64.0.5", "proxy-protocol", Reason.INVALID_ENTRY)
    hops = Resolver(trusted_proxies=TRUST, trusted_hops=2, layer4_proxies=[BALANCER])
    r = hops.resolve(BALANCER, {XFF: "198.51.100.7"}, ("toa", ("100.64.0.5", 1000)))
    assert (r.client_ip, r.source, r.reason) == ("100.64.0.5", "toa", Reason.SHORT_CHAIN)


def test_an_ipv6_carried_client_is_canonical_and_a_unix_balancer_works() -> None:
    r = L4.resolve(BALANCER, {}, ("toa", ("2001:DB8::7", 443)))
    assert (r.client_ip, r.client_port, r.source) == ("2001:db8::7", 443, "toa")
    unix = Resolver(layer4_proxies=["unix"])
    assert unix.resolve(None, {}, ("proxy-protocol", ("198.51.100.7", 1))).client_ip == "198.51.100.7"
    assert unix.resolve(None, {XFF: "6.6.6.6"}).reason == Reason.NO_LAYER4
    assert repr(L4).endswith("layer4_proxies=('192.0.2.1/32',))")
