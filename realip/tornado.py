"""Tornado: an ``HTTPServer`` that replaces ``xheaders``, and a ``RequestHandler`` mixin for servers you do not build.

::

    from realip.tornado import RealIPHTTPServer, RealIPHandlerMixin

    server = RealIPHTTPServer(app, trusted_proxies=["10.0.0.0/8", "cgnat"])   # instead of xheaders=True
    server.listen(8000)

    class MainHandler(RealIPHandlerMixin, tornado.web.RequestHandler):
        def get(self):
            self.write(f"{self.request.remote_ip} via {self.realip.source}")

Threat model: every request header is attacker input. Only the socket peer and the configured trust decide how far
a forwarding header is believed; see :mod:`realip.resolver`. Tornado's own ``xheaders=True`` believes
``X-Real-Ip`` from anyone and skips ``trusted_downstream`` entries by exact string; realip replaces it. Nothing in a
request can make either form raise: on an unexpected failure it logs once and the request goes on unchanged.

:class:`RealIPHTTPServer` resolves each request as its headers arrive, before Tornado builds the request, the way
``xheaders`` does: ``request.remote_ip`` is the client (and so is the host in Tornado's access log,
``Application.log_request``), ``request.protocol`` follows the trusted hop when ``proto_header`` is set, and every
handler (websockets included) and any other callback sees them. It takes the keyword options of the ASGI middleware
(``resolver=``, ``layer4=``, the :class:`~realip.Resolver` options) beside ``HTTPServer``'s own, and refuses
``xheaders=True``.

:class:`RealIPHandlerMixin` is for a server built elsewhere: ``Application.listen()``, gunicorn's tornado worker
(which has no way to turn on ``xheaders``), a test harness. It resolves when the handler is created, before
``initialize`` and ``prepare``, from the socket's address, so ``request.remote_ip`` and the access log show the
client too; configure it once with :func:`configure` (else ``REALIP_*``). Under :class:`RealIPHTTPServer` it only
reads what the server found. Either way ``handler.realip`` (or :func:`result` for any request) is the
:class:`~realip.Result`.

The forwarded context, in both forms: with ``host_header`` or ``port_header`` set, the ``Host`` header becomes the
host and port the client addressed (a default port left out), so ``request.host``, ``request.host_name`` and
``request.full_url()`` follow the trusted hop; :class:`RealIPHTTPServer` writes it before Tornado builds the request,
so host-based routing (``add_handlers(host_pattern, ...)``) matches it too. With ``strip_untrusted``,
``request.headers`` loses every forwarding header realip did not believe (the believed ones are put back as the walk
read them). The prefix (``prefix_header``) is only in the Result (``handler.realip.prefix``): Tornado has no script
root, and routes on ``request.path``, so ``request.uri``, ``full_url()`` and ``reverse_url()`` keep the path the app
received. Behind a proxy that strips a prefix, put it in front of the paths you link to (it is decoded, so quote
it)::

    prefix = urllib.parse.quote(self.realip.prefix or "")
    link = f"{self.request.protocol}://{self.request.host}{prefix}{self.reverse_url('index')}"
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable
from typing import Any

from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.web import Application

from ._adapter import AdapterSetup, adapter_setup
from ._rewrite import Rewrite
from .diagnostics import WARNING_REASONS, FailureLog, report
from .errors import ConfigError
from .options import RESOLVER_KEYWORDS
from .resolver import Resolver, Result

__all__ = ["SETTINGS_KEY", "RealIPHTTPServer", "RealIPHandlerMixin", "configure", "result"]

#: The ``Application.settings`` key holding what :func:`configure` set up for :class:`RealIPHandlerMixin`.
SETTINGS_KEY = "realip"
_REWRITE_KEY = "realip.rewrite"  # the mixin's Rewrite, derived from the resolver in SETTINGS_KEY

_INET = (socket.AF_INET, socket.AF_INET6)
_log_failure = FailureLog("the request passes through unchanged")


def _peer(context: Any) -> Any:
    """The socket peer of a Tornado connection context: its address for TCP, None for a UNIX socket."""
    family = getattr(context, "address_family", None)
    return context.address if family in _INET else None


def _local(connection: Any) -> Any:
    """The server's own address of a Tornado connection (for Layer-4 lookups), or None."""
    stream = getattr(connection, "stream", None)
    sock = getattr(stream, "socket", None)
    try:
        return sock.getsockname() if sock is not None else None
    except OSError:
        return None


