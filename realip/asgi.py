"""ASGI middleware: the real client in ``scope["client"]`` for Starlette, FastAPI, or any ASGI app.

Threat model: every request header is attacker input. Only the socket peer (``scope["client"]`` as the server set
it) and the configured trust decide how far a forwarding header is believed; see :mod:`realip.resolver`. Nothing in
a request can make this middleware raise: on any unexpected failure the request goes on unchanged.

What it does, for ``http`` and ``websocket`` scopes only (``lifespan`` and others pass through untouched):

- ``scope["client"]`` becomes ``(client_ip, client_port or 0)``, so ``request.client`` and the server's access log
  show the real client; it is left alone when the client is a UNIX-socket peer (no address);
- ``scope["scheme"]`` becomes ``http``/``https`` (``ws``/``wss`` for websockets) when ``proto_header`` is set and the
  trusted hop named a scheme;
- ``scope["state"]["realip"]`` holds the :class:`~realip.Result` (Starlette: ``request.state.realip``), which keeps
  the original socket peer as ``result.peer`` and ``result.peer_port``.

In place, not a copy: the scope dict is changed where it is. uvicorn writes its access log from the very dict it
passed to the app, so the log shows the resolved client. Put this middleware outermost (Starlette's
``add_middleware`` does): a layer above it that copies the scope would keep the peer in its copy and in the log.

Run uvicorn with ``--no-proxy-headers`` (``proxy_headers=False``): by default uvicorn rewrites ``scope["client"]``
from X-Forwarded-For itself (trusting 127.0.0.1), and this middleware would then see that guess, not the peer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._adapter import adapter_setup
from ._context import default_port, host_text, host_value, quoted
from .diagnostics import WARNING_REASONS, FailureLog, report
from .layer4 import STATE_KEY
from .resolver import Resolver, Result

__all__ = ["ASGIApp", "Message", "RealIPMiddleware", "Receive", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("realip")

_WEBSOCKET_SCHEMES = {"http": "ws", "https": "wss"}
_RESOLVED = frozenset(("http", "websocket"))  # the scope types with a client; lifespan and others pass through


def _reusable(scope: Scope) -> tuple[Any, Any]:
    """``scope["client"]`` and ``scope["headers"]`` in forms that can be read twice: the spec allows any iterable
    (falcon.testing sends iterators, down to each header pair), which realip and then the app would both read. The
    copies are written back to the scope, so the app sees them too. Servers send a list and a tuple: not called."""
    client, headers = scope.get("client"), scope["headers"]
    if client is not None and type(client) is not tuple and not isinstance(client, (str, bytes)):
        try:
            client = scope["client"] = tuple(client)
        except TypeError:  # not iterable: the resolver reports it as given, an untrusted peer
            pass
    if type(headers) is not list:
        headers = scope["headers"] = [pair if type(pair) is tuple else tuple(pair) for pair in headers]
    return client, headers


class RealIPMiddleware:
    """Resolve each request's real client and write it into the ASGI scope.

    ``RealIPMiddleware(app, trusted_proxies=[...])`` builds a :class:`~realip.Resolver` from the keyword options;
    ``RealIPMiddleware(app, resolver=r)`` uses one you built; with neither, ``Resolver.from_env()`` reads the
    ``REALIP_*`` variables. Passing both ``resolver`` and options is a ``TypeError``. Bad configuration raises
    :class:`~realip.ConfigError` here. Starlette and FastAPI build middleware lazily, at the first event they serve:
    run uvicorn with ``--lifespan on`` so that is start-up, or build the ``Resolver`` at import
    (``add_middleware(RealIPMiddleware, resolver=Resolver(...))``); under ``--lifespan auto`` a bad entry would
    otherwise surface as a 500 on every request.
    """

    __slots__ = ("_layer4", "_log_failure", "_proto", "_resolve", "_rewrites", "_strip", "app", "resolver")

    def __init__(
        self,
        app: ASGIApp | None = None,
        /,
        *,
        resolver: Resolver | None = None,
        layer4: Any = None,
        **resolver_options: Any,
    ) -> None:
        # ``app`` is positional-only so type checkers accept ``add_middleware(RealIPMiddleware, **options)``;
        # Starlette before 0.38 passes it by keyword, so ``app=`` is taken from the options too.
        if app is None:
            app = resolver_options.pop("app", None)
            if app is None:
                raise TypeError("RealIPMiddleware: the ASGI app to wrap is missing")
        self.resolver, self._layer4 = adapter_setup("RealIPMiddleware", resolver, layer4, resolver_options)
        self.app = app
        self._resolve = self.resolver.resolve
        self._proto = self.resolver.proto_header is not None
        resolver = self.resolver
        # The forwarded context (host, port, prefix) or stripping: only then is there more to write than the client.
        contexts = (resolver.host_header, resolver.port_header, resolver.prefix_header)
        self._rewrites = resolver.strip_untrusted or any(name is not None for name in contexts)
        self._strip = frozenset(name.encode("latin-1") for name in resolver.strip_names())
        self._log_failure = FailureLog("the request passes through unchanged")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in _RESOLVED:
            try:  # everything is computed, and state written, before the client and scheme are touched
                layer4 = self._layer4
                client, headers = scope.get("client"), scope["headers"]
                if type(headers) is not list or (client is not None and type(client) is not tuple):
                    client, headers = _reusable(scope)
                result = self._resolve(client, headers, None if layer4 is None else layer4.asgi(scope))
                scheme = result.scheme if self._proto else None
                if scheme is not None and scope["type"] == "websocket":
                    scheme = _WEBSOCKET_SCHEMES[scheme]
                state = scope.get("state")
                if state is None:
                    state = scope["state"] = {}
                state["realip"] = result  # a TypeError for anything but a mapping: the request goes on as is
                if layer4 is not None:
                    state[STATE_KEY] = layer4.details_asgi(scope)
                updates = self._updates(scope, result, scheme) if self._rewrites else None
            except Exception:
                self._log_failure(scope.get("client"))
            else:
                if result.client_ip is not None:
                    scope["client"] = (result.client_ip, result.client_port or 0)
                if scheme is not None:
                    scope["scheme"] = scheme
                if updates:
                    scope.update(updates)
                if result.reason in WARNING_REASONS:
                    report(result, scope)
        await self.app(scope, receive, send)

    def _updates(self, scope: Scope, result: Result, scheme: str | None) -> dict[str, Any]:
        """The scope keys the forwarded context changes: the headers without the forwarding ones realip did not
        believe (``strip_untrusted``), the Host header and ``server`` (``host_header``, ``port_header``), and
        ``root_path``, ``path`` and ``raw_path`` (``prefix_header``; ``path`` includes ``root_path``, as the ASGI spec
        says). Computed before anything is written, so a failure leaves the scope as it came."""
        updates: dict[str, Any] = {}
        headers = scope["headers"]
        if self.resolver.strip_untrusted:
            strip = self._strip
            headers = [(name, value) for name, value in headers if bytes(name).lower() not in strip]
            headers += [
                (name.encode(), value.encode("latin-1"))
                for name, value in self.resolver.believed_headers(scope["headers"], result)
            ]
            updates["headers"] = headers
        if result.host is not None or result.server_port is not None:
            scheme = scheme or scope.get("scheme")
            current, kept = None, []
            for pair in headers:  # the Host header apart, every other line kept as it came
                name = pair[0]
                if len(name) == 4 and bytes(name).lower() == b"host":
                    current = pair[1]
                else:
                    kept.append(pair)
            host, port = result.host, result.server_port
            if host is None:  # a forwarded port alone: the request's own host, else the server's
                found = host_value(bytes(current).decode("latin-1")) if current else None
                server = scope.get("server") or (None, None)
                host = found[0] if found else server[0]
                if port is None:
                    port = found[1] if found and found[1] else server[1]
            elif port is None:
                port = default_port(scheme)
            if host is not None:
                kept.append((b"host", host_text(host, port, scheme).encode("latin-1")))
                updates["headers"] = kept
                updates["server"] = (host.strip("[]"), port)
        if result.prefix:
            updates["root_path"] = result.prefix + scope.get("root_path", "")
            updates["path"] = result.prefix + scope.get("path", "")
            if scope.get("raw_path") is not None:
                updates["raw_path"] = quoted(result.prefix) + bytes(scope["raw_path"])
        return updates
