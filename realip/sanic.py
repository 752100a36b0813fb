"""Sanic extension: ``request.client_ip`` and the access log show the real client, ``request.ctx.realip`` the Result.

::

    from sanic import Sanic
    from realip.sanic import RealIP

    app = Sanic("app")
    RealIP(app, trusted_proxies=["10.0.0.0/8", "cgnat"])   # or RealIP(...) then .init_app(app)

    @app.get("/")
    async def index(request):
        return text(f"{request.client_ip} via {request.ctx.realip.source}")

Threat model: every request header is attacker input. Only the socket peer (``request.conn_info``) and the
configured trust decide how far a forwarding header is believed; see :mod:`realip.resolver`. Nothing in a request
can make the middleware raise: on an unexpected failure it logs once and the request goes on unchanged.

Sanic's own proxy settings trust by count (``PROXIES_COUNT``), by a shared secret (``FORWARDED_SECRET``) or blindly
(``REAL_IP_HEADER``); realip replaces them. It fills in what Sanic's ``request.forwarded`` would hold, so Sanic's own
accessors follow:

- ``request.remote_addr`` and ``request.client_ip`` are the client (IPv6 in brackets, as Sanic writes them;
  ``request.ctx.realip.client_ip`` is the canonical form), and so is the host in Sanic's access log;
- ``request.scheme`` follows the trusted hop (``ws``/``wss`` for websockets) when ``proto_header`` is set;
- ``request.host``, ``request.server_name``, ``request.server_port`` and so ``request.url`` and ``request.url_for()``
  follow the trusted hop's host and port when ``host_header`` or ``port_header`` is set (Sanic's ``forwarded["host"]``
  and ``["port"]``; a ``SERVER_NAME`` in the config still wins, as Sanic documents), and ``request.server_path`` is
  the path the client asked for, the forwarded prefix in front (``forwarded["path"]``);
- with ``strip_untrusted``, ``request.headers`` loses every forwarding header realip did not believe (the believed
  ones are put back as the walk read them); the ``Host`` header stays as it arrived, ``request.host`` is the answer;
- ``request.ip`` and ``request.port`` stay the socket peer, as Sanic documents them;
- ``request.ctx.realip`` is the :class:`~realip.Result`, and with ``layer4``, ``request.ctx.realip_layer4`` what the
  balancer carried.

The prefix (``prefix_header``) is in ``request.ctx.realip.prefix`` and ``request.server_path``, not in the URLs Sanic
builds: Sanic routes on ``request.path`` and has no script root, and ``url_for`` writes a route's path from the app's
root. Behind a proxy that strips a prefix, put it in front of the path ``url_for`` returns.

It is a request middleware with a priority above any you would use, so it runs first; websocket handlers get it
too. The server refuses to start while ``PROXIES_COUNT``, ``FORWARDED_SECRET`` or ``REAL_IP_HEADER`` is set: two
answers to "who is the client" would disagree, and Sanic's would be the forgeable one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sanic import Request, Sanic

from ._adapter import adapter_setup
from ._rewrite import Rewrite
from .diagnostics import WARNING_REASONS, FailureLog, report
from .errors import ConfigError
from .resolver import Resolver, Result

__all__ = ["PRIORITY", "SANIC_PROXY_SETTINGS", "RealIP"]

#: The middleware's priority: Sanic runs higher priorities first.
PRIORITY = 1_000_000
#: Sanic's own proxy settings, which realip replaces (the server refuses to start with any of them set).
SANIC_PROXY_SETTINGS = ("PROXIES_COUNT", "FORWARDED_SECRET", "REAL_IP_HEADER")


class RealIP:
    """The Sanic extension: ``RealIP(app, **options)``, or ``RealIP(**options)`` then ``init_app(app)``.

    ``RealIP(app, trusted_proxies=[...])`` builds a :class:`~realip.Resolver` from the keyword options;
    ``resolver=`` uses one you built; with neither, ``Resolver.from_env()`` reads the ``REALIP_*`` variables.
    Passing both is a ``TypeError``; a bad option raises :class:`~realip.ConfigError` here. ``layer4`` (see
    :mod:`realip.layer4`) reads a Layer-4 client by the connection's peer and local addresses. The extension is
    ``app.ctx.realip``.
    """

    __slots__ = ("_layer4", "_log_failure", "_proto", "_resolve", "_rewrite", "resolver")

    def __init__(
        self,
        app: Sanic[Any, Any] | None = None,
        *,
        resolver: Resolver | None = None,
        layer4: Any = None,
        **resolver_options: Any,
    ) -> None:
        self.resolver, self._layer4 = adapter_setup("RealIP", resolver, layer4, resolver_options)
        self._resolve = self.resolver.resolve
        self._proto = self.resolver.proto_header is not None
        self._rewrite = Rewrite(self.resolver)
        self._log_failure = FailureLog("the request passes through unchanged")
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Sanic[Any, Any]) -> None:
        """Register the request middleware (first) and the start-up check; the extension becomes ``app.ctx.realip``."""
        if getattr(app.ctx, "realip", None) is not None:
            raise RuntimeError(f"realip: RealIP is already initialised on the Sanic app {app.name!r}")
        app.ctx.realip = self
        app.register_middleware(self.on_request, "request", priority=PRIORITY)
        app.register_listener(self.check_config, "before_server_start")

    @staticmethod
    def check_config(app: Sanic[Any, Any]) -> None:
        """Refuse to start while one of Sanic's own proxy settings is set (a ``before_server_start`` listener)."""
        set_ = [f"{name}={app.config.get(name)!r}" for name in SANIC_PROXY_SETTINGS if app.config.get(name)]
        if set_:
            raise ConfigError(
                f"Sanic's {', '.join(set_)} decides the client itself, by count or header, while realip.sanic "
                f"decides it from trusted_proxies: unset it (realip's trusted_proxies and header replace "
                f"{', '.join(SANIC_PROXY_SETTINGS)})"
            )

    def on_request(self, request: Request) -> None:
        """The request middleware (synchronous: Sanic calls it without an extra coroutine)."""
        try:
            conn = request.conn_info
            if conn is None:
                return
            peer = conn.peername if isinstance(conn.peername, tuple) else None  # None: a UNIX socket
            layer4 = self._layer4
            carried = None
            if layer4 is not None:
                connection = {"client": peer, "server": conn.sockname}
                carried = layer4.asgi(connection)
                request.ctx.realip_layer4 = layer4.details_asgi(connection)
            result = self._resolve(peer, request.headers, carried)
            request.ctx.realip = result
            # What Sanic's request.forwarded would hold: remote_addr, client_ip, scheme, host, server_name,
            # server_port, server_path, url_for and the access log follow it.
            forwarded: dict[str, Any] = {}
            client = result.client_ip
            if client is not None:
                forwarded["for"] = f"[{client}]" if ":" in client else client
                if self._proto and result.scheme is not None:
                    forwarded["proto"] = result.scheme
            if self._rewrite.active:
                self._context(request, conn, result, forwarded)
            if forwarded:
                request.parsed_forwarded = forwarded
            if result.reason in WARNING_REASONS:
                report(result, request)
        except Exception:
            self._log_failure(request.ip)

    def _context(self, request: Request, conn: Any, result: Result, forwarded: dict[str, Any]) -> None:
        """Strip the forwarding headers realip did not believe, and add host, port and path to ``forwarded``.

        Computed before anything is written, so a failure leaves the request as it came. Nothing here may read
        ``request.scheme`` or ``request.host``: Sanic caches the scheme on first use, from ``forwarded``.
        """
        believed = self.resolver.believed_headers(request.headers, result) if self.resolver.strip_untrusted else None
        scheme = forwarded.get("proto") or ("https" if getattr(conn, "ssl", False) else "http")
        authority = self._rewrite.authority(result, scheme, request.headers.get("host"), conn.sockname)
        if authority is not None:
            forwarded["host"] = authority[0]
            if authority[2] is not None:
                forwarded["port"] = authority[2]
        if result.prefix:
            forwarded["path"] = result.prefix + unquote(request.path)  # Sanic's forwarded path is decoded
        if believed is not None:
            headers = request.headers
            for name in self._rewrite.strip:
                headers.popall(name, None)
            for name, value in believed:
                headers.add(name, value)
