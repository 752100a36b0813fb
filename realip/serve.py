"""``realip serve``: a who-am-I probe. Deploy it behind your load balancer and see what the app would see.

Every request gets back the socket peer, the forwarding headers that arrived, the walk hop by hop and the resolved
client: JSON for programs (``Accept: application/json``, ``?format=json``, or any non-browser), an HTML page for
browsers (``Accept: text/html``). Headers are attacker input: the page escapes everything it echoes and its
Content-Security-Policy forbids scripts. uvicorn is an optional extra: ``pip install 'realip[serve]'``.
"""

from __future__ import annotations

import html
import json
import os
import sys
from typing import Any
from urllib.parse import parse_qs, quote

from .asgi import ASGIApp, RealIPMiddleware, Receive, Scope, Send
from .explain import Explanation, explain
from .layer4 import STATE_KEY
from .ranges import describe as describe_presets
from .resolver import Resolver, Result

__all__ = ["create_app", "run", "startup_line"]

#: Forwarding headers always echoed, whether or not they are configured (to show what a proxy sends).
SHOWN_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded", "x-forwarded-proto", "x-original-forwarded-for")

_CSP = b"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def startup_line(resolver: Resolver, host: str, port: int, layer4: Any = None) -> str:
    """The line printed at start-up, telling the operator what is trusted and which headers are read."""
    trusted = ", ".join(resolver.trusted_proxies) or "(nothing: every header is ignored)"
    if resolver.trusted_hops is not None:
        mode = f"hop-count mode: the client is entry {resolver.trusted_hops} from the right"
    else:
        mode = f"walking up to {resolver.max_hops} entries from the right"
    proto = f"; scheme from {resolver.proto_header}" if resolver.proto_header else ""
    balancers = ""
    if layer4 is not None:
        balancers = (
            f"; Layer 4: {layer4.kind} ({layer4.source.status()}) from {', '.join(resolver.layer4_proxies) or '-'}"
        )
    trusted = f"trusted proxies: {trusted}" if resolver.chain is None else f"chain: {resolver.chain_text()}"
    return (
        f"realip serve on http://{host}:{port}/ - {trusted}; "
        f"header: {', '.join(resolver.header)} ({mode}){proto}{balancers}"
    )


def create_app(resolver: Resolver, layer4: Any = None) -> ASGIApp:
    """The probe app wrapped in :class:`~realip.asgi.RealIPMiddleware` with ``resolver`` (and ``layer4``, see
    :mod:`realip.layer4`; configuration errors raise :class:`~realip.ConfigError`)."""
    probe = _WhoAmI(resolver)
    middleware = RealIPMiddleware(probe, resolver=resolver, layer4=layer4)
    probe.layer4 = middleware._layer4
    return middleware


def run(resolver: Resolver, host: str = "127.0.0.1", port: int = 8000, layer4: Any = None) -> None:
    """Serve the probe under uvicorn until interrupted (uvicorn's own proxy-header handling is turned off).

    With ``layer4``, the listener does what a Layer-4 load balancer's client needs: PROXY protocol is read (and
    required from the balancers, refused from others) by realip_toa's uvicorn protocol; saved-SYN mode listens with
    ``TCP_SAVE_SYN``; capture mode starts its raw socket.
    """
    try:
        import uvicorn
    except ImportError:
        raise SystemExit(
            "realip serve needs uvicorn, which is not installed: run  pip install 'realip[serve]'"
        ) from None
    app = create_app(resolver, layer4 if layer4 is not None else os.environ.get("REALIP_LAYER4") or None)
    http: Any = "h11"
    sockets = None
    chosen = app._layer4  # type: ignore[attr-defined]
    if chosen is not None:
        from realip_toa.servers import listen
        from realip_toa.uvicorn_hooks import proxy_protocol, toa_protocol

        mode = getattr(chosen.source, "mode", "")
        if mode == "proxy-protocol":
            http = proxy_protocol(chosen.source, "h11")
        elif mode in ("saved-syn", "kernel"):
            http = toa_protocol(chosen.source, "h11")
            sockets = [listen(host, port, save_syn=mode == "saved-syn")]
    print(startup_line(resolver, host, port, chosen), file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=host, port=port, http=http, proxy_headers=False, access_log=True)
    uvicorn.Server(config).run(sockets=sockets)