def _resolve(setup: AdapterSetup, context: Any, headers: httputil.HTTPHeaders, connection: Any) -> Result:
    peer = _peer(context)
    carried = None
    layer4 = setup.layer4
    if layer4 is not None:
        addresses = {"client": peer, "server": _local(connection)}
        carried = layer4.asgi(addresses)
        context.realip_layer4 = layer4.details_asgi(addresses)
    # The mapping, not get_all(): resolve() may read the headers twice, and Tornado joins repeated lines with ","
    # in their order, which is the same chain.
    return setup.resolver.resolve(peer, headers, carried)


class RealIPHTTPServer(HTTPServer):
    """``HTTPServer`` resolving the real client of every request (in place of ``xheaders``).

    ``RealIPHTTPServer(app, trusted_proxies=[...], **http_server_options)``; ``resolver=`` uses a Resolver you
    built; with neither, ``Resolver.from_env()`` reads the ``REALIP_*`` variables. Passing both is a ``TypeError``;
    a bad option raises :class:`~realip.ConfigError` here, at start-up.
    """

    realip: AdapterSetup
    _rewrite: Rewrite

    def initialize(  # type: ignore[override]
        self,
        request_callback: Any,
        *,
        resolver: Resolver | None = None,
        layer4: Any = None,
        xheaders: bool = False,
        **options: Any,
    ) -> None:
        if xheaders:
            raise ConfigError(
                "RealIPHTTPServer(xheaders=True): Tornado's xheaders would decide the client from headers anyone "
                "can send; realip replaces it: drop xheaders and name the proxies in trusted_proxies",
                "xheaders",
            )
        resolver_options = {key: options.pop(key) for key in RESOLVER_KEYWORDS if key in options}
        #: The resolver and Layer-4 source every request is resolved with.
        self.realip = adapter_setup("RealIPHTTPServer", resolver, layer4, resolver_options)
        self._rewrite = Rewrite(self.realip.resolver)
        super().initialize(request_callback, **options)

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        delegate = super().start_request(server_conn, request_conn)
        return _Resolving(delegate, request_conn, self.realip, self._rewrite)


class _Resolving(httputil.HTTPMessageDelegate):
    """Resolves the client as the headers arrive, then hands everything to Tornado's own delegate."""

    __slots__ = ("connection", "delegate", "rewrite", "setup")

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        connection: httputil.HTTPConnection,
        setup: AdapterSetup,
        rewrite: Rewrite,
    ) -> None:
        self.delegate = delegate
        self.connection = connection
        self.setup = setup
        self.rewrite = rewrite

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        context: Any = getattr(self.connection, "context", None)
        if context is not None:
            try:
                original = context.__dict__.get("realip_original")
                if original is None:  # the connection's own address and protocol, kept for every later request
                    original = context.realip_original = (context.remote_ip, context.protocol)
                found = _resolve(self.setup, context, headers, self.connection)
                context.realip = found
                context.remote_ip = original[0] if found.client_ip is None else found.client_ip
                context.protocol = found.scheme or original[1]
                if self.rewrite.active:  # before Tornado builds the request from the headers
                    _rewrite_headers(self.rewrite, found, headers, context.protocol, _local(self.connection))
                if found.reason in WARNING_REASONS:
                    report(found, headers)  # the request is not built yet: listeners get its headers
            except Exception:
                _log_failure(getattr(context, "address", None))
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


def configure(
    app: Application, *, resolver: Resolver | None = None, layer4: Any = None, **resolver_options: Any
) -> AdapterSetup:
    """Set up :class:`RealIPHandlerMixin` for ``app`` (in ``app.settings["realip"]``); bad options raise here.

    Not needed under :class:`RealIPHTTPServer`. Without it the mixin reads ``REALIP_*`` at the first request.
    """
    setup = adapter_setup("realip.tornado.configure", resolver, layer4, resolver_options)
    app.settings[SETTINGS_KEY] = setup
    return setup


