"""The seven benchmark scenarios, and the requests built from them in every library's native form.

Each scenario is a socket peer and an X-Forwarded-For value with the answer a correct library must give. Trusted
networks are the Kubernetes/TKE pair: the VPC (10.0.0.0/8, where the CLB and nodes live) and the pod range
(100.64.0.0/10, where ingress pods live). Client addresses come only from documentation ranges.

"Warm" repeats one request; "distinct" rotates every address (client, proxies, peer) over a pool of requests, so
a cache keyed on the address text cannot answer from memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

__all__ = ["SCENARIOS", "TRUSTED", "Request", "Scenario", "requests", "verdict"]

#: The trusted networks every library is configured with (or the closest form it supports).
TRUSTED: tuple[str, ...] = ("10.0.0.0/8", "100.64.0.0/10")

_BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"host", b"app.example.com"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) benchmark"),
    (b"accept", b"text/html,application/json;q=0.9,*/*;q=0.8"),
    (b"accept-encoding", b"gzip, deflate, br"),
)


@dataclass(frozen=True)
class Scenario:
    """One deployment shape: the peer, the header it delivers, the right answer, and how hop counters see it."""

    key: str
    title: str
    peer: str
    xff: str | None
    client: str
    #: For hop-count libraries (werkzeug x_for, hypercorn trusted_hops): the header entries its proxies added.
    hops: int = 1
    max_hops: int = 20
    #: ``"direct"``: the client connects itself (distinct mode rotates the peer); ``"proxied"``: through proxies.
    kind: str = "proxied"


_CLIENT = "198.51.100.7"
_CHAIN30 = ", ".join([_CLIENT, *(f"100.64.{hop}.{hop + 1}" for hop in range(29))])

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("S1", "direct client, no header", "203.0.113.9", None, "203.0.113.9", kind="direct"),
    Scenario("S2", "CLB -> pod: XFF = client", "10.0.1.2", _CLIENT, _CLIENT),
    Scenario("S3", "CLB -> ingress -> app", "10.0.1.2", f"{_CLIENT}, 100.64.3.4", _CLIENT, hops=2),
    Scenario(
        "S4",
        "spoofed entries left of the client",
        "10.0.1.2",
        f"192.0.2.1, 192.0.2.2, {_CLIENT}, 100.64.3.4",
        _CLIENT,
        hops=2,
    ),
    Scenario("S5", "IPv6 client, bracketed port", "10.0.1.2", "[2001:DB8::7]:4711, 100.64.3.4", "2001:db8::7", hops=2),
    Scenario("S6", "30-hop chain (max_hops=32)", "10.0.1.2", _CHAIN30, _CLIENT, hops=30, max_hops=32),
    Scenario("S7", "direct client, forged XFF", "203.0.113.9", "192.0.2.66", "203.0.113.9", kind="direct"),
)


@dataclass(frozen=True)
class Request:
    """One request in every form a library takes: ASGI client and raw headers, WSGI environ, the XFF text."""

    peer: tuple[str, int]
    xff: str | None
    expected: str
    headers: list[tuple[bytes, bytes]]
    scope: dict[str, Any]
    environ: dict[str, Any]


def _build(peer: str, xff: str | None, expected: str) -> Request:
    headers = list(_BASE_HEADERS)
    if xff is not None:
        headers.append((b"x-forwarded-for", xff.encode("latin-1")))
    client = (peer, 51234)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": ("10.0.9.9", 8000),
        "state": {},  # uvicorn and hypercorn hand every request a copy of the lifespan state
    }
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "10.0.9.9",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "gunicorn/benchmark",
        "REMOTE_ADDR": peer,
        "REMOTE_PORT": "51234",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        environ["HTTP_" + name.decode().upper().replace("-", "_")] = value.decode("latin-1")
    return Request(client, xff, expected, headers, scope, environ)


def _doc_ipv4(rng: random.Random) -> str:
    net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    host = rng.randrange(3, 255)  # never 192.0.2.1 / .2, the spoofed entries of S4
    return f"{net}.{host}"


def _distinct(scenario: Scenario, rng: random.Random, index: int) -> Request:
    """A variant of ``scenario`` with every address rotated; the shape (entry count, forms) stays the same."""
    if scenario.kind == "direct":
        client = _doc_ipv4(rng)
        return _build(client, scenario.xff, client)
    peer = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def cgnat() -> str:
        return f"100.{rng.randrange(64, 128)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    assert scenario.xff is not None
    parts = [part.strip() for part in scenario.xff.split(",")]
    if scenario.key == "S5":
        client = f"2001:db8:{index >> 16:x}:{index & 0xFFFF:x}::7"
        parts[0] = f"[{client.upper()}]:4711"
        expected = str(ip_address(client))
    else:
        client = _doc_ipv4(rng)
        expected = client
        parts[parts.index(scenario.client)] = client
    parts = [cgnat() if part.startswith("100.64.") else part for part in parts]
    return _build(peer, ", ".join(parts), expected)


def requests(scenario: Scenario, distinct: bool, count: int, seed: int = 7) -> list[Request]:
    """``count`` requests: one request repeated (warm), or ``count`` rotated variants (distinct)."""
    if not distinct:
        one = _build(scenario.peer, scenario.xff, scenario.client)
        return [one] * count
    rng = random.Random(f"{seed}-{scenario.key}")
    return [_distinct(scenario, rng, index) for index in range(count)]


def verdict(answer: object, expected: str) -> str:
    """``ok``: the right address in canonical text; ``noncanonical``: right address, other spelling; else ``wrong``."""
    text = None if answer is None else str(answer)
    if text == expected:
        return "ok"
    try:
        same = text is not None and ip_address(text) == ip_address(expected)
    except ValueError:
        same = False
    return "noncanonical" if same else "wrong"
