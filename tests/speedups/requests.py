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


PORT_TEXTS: list[Any] = ["80", "0080", "65535", "99999", "123456", "", "x", "8O", "\u0661\u0662", 8080, None]


def random_scope(rng: random.Random) -> dict[str, Any]:
    """An ASGI scope around a random request: http or websocket (rarely lifespan), with or without state."""
    peer, port, headers = random_request(rng)
    scope: dict[str, Any] = {"type": rng.choice(["http"] * 6 + ["websocket", "lifespan"]), "client": (peer, port),
                             "headers": headers, "scheme": "http"}  # fmt: skip
    state = rng.choice([None, "absent", "dict", "dict"])
    if state == "dict":
        scope["state"] = {"app": 1}
    elif state is None:
        scope["state"] = None
    if rng.random() < 0.05:
        scope["client"] = None if rng.random() < 0.5 else [peer, port]
    return scope


def random_environ(rng: random.Random) -> dict[str, Any]:
    """A WSGI environ around a random request: its header lines joined as a server joins them."""
    peer, _, headers = random_request(rng)
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "REMOTE_ADDR": peer}
    port = rng.choice(PORT_TEXTS)
    if port is not None:
        environ["REMOTE_PORT"] = port
    if rng.random() < 0.9:
        environ["wsgi.url_scheme"] = rng.choice(["http", "https"])
    values = [value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else value for _, value in headers]
    if values:
        environ["HTTP_X_FORWARDED_FOR"] = ",".join(values)
    if rng.random() < 0.05:
        environ["REMOTE_ADDR"] = rng.choice(["", None, b"10.0.1.2"])
    return environ
