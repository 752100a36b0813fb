"""``realip serve``: a who-am-I probe. Deploy it behind your load balancer and see what the app would see.

Every request gets back the socket peer, the forwarding headers that arrived, the walk hop by hop and the resolved
client: JSON for programs (``Accept: application/json``, ``?format=json``, or any non-browser), an HTML page for
browsers (``Accept: text/html``). Headers are attacker input: the page escapes everything it echoes and its
Content-Security-Policy forbids scripts. uvicorn is an optional extra: ``pip install 'realip[serve]'``.
"""

from __future__ import annotations

import html
import json
import sys
from typing import Any
from urllib.parse import parse_qs

from .asgi import ASGIApp, RealIPMiddleware, Receive, Scope, Send
from .explain import Explanation, explain
from .resolver import Resolver, Result

__all__ = ["create_app", "run", "startup_line"]

#: Forwarding headers always echoed, whether or not they are configured (to show what a proxy sends).
SHOWN_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded", "x-forwarded-proto", "x-original-forwarded-for")

_CSP = b"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def startup_line(resolver: Resolver, host: str, port: int) -> str:
    """The line printed at start-up, telling the operator what is trusted and which headers are read."""
    trusted = ", ".join(resolver.trusted_proxies) or "(nothing: every header is ignored)"
    if resolver.trusted_hops is not None:
        mode = f"hop-count mode: the client is entry {resolver.trusted_hops} from the right"
        if not resolver.checks_peer:
            trusted = "(peer not checked)"
    else:
        mode = f"walking up to {resolver.max_hops} entries from the right"
    proto = f"; scheme from {resolver.proto_header}" if resolver.proto_header else ""
    return (
        f"realip serve on http://{host}:{port}/ - trusted proxies: {trusted}; "
        f"header: {', '.join(resolver.header)} ({mode}){proto}"
    )


def create_app(resolver: Resolver) -> ASGIApp:
    """The probe app wrapped in :class:`~realip.asgi.RealIPMiddleware` with ``resolver``."""
    return RealIPMiddleware(_WhoAmI(resolver), resolver=resolver)


def run(resolver: Resolver, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the probe under uvicorn until interrupted (uvicorn's own proxy-header handling is turned off)."""
    try:
        import uvicorn
    except ImportError:
        raise SystemExit(
            "realip serve needs uvicorn, which is not installed: run  pip install 'realip[serve]'"
        ) from None
    print(startup_line(resolver, host, port), file=sys.stderr, flush=True)
    uvicorn.run(create_app(resolver), host=host, port=port, proxy_headers=False, access_log=True)


class _WhoAmI:
    """The bare ASGI probe: answers every HTTP request with what realip saw, and every websocket with JSON."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.shown = frozenset(
            SHOWN_HEADERS + resolver.header + ((resolver.proto_header,) if resolver.proto_header else ())
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    def report(self, scope: Scope) -> dict[str, Any]:
        """What the probe answers: the peer, the headers seen, the walk and the resolved client."""
        headers = [(bytes(name), bytes(value)) for name, value in scope.get("headers") or ()]
        result = (scope.get("state") or {}).get("realip")
        if isinstance(result, Result):
            peer: Any = result.peer if result.peer_port is None else (result.peer, result.peer_port)
        else:  # the middleware could not resolve (it logged why): the scope still holds the peer
            peer = scope.get("client")
        explanation: Explanation = explain(self.resolver, peer, headers)
        walk = explanation.as_dict()
        return {
            "client": walk["result"],
            "peer": {"ip": explanation.result.peer, "port": explanation.result.peer_port},
            "headers": [
                [name.decode("latin-1"), value.decode("latin-1")]
                for name, value in headers
                if name.decode("latin-1").lower() in self.shown
            ],
            "steps": walk["steps"],
            "why": walk["why"],
            "scheme": scope.get("scheme"),
            "config": {
                "trusted_proxies": list(self.resolver.trusted_proxies),
                "header": list(self.resolver.header),
                "trusted_hops": self.resolver.trusted_hops,
                "max_hops": self.resolver.max_hops,
                "proto_header": self.resolver.proto_header,
            },
        }

    async def _http(self, scope: Scope, send: Send) -> None:
        report = self.report(scope)
        if _wants_html(scope):
            body = _html(report).encode("utf-8")
            content_type = b"text/html; charset=utf-8"
        else:
            body = json.dumps(report, indent=2).encode("utf-8") + b"\n"
            content_type = b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"cache-control", b"no-store"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"content-security-policy", _CSP),
                    (b"vary", b"accept"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message.get("type") != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(self.report(scope))})
        await send({"type": "websocket.close", "code": 1000})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _wants_html(scope: Scope) -> bool:
    """``?format=json|html`` wins; then ``Accept``: JSON if asked for, HTML for browsers, JSON otherwise."""
    query = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1"))
    requested = (query.get("format") or [""])[-1].lower()
    if requested in ("json", "html"):
        return requested == "html"
    accept = ",".join(
        value.decode("latin-1") for name, value in scope.get("headers") or () if bytes(name).lower() == b"accept"
    ).lower()
    return "application/json" not in accept and "text/html" in accept


def _cell(value: object) -> str:
    """Escaped text for the page; ``None`` shows as ``(none)``."""
    return html.escape("(none)" if value is None else str(value), quote=True)


def _html(report: dict[str, Any]) -> str:
    """The browser page; every echoed value goes through :func:`html.escape`."""
    client = report["client"]
    port = f" port {_cell(client['client_port'])}" if client["client_port"] is not None else ""
    headers = (
        "".join(
            f"<tr><td>{_cell(name)}</td><td><code>{_cell(value)}</code></td></tr>" for name, value in report["headers"]
        )
        or '<tr><td colspan="2">(no forwarding headers)</td></tr>'
    )
    steps = "".join(
        f"<tr><td>{_cell('peer' if s['position'] == 0 else s['position'])}</td><td>{_cell(s['source'])}</td>"
        f"<td><code>{_cell(s['text'])}</code></td><td>{_cell(s['verdict'])}</td></tr>"
        for s in report["steps"]
    )
    config = report["config"]
    peer = report["peer"]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>realip: who am I?</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 56rem; color: #222; }}
.client {{ font-size: 2.4rem; font-weight: bold; background: #eef6ee; padding: .6rem 1rem; border-radius: .4rem; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; }}
td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }}
code {{ word-break: break-all; }}
</style>
</head>
<body>
<h1>Your address, as this app resolves it</h1>
<p class="client"><span id="client">{_cell(client["client_ip"])}</span>{port}</p>
<p>Source: <b id="source">{_cell(client["source"])}</b>; scheme: <b id="scheme">{_cell(client["scheme"])}</b>;
reason: <b id="reason">{_cell(client["reason"])}</b> &mdash; {_cell(report["why"])}.</p>
<p>Socket peer: <code id="peer">{_cell(peer["ip"])}</code> port {_cell(peer["port"])}</p>
<h2>Forwarding headers received</h2>
<table id="headers"><tr><th>name</th><th>value</th></tr>{headers}</table>
<h2>The walk, hop by hop</h2>
<table id="steps"><tr><th>hop</th><th>from</th><th>entry</th><th>verdict</th></tr>{steps}</table>
<h2>Configuration</h2>
<p>Trusted proxies: <code>{_cell(", ".join(config["trusted_proxies"]) or "(nothing)")}</code>;
header: <code>{_cell(", ".join(config["header"]))}</code>; trusted hops: {_cell(config["trusted_hops"])};
max hops: {_cell(config["max_hops"])}; proto header: {_cell(config["proto_header"])}.</p>
</body>
</html>
"""
