"""Generated input for the kernel and its pure twin: entries, header values, peers and trust configurations."""

from __future__ import annotations

import random
from typing import Any

from realip._trust import compile_trust
from realip._walk import PureTrust

#: Trust configurations: the TKE pair with an IPv6 net, trust-all, nothing, adjacent halves, one host, mixed.
CONFIGS: list[tuple[str, ...]] = [
    ("10.0.0.0/8", "100.64.0.0/10", "2001:db8:f::/48"),
    ("any",),
    (),
    ("10.0.0.0/9", "10.128.0.0/9"),
    ("198.51.100.7",),
    ("::/0", "10.0.0.0/8"),
    ("10.0.0.1-10.0.0.9", "2001:db8::1-2001:db8::ff", "192.168.*.*"),
]

ENTRIES = ["198.51.100.7", "10.9.9.9", "100.64.3.4", "100.127.255.255", "100.128.0.1", "198.51.100.7:8080",
           "10.0.0.1:65535", "10.0.0.1:65536", "10.0.0.1:", ":80", "01.2.3.4", "1.2.3", "256.1.1.1", "1.2.3.4.5",
           "", "  ", "\t10.1.1.1 ", "unknown", '"198.51.100.7"', "[2001:db8::1]:80", "2001:db8::1", "1.2.3.4:5:6",
           "1..2.3", "1.2.3.4:0080", "0.0.0.0", "255.255.255.255", "\u0661.2.3.4", "1.2.3.4\u00a0", "10.0.0.5\x00",
           "[2001:DB8::7]:4711", "[2001:db8:f::9]", "2001:db8:f:0:0:0:0:9", "::ffff:198.51.100.7", "::1.2.3.4",
           "[::ffff:10.0.0.1]:80", "[2001:db8::1", "[2001:db8::1]x", "[1.2.3.4]", "2001:db8::g", "::", "[::]:0",
           "fe80::1%eth0", "fe80::1%", "fe80::1%" + "e" * 65, "fe80::1%e\u00e9", "[fe80::1%25eth0]:8",
           "1:0:0:1:0:0:0:1", "0:0:1:0:0:1:0:0", '"[2001:db8::2]:99"', '"', '""', '"10.0.0.2', "10.0.0.3:00000",
           "::ffff:0:1.2.3.4", "0000:0000:0000:0000:0000:0000:0000:0001", "1.2.3.4:1:", "\ud800", "10.0.0.1 :80",
           "a" * 70, "1" * 64, "2001:db8:" + "0:" * 5 + "1", "10.0.0.6 10.0.0.7"]  # fmt: skip
PEERS = ["10.0.1.2", "100.64.0.9", "203.0.113.9", "10.0.1.2 ", "010.0.1.2", "::ffff:10.0.1.2", "testclient",
         "1.2.3", "2001:db8:f::2", "2001:DB8:F:0:0:0:0:2", "::1", "[2001:db8:f::2]", "fe80::1%eth0",
         "2001:db8:a::1", "10.0.0.5:81", "[2001:db8:f::3]:82"]  # fmt: skip
NAMES: list[Any] = [b"x-forwarded-for", b"X-Forwarded-For", "x-forwarded-for", "X-FORWARDED-FOR", b"x-forwarded-fox",
                    b"host", "\u212a-forwarded-for", bytearray(b"x-forwarded-for"), memoryview(b"X-Forwarded-For"),
                    "forwarded", b"Forwarded", "x-real-ip", "x-forwarded-proto"]  # fmt: skip


def trusts(entries: tuple[str, ...]) -> tuple[Any, PureTrust]:
    """(kernel Trust, pure twin) for one configuration."""
    from realip import _kernel  # type: ignore[attr-defined]

    networks = compile_trust(entries)
    return _kernel.Trust(*networks.ranges), PureTrust(networks)


def on(resolver: Any, trust: Any) -> Any:
    """``resolver``, made to walk with ``trust`` (a kernel Trust or a PureTrust) instead of its own."""
    resolver._use(trust)
    return resolver


def random_value(rng: random.Random) -> Any:
    """A header value of random entries, as str, bytes, bytearray or memoryview, with stray commas and spaces."""
    entries = [rng.choice(ENTRIES) for _ in range(rng.randrange(9))]
    text = rng.choice([",", ", ", " ,\t"]).join(entries)
    if rng.random() < 0.1:
        text = "," * rng.randrange(5) + text + "," * rng.randrange(5)
    kind = rng.random()
    if kind < 0.5:
        return text
    raw = text.encode("utf-8", "surrogatepass") if rng.random() < 0.2 else text.encode("latin-1", "replace")
    if kind < 0.8:
        return raw
    return bytearray(raw) if kind < 0.9 else memoryview(raw)


def random_forwarded(rng: random.Random) -> str:
    """A Forwarded value: elements with for= (quoted or not), proto=, junk parameters and stray quotes."""
    elements = []
    for _ in range(rng.randrange(5)):
        pairs = []
        if rng.random() < 0.9:
            entry = rng.choice(ENTRIES)
            quoted = rng.random() < 0.4 or ":" in entry
            pairs.append(f'for="{entry}"' if quoted else f"for={entry}")
        if rng.random() < 0.4:
            pairs.append(f"proto={rng.choice(['https', 'http', 'HTTPS', 'ftp'])}")
        if rng.random() < 0.1:
            pairs.append(rng.choice(['by="x', 'x=";"', "for=1.2.3.4", "=", "a b=c"]))
        rng.shuffle(pairs)
        elements.append(rng.choice([";", "; ", " ;"]).join(pairs))
    return rng.choice([",", ", "]).join(elements)


def random_request(rng: random.Random) -> tuple[Any, list[Any]]:
    """A peer (str or (host, port)) and header pairs in every documented form."""
    host = rng.choice(PEERS)
    peer: Any = rng.choice([host, (host, rng.randrange(65536)), (host, None), None]) if rng.random() < 0.95 else 7
    headers: list[Any] = []
    for _ in range(rng.randrange(4)):
        name = rng.choice(NAMES)
        lowered = bytes(name).lower() if not isinstance(name, str) else name.lower().encode("latin-1", "replace")
        value = random_forwarded(rng) if lowered == b"forwarded" else random_value(rng)
        headers.append((name, value))
    return peer, headers