class _WhoAmI:
    """The bare ASGI probe: answers every HTTP request with what realip saw, and every websocket with JSON."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        #: The middleware's Layer-4 source, if any (set by :func:`create_app`).
        self.layer4: Any = None
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
        details = (scope.get("state") or {}).get(STATE_KEY)
        carried = self.layer4.carried(details) if self.layer4 is not None else None
        explanation: Explanation = explain(self.resolver, peer, headers, carried)
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
            "request": _request_view(scope),
            "layer4": None if self.layer4 is None else {"kind": self.layer4.kind, "carried": _carried(details)},
            "config": {
                "trusted_proxies": list(self.resolver.trusted_proxies),
                "header": list(self.resolver.header),
                "trusted_hops": self.resolver.trusted_hops,
                "max_hops": self.resolver.max_hops,
                "proto_header": self.resolver.proto_header,
                "host_header": self.resolver.host_header,
                "port_header": self.resolver.port_header,
                "prefix_header": self.resolver.prefix_header,
                "allowed_hosts": None if self.resolver.allowed_hosts is None else list(self.resolver.allowed_hosts),
                "strip_untrusted": self.resolver.strip_untrusted,
                "chain": self.resolver.chain_text(),
                "layer4_proxies": list(self.resolver.layer4_proxies),
                "presets": [use.as_dict() for use in describe_presets(self.resolver)],  # source, snapshot date
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


def _request_view(scope: Scope) -> dict[str, Any]:
    """The request as the app sees it after realip: scheme, Host, server port, root_path and path, and the URL an
    app builds from them (a forwarded host, port and prefix show here once believed)."""
    headers = scope.get("headers") or ()
    host = next((bytes(value).decode("latin-1") for name, value in headers if bytes(name).lower() == b"host"), None)
    server = scope.get("server")
    root_path, path = str(scope.get("root_path") or ""), str(scope.get("path") or "/")
    shown_host = host or (f"{server[0]}:{server[1]}" if server else "")
    return {
        "scheme": scope.get("scheme"),
        "host": host,
        "server_port": server[1] if server else None,
        "root_path": root_path,
        "path": path,
        "url": f"{scope.get('scheme') or 'http'}://{shown_host}{quote(path)}",
    }


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
<p>The URL as the app sees it: <code id="url">{_cell(report["request"]["url"])}</code> (host
<code id="host">{_cell(report["request"]["host"])}</code>, server port {_cell(report["request"]["server_port"])},
root path <code id="root-path">{_cell(report["request"]["root_path"] or "(none)")}</code>)</p>
<h2>Forwarding headers received</h2>
<table id="headers"><tr><th>name</th><th>value</th></tr>{headers}</table>
<h2>The walk, hop by hop</h2>
<table id="steps"><tr><th>hop</th><th>from</th><th>entry</th><th>verdict</th></tr>{steps}</table>
{_layer4_html(report["layer4"])}
<h2>Configuration</h2>
<p>Trusted proxies: <code>{_cell(", ".join(config["trusted_proxies"]) or "(nothing)")}</code>;
header: <code>{_cell(", ".join(config["header"]))}</code>; trusted hops: {_cell(config["trusted_hops"])};
max hops: {_cell(config["max_hops"])}; proto header: {_cell(config["proto_header"])};
host header: {_cell(config["host_header"])}; port header: {_cell(config["port_header"])};
prefix header: {_cell(config["prefix_header"])}; allowed hosts: {_cell(config["allowed_hosts"])};
strip untrusted: {_cell(config["strip_untrusted"])};
Layer-4 load balancers: <code>{_cell(", ".join(config["layer4_proxies"]) or "(none)")}</code>.</p>
</body>
</html>
"""


def _carried(details: Any) -> Any:
    """What the balancer carried, JSON-ready: a PROXY header's fields and TLVs, a TOA address, or None."""
    as_dict = getattr(details, "as_dict", None)
    return as_dict() if as_dict is not None else details


def _layer4_html(layer4: dict[str, Any] | None) -> str:
    """The Layer-4 section: what the load balancer carried for this connection (a PROXY header's fields and TLVs,
    or a TOA address), escaped like everything else."""
    if layer4 is None:
        return ""
    carried = layer4["carried"]
    if carried is None:
        rows = '<tr><td colspan="2">(nothing for this connection: a direct client, or a health check)</td></tr>'
    elif isinstance(carried, dict):
        rows = "".join(
            f"<tr><td>{_cell(name)}</td><td><code>{_cell(json.dumps(value, default=str))}</code></td></tr>"
            for name, value in carried.items()
        )
    else:
        rows = f"<tr><td>address</td><td><code>{_cell(carried)}</code></td></tr>"
    return (
        f"<h2>Layer 4: {_cell(layer4['kind'])}</h2>\n"
        f'<table id="layer4"><tr><th>field</th><th>value</th></tr>{rows}</table>'
    )
