"""The forwarded context's cost: realip reading the scheme, host, port and path prefix too (every context option on),
beside the client alone (every option off), and beside the peers doing the same work on the same request.

One request as ingress-nginx sends it: peer 10.1.2.3, ``X-Forwarded-For`` (a different client each time, so no cache
helps), ``X-Forwarded-Proto``, ``-Host``, ``-Port`` and ``-Prefix``. Each row is wrapped minus bare on a trivial app,
with the answer the app saw (client, and the root URL it would build) checked. werkzeug's ProxyFix does the same
work by hop count, without checking the peer; hypercorn's ProxyFixMiddleware (legacy) reads the client, scheme and
host; uvicorn's ProxyHeadersMiddleware only the client and scheme (it has no host, port or prefix).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from .middleware import asgi_loop, wsgi_loop
from .timing import Stats, compare

__all__ = ["ContextRow", "measure_context", "table"]

_PEER = "10.1.2.3"
_EXPECTED = "198.51.100.{n} https://shop.example.com/shop"
_CONTEXT: dict[str, Any] = {
    "proto_header": "x-forwarded-proto",
    "host_header": "x-forwarded-host",
    "port_header": "x-forwarded-port",
    "prefix_header": "x-forwarded-prefix",
}


@dataclass(frozen=True)
class ContextRow:
    """One contender: what it does, its time added to the bare app, and what the app saw (✓ when right)."""

    name: str
    does: str
    stats: Stats
    answer: str
    #: ✓ right, ≈ the same URL with its default port spelled out, ✗ wrong.
    mark: str


def _headers(n: int) -> list[tuple[str, str]]:
    return [
        ("X-Forwarded-For", f"198.51.100.{n}"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "shop.example.com"),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Prefix", "/shop"),
    ]


def _environ(n: int) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/orders",
        "QUERY_STRING": "",
        "SERVER_NAME": "10.1.9.9",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": _PEER,
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "10.1.9.9:8000",
        "wsgi.url_scheme": "http",
    }
    environ.update(("HTTP_" + name.upper().replace("-", "_"), value) for name, value in _headers(n))
    return environ


def _scope(n: int) -> dict[str, Any]:
    headers = [(b"host", b"10.1.9.9:8000")]
    headers += [(name.lower().encode(), value.encode()) for name, value in _headers(n)]
    return {
        "type": "http",
        "scheme": "http",
        "path": "/orders",
        "raw_path": b"/orders",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": (_PEER, 40000),
        "server": ("10.1.9.9", 8000),
    }


class _WsgiSeen:
    """A hello-world WSGI app recording the client and the root URL it would build."""

    def __init__(self) -> None:
        self.seen = ""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.seen = f"{environ['REMOTE_ADDR']} {environ['wsgi.url_scheme']}://{environ['HTTP_HOST']}"
        self.seen += environ.get("SCRIPT_NAME", "")
        start_response("200 OK", [])
        return [b"ok"]


class _AsgiSeen:
    """A hello-world ASGI app recording the client and the root URL it would build."""

    def __init__(self) -> None:
        self.seen = ""

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        host = next((v.decode() for n, v in scope["headers"] if n == b"host"), "")
        self.seen = f"{scope['client'][0]} {scope['scheme']}://{host}{scope.get('root_path', '')}"


def _wsgi(name: str) -> tuple[Any, _WsgiSeen]:
    probe = _WsgiSeen()
    if name == "bare-wsgi":
        return probe, probe
    if name == "werkzeug":
        from werkzeug.middleware.proxy_fix import ProxyFix

        return ProxyFix(probe, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1), probe
    from realip.wsgi import RealIPMiddleware

    options = _CONTEXT if name == "realip-wsgi-context" else {}
    return RealIPMiddleware(probe, trusted_proxies=["10.0.0.0/8"], **options), probe


def _asgi(name: str) -> tuple[Any, _AsgiSeen]:
    probe = _AsgiSeen()
    if name == "bare-asgi":
        return probe, probe
    if name == "uvicorn":
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        return ProxyHeadersMiddleware(probe, trusted_hosts="10.0.0.0/8"), probe  # type: ignore[arg-type]
    if name == "hypercorn":
        from hypercorn.middleware import ProxyFixMiddleware

        return ProxyFixMiddleware(probe, mode="legacy", trusted_hops=1), probe  # type: ignore[arg-type]
    from realip.asgi import RealIPMiddleware

    options = _CONTEXT if name == "realip-asgi-context" else {}
    return RealIPMiddleware(probe, trusted_proxies=["10.0.0.0/8"], **options), probe


#: Contender -> (what it does, its bare app).
CONTENDERS: dict[str, tuple[str, str]] = {
    "realip-wsgi": ("realip.wsgi, client only (every context option off)", "bare-wsgi"),
    "realip-wsgi-context": ("realip.wsgi, client, scheme, host, port and prefix (peer checked)", "bare-wsgi"),
    "werkzeug": ("werkzeug ProxyFix x_for, x_proto, x_host, x_port, x_prefix = 1 (peer not checked)", "bare-wsgi"),
    "realip-asgi": ("realip.asgi, client only (every context option off)", "bare-asgi"),
    "realip-asgi-context": ("realip.asgi, client, scheme, host, port and prefix (peer checked)", "bare-asgi"),
    "hypercorn": ("hypercorn ProxyFixMiddleware legacy: client, scheme, host (peer not checked)", "bare-asgi"),
    "uvicorn": ("uvicorn ProxyHeadersMiddleware: client and scheme only (peer checked)", "bare-asgi"),
}

#: What the app must see after each contender, for the part of the work it claims (``{n}``: the client's number).
_RIGHT = {
    "realip-wsgi": "198.51.100.{n} http://10.1.9.9:8000",
    "realip-asgi": "198.51.100.{n} http://10.1.9.9:8000",
    "hypercorn": "198.51.100.{n} https://shop.example.com",
    "uvicorn": "198.51.100.{n} https://10.1.9.9:8000",
}


def _same_url(seen: str, right: str) -> str:
    """``✓`` when the app saw what it must, ``≈`` when only a default port is spelled out, else ``✗``."""
    if seen == right:
        return "✓"
    return "≈" if seen.replace(":443/", "/").replace(":80/", "/") == right else "✗"


def measure_context(rounds: int, seconds: float, pool: int = 4096) -> tuple[list[ContextRow], str]:
    """The rows (added time per request over the bare app) and a note on what was run."""
    numbers = [1 + n % 250 for n in range(pool)]
    environs = [_environ(n) for n in numbers]
    scopes = [_scope(n) for n in numbers]
    runs: dict[str, tuple[Callable[[list[Any]], None], list[Any]]] = {}
    seen: dict[str, str] = {}
    for name in ("bare-wsgi", *(n for n, (_, bare) in CONTENDERS.items() if bare == "bare-wsgi")):
        app, wprobe = _wsgi(name)
        runs[name] = (wsgi_loop(app), environs)
        wsgi_loop(app)(environs[:1])
        seen[name] = wprobe.seen
    for name in ("bare-asgi", *(n for n, (_, bare) in CONTENDERS.items() if bare == "bare-asgi")):
        app, aprobe = _asgi(name)
        runs[name] = (asgi_loop(app), scopes)
        asgi_loop(app)(scopes[:1])
        seen[name] = aprobe.seen
    timed = compare(runs, rounds, seconds)
    expected = _EXPECTED.format(n=numbers[0])
    rows = []
    for name, (does, bare) in CONTENDERS.items():
        added = timed[name]
        base = timed[bare].median
        shifted = Stats(added.median - base, added.q1 - base, added.q3 - base, added.samples)
        right = _RIGHT.get(name, _EXPECTED).format(n=numbers[0])
        rows.append(ContextRow(name, does, shifted, seen[name], _same_url(seen[name], right)))
    note = (
        "One ingress-nginx request (X-Forwarded-For, -Proto, -Host, -Port, -Prefix from peer 10.1.2.3, a different "
        f"client each time), wrapped minus bare: bare WSGI {timed['bare-wsgi'].median / 1000:.2f} µs, bare ASGI "
        f"{timed['bare-asgi'].median / 1000:.2f} µs. The answer is what the app saw: the client and the root URL it "
        f"builds: `{expected}` when the scheme, host, port and prefix are all read (✓ right for the work a row "
        "claims; ≈ the same URL with its default port spelled out)."
    )
    return rows, note


def table(rows: list[ContextRow]) -> list[str]:
    """The Markdown table of the rows."""
    out = ["| contender | does | added per request | the app saw |", "|---|---|---|---|"]
    for row in rows:
        out.append(
            f"| {row.name} | {row.does} | {row.stats.median / 1000:.2f} µs ±{row.stats.iqr / 2000:.2f} "
            f"| `{row.answer}` {row.mark} |"
        )
    return out
