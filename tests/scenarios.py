"""One table of request scenarios, run through the core and through every adapter so they cannot drift apart.

Each row: a name that says what it shows, the resolver options, the socket peer, the request headers (in order,
repeats allowed), and the expected client address, port and source. Rows whose peer is ``127.0.0.1`` can be sent
over loopback to a real server (uvicorn, gunicorn); ``LOOPBACK_SCENARIOS`` lists them.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote

TKE = ("loopback", "10.0.0.0/8", "cgnat")  # a pod behind CLB (VPC addresses) and ingress-nginx (cgnat pod range)


class Scenario(NamedTuple):
    name: str
    options: dict[str, object]
    peer: str
    headers: tuple[tuple[str, str], ...]
    client_ip: str
    client_port: int | None
    source: str
    scheme: str | None = None
    #: The forwarded context the Result carries, and the root URL the app then builds (None: not asserted).
    host: str | None = None
    server_port: int | None = None
    prefix: str | None = None
    url_root: str | None = None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("direct client, no header", {"trusted_proxies": TKE}, "127.0.0.1", (), "127.0.0.1", None, "peer"),
    Scenario(
        "CLB to pod: XFF is the client",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"),),
        "198.51.100.7",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "CLB to ingress to app",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7, 100.64.3.4"),),
        "198.51.100.7",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "forged entries left of the client are ignored",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Forwarded-For", "192.0.2.66, 203.0.113.1, 198.51.100.7, 100.64.3.4"),),
        "198.51.100.7",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "IPv6 client with bracketed port",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Forwarded-For", "[2001:DB8::7]:4711, 100.64.3.4"),),
        "2001:db8::7",
        4711,
        "x-forwarded-for",
    ),
    Scenario(
        "IPv4 client with port",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7:5000"),),
        "198.51.100.7",
        5000,
        "x-forwarded-for",
    ),
    Scenario(
        "IPv4-mapped client reported as IPv4",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Forwarded-For", "::ffff:198.51.100.7"),),
        "198.51.100.7",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "repeated header lines form one chain",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "100.64.3.4")),
        "198.51.100.7",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "invalid entry stops the walk at the last trusted hop",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7, <script>, 100.64.3.4"),),
        "100.64.3.4",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "junk-only header leaves the peer",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Forwarded-For", "unknown"),),
        "127.0.0.1",
        None,
        "peer",
    ),
    Scenario(
        "untrusted peer: headers ignored",
        {"trusted_proxies": ("10.0.0.0/8",)},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"),),
        "127.0.0.1",
        None,
        "peer",
    ),
    Scenario(
        "trust nothing",
        {"trusted_proxies": ()},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"),),
        "127.0.0.1",
        None,
        "peer",
    ),
    Scenario(
        "default trust is loopback",
        {},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"),),
        "198.51.100.7",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "X-Real-IP as the one source",
        {"trusted_proxies": TKE, "header": "x-real-ip"},
        "127.0.0.1",
        (("X-Forwarded-For", "192.0.2.66"), ("X-Real-IP", "198.51.100.7")),
        "198.51.100.7",
        None,
        "x-real-ip",
    ),
    Scenario(
        "XFF configured, forged X-Real-IP ignored",
        {"trusted_proxies": TKE},
        "127.0.0.1",
        (("X-Real-IP", "192.0.2.66"), ("X-Forwarded-For", "198.51.100.7")),
        "198.51.100.7",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "RFC 7239 Forwarded",
        {"trusted_proxies": TKE, "header": "forwarded"},
        "127.0.0.1",
        (("Forwarded", 'for=192.0.2.66, for="[2001:db8::7]:4711";proto=https, for=100.64.3.4'),),
        "2001:db8::7",
        4711,
        "forwarded",
    ),
    Scenario(
        "ingress-nginx default: original chain recovered",
        {"trusted_proxies": TKE, "header": ("x-original-forwarded-for", "x-forwarded-for")},
        "127.0.0.1",
        (("X-Original-Forwarded-For", "192.0.2.66, 198.51.100.7"), ("X-Forwarded-For", "100.64.3.4")),
        "198.51.100.7",
        None,
        "x-original-forwarded-for",
    ),
    Scenario(
        "hop-count mode",
        {"trusted_proxies": ("loopback",), "trusted_hops": 2},
        "127.0.0.1",
        (("X-Forwarded-For", "192.0.2.66, 198.51.100.7, 100.64.3.4"),),
        "198.51.100.7",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "hop-count mode, short chain keeps the peer",
        {"trusted_proxies": ("loopback",), "trusted_hops": 2},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"),),
        "127.0.0.1",
        None,
        "peer",
    ),
    Scenario(
        "scheme from the client's hop",
        {"trusted_proxies": TKE, "proto_header": "x-forwarded-proto"},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7, 100.64.3.4"), ("X-Forwarded-Proto", "https, http")),
        "198.51.100.7",
        None,
        "x-forwarded-for",
        "https",
    ),
    Scenario(
        "scheme outside the allow-list ignored",
        {"trusted_proxies": TKE, "proto_header": "x-forwarded-proto"},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "javascript")),
        "198.51.100.7",
        None,
        "x-forwarded-for",
        None,
    ),
    Scenario(
        "private peer behind CLB",
        {"trusted_proxies": TKE},
        "10.1.2.3",
        (("X-Forwarded-For", "198.51.100.7"),),
        "198.51.100.7",
        None,
        "x-forwarded-for",
    ),
    Scenario(
        "public peer forging XFF is itself",
        {"trusted_proxies": TKE},
        "203.0.113.50",
        (("X-Forwarded-For", "198.51.100.7"),),
        "203.0.113.50",
        None,
        "peer",
    ),
)


def log_path(scenario: Scenario, path: str) -> str:
    """The path an ASGI server's access log shows for ``path`` once realip moved a forwarded prefix into root_path
    and path (uvicorn logs the path as the app sees it, percent-escaped)."""
    return quote(scenario.prefix or "") + path


def assert_context(result: object, url_root: str | None, scenario: Scenario) -> None:
    """The forwarded context an adapter produced: the Result's fields (an object or its dict), and the root URL the
    app built from what the adapter rewrote (when the scenario names one)."""
    fields = result if isinstance(result, dict) else result._asdict()  # type: ignore[attr-defined]
    assert (fields["host"], fields["server_port"], fields["prefix"]) == (
        scenario.host,
        scenario.server_port,
        scenario.prefix,
    ), scenario.name
    if scenario.url_root is not None:  # some frameworks show the path decoded (Starlette, Falcon): compare it escaped
        assert url_root is not None and quote(url_root, safe=":/%[]") == scenario.url_root, scenario.name


CONTEXT = {
    "trusted_proxies": TKE,
    "proto_header": "x-forwarded-proto",
    "host_header": "x-forwarded-host",
    "port_header": "x-forwarded-port",
    "prefix_header": "x-forwarded-prefix",
}
#: The forwarded request: host, port, prefix and scheme from the client's own hop, as ingress-nginx sends them.
# fmt: off
CONTEXT_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "context from the client's hop",
        CONTEXT,
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "App.Example.com"),
         ("X-Forwarded-Port", "443"), ("X-Forwarded-Prefix", "/shop/")),
        "198.51.100.7", None, "x-forwarded-for", "https", "app.example.com", 443, "/shop",
        "https://app.example.com/shop/",
    ),
    Scenario(
        "context with a port that is not the scheme's default",
        CONTEXT,
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "http"), ("X-Forwarded-Host", "app.example.com"),
         ("X-Forwarded-Port", "8080")),
        "198.51.100.7", None, "x-forwarded-for", "http", "app.example.com", 8080, None,
        "http://app.example.com:8080/",
    ),
    Scenario(
        "context aligned with the chain: the client's hop, not the ingress's",
        CONTEXT,
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7, 100.64.3.4"), ("X-Forwarded-Host", "shop.example.com, ingress.internal"),
         ("X-Forwarded-Proto", "https, http")),
        "198.51.100.7", None, "x-forwarded-for", "https", "shop.example.com", None, None,
        "https://shop.example.com/",
    ),
    Scenario(
        "forged context from a direct client is ignored",
        CONTEXT,
        "203.0.113.50",
        (("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https"),
         ("X-Forwarded-Prefix", "/phish")),
        "203.0.113.50", None, "peer", None, None, None, None,
    ),
    Scenario(
        "a host outside allowed_hosts is ignored",
        {**CONTEXT, "allowed_hosts": ["app.example.com", ".example.org"]},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Prefix", "/ok")),
        "198.51.100.7", None, "x-forwarded-for", None, None, None, "/ok",
    ),
    Scenario(
        "a subdomain of an allowed .domain is used",
        {**CONTEXT, "allowed_hosts": ["app.example.com", ".example.org"]},
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Host", "www.example.org"),),
        "198.51.100.7", None, "x-forwarded-for", None, "www.example.org", None, None, "http://www.example.org/",
    ),
    Scenario(
        "bad context values are ignored, never cleaned up",
        CONTEXT,
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Host", "evil.example/x?y@z"), ("X-Forwarded-Port", "99999"),
         ("X-Forwarded-Prefix", "/a/../admin"), ("X-Forwarded-Proto", "gopher")),
        "198.51.100.7", None, "x-forwarded-for", None, None, None, None,
    ),
    Scenario(
        "a percent-escaped prefix is decoded once",
        CONTEXT,
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Host", "app.example.com"),
         ("X-Forwarded-Prefix", "/caf%C3%A9/")),
        "198.51.100.7", None, "x-forwarded-for", None, "app.example.com", None, "/café",
        "http://app.example.com/caf%C3%A9/",
    ),
    Scenario(
        "RFC 7239 host= and proto= from the client's element",
        {"trusted_proxies": TKE, "header": "forwarded", "proto_header": "forwarded", "host_header": "forwarded",
         "port_header": "forwarded"},
        "127.0.0.1",
        (("Forwarded", 'for=192.0.2.66;host=evil.example, for=198.51.100.7;host="app.example.com:8443";proto=https'),),
        "198.51.100.7", None, "forwarded", "https", "app.example.com", 8443, None, "https://app.example.com:8443/",
    ),
)
# fmt: on

#: A provider preset in a chain of named hops: Cloudflare in front of a Tencent CLB (100.64.0.0/10) in front of the
#: ingress (loopback here, so the rows also run through real servers). 173.245.48.5 is a Cloudflare edge address
#: (header text only: nothing is sent to it).
CHAIN = {"chain": "cloudflare[cf-connecting-ip] -> clb=cgnat -> ingress=loopback,10.0.0.0/8"}
CLOUDFLARE_EDGE = "173.245.48.5"
# fmt: off
CHAIN_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "preset chain: Cloudflare -> CLB -> ingress, the provider's header believed from Cloudflare",
        CHAIN,
        "127.0.0.1",
        (("X-Forwarded-For", f"192.0.2.66, 198.51.100.7, {CLOUDFLARE_EDGE}, 100.64.3.4"),
         ("CF-Connecting-IP", "198.51.100.7")),
        "198.51.100.7", None, "cf-connecting-ip",
    ),
    Scenario(
        "preset chain: a forged CF-Connecting-IP from a client reaching the CLB around Cloudflare",
        CHAIN,
        "127.0.0.1",
        (("X-Forwarded-For", f"198.51.100.7, {CLOUDFLARE_EDGE}, 203.0.113.9, 100.64.3.4"),
         ("CF-Connecting-IP", "198.51.100.7")),
        "203.0.113.9", None, "x-forwarded-for",
    ),
    Scenario(
        "preset chain: an ingress address the client wrote beyond the CLB is not trusted there",
        CHAIN,
        "127.0.0.1",
        (("X-Forwarded-For", "198.51.100.7, 10.0.0.9, 100.64.3.4"),),
        "10.0.0.9", None, "x-forwarded-for",
    ),
    Scenario(
        "preset chain: two CF-Connecting-IP lines are no answer",
        CHAIN,
        "127.0.0.1",
        (("X-Forwarded-For", f"198.51.100.7, {CLOUDFLARE_EDGE}, 100.64.3.4"), ("CF-Connecting-IP", "192.0.2.66"),
         ("CF-Connecting-IP", "198.51.100.7")),
        "198.51.100.7", None, "x-forwarded-for",
    ),
    Scenario(
        "preset chain: a direct client forging the whole chain is itself",
        CHAIN,
        "203.0.113.50",
        (("X-Forwarded-For", f"198.51.100.7, {CLOUDFLARE_EDGE}, 100.64.3.4"), ("CF-Connecting-IP", "198.51.100.7")),
        "203.0.113.50", None, "peer",
    ),
)
# fmt: on

SCENARIOS = SCENARIOS + CONTEXT_SCENARIOS + CHAIN_SCENARIOS
#: The hosts the context rows forward that an app serves (Django's ALLOWED_HOSTS in the tests); evil.example is not.
CONTEXT_HOSTS = ("app.example.com", "shop.example.com", ".example.org")
LOOPBACK_SCENARIOS = tuple(s for s in SCENARIOS if s.peer == "127.0.0.1")
