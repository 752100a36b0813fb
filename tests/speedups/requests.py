"""Generated requests for the C twin (realip/_speedups.c): random, seeded, covering its subset and its edges."""

from __future__ import annotations

import random
from typing import Any

NAMES: list[Any] = [b"x-forwarded-for", b"X-Forwarded-For", "x-forwarded-for", "X-FORWARDED-FOR", b"x-forwarded-fox",
                    b"host", "\u212a-forwarded-for", bytearray(b"x-forwarded-for")]  # fmt: skip
PEERS = ["10.0.1.2", "100.64.0.9", "203.0.113.9", "10.0.1.2 ", "010.0.1.2", "::ffff:10.0.1.2", "testclient",
         "1.2.3", "2001:db8:f::2", "2001:DB8:F:0:0:0:0:2", "::1", "[2001:db8:f::2]", "fe80::1%eth0",
         "2001:db8:a::1"]  # fmt: skip
ENTRIES = ["198.51.100.7", "10.9.9.9", "100.64.3.4", "100.127.255.255", "100.128.0.1", "198.51.100.7:8080",
           "10.0.0.1:65535", "10.0.0.1:65536", "10.0.0.1:", ":80", "01.2.3.4", "1.2.3", "256.1.1.1", "1.2.3.4.5",
           "", "  ", "\t10.1.1.1 ", "unknown", '"198.51.100.7"', "[2001:db8::1]:80", "2001:db8::1", "1.2.3.4:5:6",
           "1..2.3", "1.2.3.4:0080", "0.0.0.0", "255.255.255.255", "\u0661.2.3.4", "1.2.3.4\u00a0",
           "[2001:DB8::7]:4711", "[2001:db8:f::9]", "2001:db8:f:0:0:0:0:9", "::ffff:198.51.100.7", "::1.2.3.4",
           "[::ffff:10.0.0.1]:80", "[2001:db8::1", "[2001:db8::1]x", "[1.2.3.4]", "2001:db8::g", "::", "[::]:0",
           "fe80::1%eth0", "1:0:0:1:0:0:0:1", "0:0:1:0:0:1:0:0"]  # fmt: skip


def random_request(rng: random.Random) -> tuple[str, object, list[Any]]:
    """A peer, a port and a header list, mostly on the C twin's ground and sometimes just off it."""
    peer = rng.choice(PEERS)
    port: object = rng.choice([rng.randrange(65536), None, "80", True])
    headers: list[Any] = []
    for _ in range(rng.randrange(4)):
        name = rng.choice(NAMES)
        entries = [rng.choice(ENTRIES) for _ in range(rng.randrange(8))]
        text = ",".join(entries) if rng.random() < 0.5 else ", ".join(entries)
        if rng.random() < 0.1:
            text = "," * rng.randrange(5) + text + "," * rng.randrange(5)
        value: Any = text
        if isinstance(name, (bytes, bytearray)) or rng.random() < 0.3:
            value = text.encode("utf-8") if rng.random() < 0.2 else text.encode("latin-1", "replace")
        headers.append((name, value))
    return peer, port, headers