def result(request: httputil.HTTPServerRequest) -> Result | None:
    """The :class:`~realip.Result` of a request, from :class:`RealIPHTTPServer` or :class:`RealIPHandlerMixin`."""
    found = request.__dict__.get("realip")
    if found is None:
        found = getattr(getattr(request.connection, "context", None), "realip", None)
    return found if isinstance(found, Result) else None


class RealIPHandlerMixin:
    """Gives a ``RequestHandler`` (or ``WebSocketHandler``) the real client; put it first among the bases.

    Under a plain ``HTTPServer`` it resolves the request when the handler is created, writing ``request.remote_ip``
    and ``request.protocol`` as :class:`RealIPHTTPServer` would; under :class:`RealIPHTTPServer` it reads its answer.
    """

    request: httputil.HTTPServerRequest

    def __init__(self, application: Application, request: httputil.HTTPServerRequest, **kwargs: Any) -> None:
        _resolve_for_handler(application, request)
        super().__init__(application, request, **kwargs)  # type: ignore[call-arg]

    @property
    def realip(self) -> Result | None:
        """The :class:`~realip.Result` for this request (``None`` only if resolving failed)."""
        return result(self.request)

    @property
    def realip_layer4(self) -> Any:
        """What a Layer-4 load balancer carried for this connection (with ``layer4``), or ``None``."""
        return getattr(getattr(self.request.connection, "context", None), "realip_layer4", None)


def _resolve_for_handler(application: Application, request: httputil.HTTPServerRequest) -> None:
    context = getattr(request.connection, "context", None)
    if isinstance(getattr(context, "realip", None), Result) and isinstance(
        context.__dict__.get("realip_original"), tuple
    ):
        return  # RealIPHTTPServer resolved it before the request was built
    setup = application.settings.get(SETTINGS_KEY)
    if not isinstance(setup, AdapterSetup):  # not configured: REALIP_* (a bad value raises, naming the variable)
        setup = configure(application)
    try:
        found = _resolve(setup, context or _NoContext(request), request.headers, request.connection)
        request.realip = found  # type: ignore[attr-defined]
        if found.client_ip is not None:
            request.remote_ip = found.client_ip
        if found.scheme is not None:
            request.protocol = found.scheme
        rewrite = _rewrite_for(application, setup.resolver)
        if rewrite.active:
            host = _rewrite_headers(rewrite, found, request.headers, request.protocol, _local(request.connection))
            if host is not None:  # Tornado read these from the Host header when it built the request
                request.host = host
                request.host_name = httputil.split_host_and_port(host.lower())[0]
        if found.reason in WARNING_REASONS:
            report(found, request)
    except Exception:
        _log_failure(request.remote_ip)


def _rewrite_for(application: Application, resolver: Resolver) -> Rewrite:
    """The application's :class:`Rewrite`, built once per resolver (``configure`` may be called again)."""
    rewrite = application.settings.get(_REWRITE_KEY)
    if not isinstance(rewrite, Rewrite) or rewrite.resolver is not resolver:
        rewrite = application.settings[_REWRITE_KEY] = Rewrite(resolver)
    return rewrite


def _rewrite_headers(
    rewrite: Rewrite, found: Result, headers: httputil.HTTPHeaders, scheme: str, local: object
) -> str | None:
    """Strip the forwarding headers realip did not believe and write the Host the client addressed, in ``headers``;
    the new Host, or ``None`` if it stays. Computed before anything is written."""
    resolver = rewrite.resolver
    believed = resolver.believed_headers(headers, found) if resolver.strip_untrusted else None
    authority = rewrite.authority(found, scheme, headers.get("Host"), local)
    if believed is not None:
        for name in rewrite.strip:
            if name in headers:
                del headers[name]
        for name, value in believed:
            headers.add(name, value)
    if authority is None:
        return None
    headers["Host"] = authority[0]
    return authority[0]


class _NoContext:
    """A request built without a connection context (a test's ``HTTPServerRequest``): its ``remote_ip`` is the peer."""

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        self.address = (request.remote_ip, None)
        self.address_family = socket.AF_INET6 if request.remote_ip and ":" in request.remote_ip else socket.AF_INET
