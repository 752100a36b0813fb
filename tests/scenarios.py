"""One table of request scenarios, run through the core and through every adapter so they cannot drift apart.

Each row: a name that says what it shows, the resolver options, the socket peer, the request headers (in order,
repeats allowed), and the expected client address, port and source. Rows whose peer is ``127.0.0.1`` can be sent
over loopback to a real server (uvicorn, gunicorn); ``LOOPBACK_SCENARIOS`` lists them.
"""

from __future__ import annotations

from typing import NamedTuple

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

LOOPBACK_SCENARIOS = tuple(s for s in SCENARIOS if s.peer == "127.0.0.1")
