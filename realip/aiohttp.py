"""aiohttp middleware: ``request.remote`` is the real client, and the Result is on the request.

::

    from aiohttp import web
    from realip.aiohttp import REALIP, realip_middleware

    app = web.Application(middlewares=[realip_middleware(trusted_proxies=["10.0.0.0/8", "cgnat"])])

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=f"{request.remote} via {request[REALIP].source}")

Threat model: every request header is attacker input. Only the socket peer (the transport's ``peername``) and the
configured trust decide how far a forwarding header is believed; see :mod:`realip.resolver`. Nothing in a request
can make this middleware raise: on an unexpected failure it logs once and the request goes on unchanged.

What it does, per request (websocket handshakes included, since they are requests too):

- ``request.remote`` becomes the client address (left alone when the client is a UNIX-socket peer, which has none);
- ``request.scheme`` becomes ``http``/``https`` when ``proto_header`` is set and the trusted hop named one;
- ``request.host`` (and the ``Host`` header) becomes the host and port the client addressed when ``host_header`` or
  ``port_header`` is set and the trusted hop named them (a default port left out), so ``request.url``,
  ``request.url.origin()`` and ``request.url.join(app.router[name].url_for())`` build the client's URLs;
- with ``strip_untrusted``, ``request.headers`` and ``request.raw_headers`` lose every forwarding header realip did not
  believe (the believed ones are put back as the walk read them);
- ``request[REALIP]`` holds the :class:`~realip.Result` (with the original peer as ``result.peer``), and with
  ``layer4``, ``request[REALIP_LAYER4]`` what the balancer carried.

The path prefix (``prefix_header``) is only in ``request[REALIP].prefix``: aiohttp has no script root to put it in.
Its routes, ``request.path``, ``request.rel_url`` and ``request.url`` are the path the app received, and a route's
``url_for()`` is a path from the app's root; writing the prefix into ``rel_url`` would change what sub-applications
and path-normalising middleware match, and into ``request.url`` alone would break aiohttp's ``url == origin +
rel_url``. Behind a proxy that strips a prefix, put it in front of the links you build::

    prefix = request[REALIP].prefix or ""
    link = request.url.origin().join(URL(prefix + str(request.app.router["index"].url_for())))

The request object is changed in place rather than cloned: aiohttp writes its access log (``%a``) from the request
it created, not from a clone a middleware hands on, so a clone would leave the proxy's address in the log (this is
why aiohttp-remotes' middlewares cannot fix the log). In place means writing the values aiohttp caches for its
``remote``, ``scheme``, ``host``, ``headers`` and ``raw_headers`` properties (and dropping the cached ``url``); should
an aiohttp release stop caching them that way, the middleware falls back to ``request.clone(remote=..., scheme=...,
host=..., headers=...)``, which is aiohttp's public way, and only the access log loses the client.
Debatable, since the cache is aiohttp's own detail; it is what makes the log right and costs nothing per request,
and a test pins it.

Put the middleware first in ``middlewares`` (:func:`setup` does): a middleware before it would see the peer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict, CIMultiDictProxy

from ._adapter import adapter_setup
from ._rewrite import Rewrite
from .diagnostics import WARNING_REASONS, FailureLog, report
from .resolver import Resolver, Result

__all__ = ["REALIP", "REALIP_LAYER4", "realip_middleware", "setup"]


_RequestKey = getattr(web, "RequestKey", None)  # typed request keys (aiohttp 3.14); plain str keys before
#: The request key of the :class:`~realip.Result`: ``request[REALIP]``.
REALIP: web.RequestKey[Result] = _RequestKey("realip", Result) if _RequestKey else "realip"  # type: ignore[assignment]
#: The request key of what a Layer-4 load balancer carried (with ``layer4=``): ``request[REALIP_LAYER4]``.
REALIP_LAYER4: web.RequestKey[Any] = _RequestKey("realip_layer4", object) if _RequestKey else "realip_layer4"  # type: ignore[assignment]

_CACHE = "_cache"  # where aiohttp keeps the values of its cached request properties (remote, scheme, host, url, ...)


def realip_middleware(*, resolver: Resolver | None = None, layer4: Any = None, **resolver_options: Any) -> Middleware:
    """An aiohttp middleware resolving each request's real client; bad configuration raises here, at start-up.

    ``realip_middleware(trusted_proxies=[...])`` builds a :class:`~realip.Resolver` from the keyword options;
    ``realip_middleware(resolver=r)`` uses one you built; with neither, ``Resolver.from_env()`` reads the
    ``REALIP_*`` variables. Passing both is a ``TypeError``; a bad option raises :class:`~realip.ConfigError`.
    ``layer4`` (see :mod:`realip.layer4`) reads a Layer-4 client by the connection's peer and local addresses.
    """
    resolver, layer4_source = adapter_setup("realip_middleware", resolver, layer4, resolver_options)
    resolve = resolver.resolve
    proto = resolver.proto_header is not None
    rewrite = Rewrite(resolver)
    strip = frozenset(name.encode("latin-1") for name in rewrite.strip)
    log_failure = FailureLog("the request passes through unchanged")

    @web.middleware
    async def realip(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            request = _resolve(request)
        except Exception:
            log_failure(request.remote)
        return await handler(request)

    def _resolve(request: web.Request) -> web.Request:
        transport = request.transport
        if transport is None:  # the client is already gone: nothing to resolve
            return request
        peer = transport.get_extra_info("peername")
        if not isinstance(peer, tuple):
            peer = None  # a UNIX socket: "" or a path, never an address
        carried = details = None
        if layer4_source is not None:
            connection = {"client": peer, "server": transport.get_extra_info("sockname")}
            carried, details = layer4_source.asgi(connection), layer4_source.details_asgi(connection)
        result = resolve(peer, request.raw_headers, carried)
        request[REALIP] = result
        if layer4_source is not None:
            request[REALIP_LAYER4] = details
        # Every change is computed before any is written, so a failure leaves the request as it came.
        changes: dict[str, Any] = {}
        if result.client_ip is not None:
            changes["remote"] = result.client_ip
        scheme = result.scheme if proto else None
        if scheme is not None:
            changes["scheme"] = scheme
        if rewrite.active:
            changes.update(_context(request, result, scheme or request.scheme, transport.get_extra_info("sockname")))
        cache = getattr(request, _CACHE, None)
        if type(cache) is dict:  # in place: the access log reads this very request (see the module docstring)
            raw = changes.pop("raw_headers", None)
            if raw is not None:
                cache["raw_headers"] = raw
                cache["headers"] = CIMultiDictProxy(CIMultiDict(_decoded(raw)))
            cache.update(changes)
            if "scheme" in changes or "host" in changes:
                cache.pop("url", None)  # derived from the scheme and host, if something computed it already
        elif changes:
            raw = changes.pop("raw_headers", None)
            if raw is not None:
                changes["headers"] = _decoded(raw)
            request = request.clone(**changes)
        if result.reason in WARNING_REASONS:
            report(result, request)
        return request

    def _context(request: web.Request, result: Result, scheme: str, local: object) -> dict[str, Any]:
        """The raw headers without the forwarding ones realip did not believe, and the host the client addressed."""
        changes: dict[str, Any] = {}
        raw: list[tuple[bytes, bytes]] | None = None
        if resolver.strip_untrusted:
            raw = [(name, value) for name, value in request.raw_headers if name.lower() not in strip]
            believed = resolver.believed_headers(request.raw_headers, result)
            raw += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in believed]
        authority = rewrite.authority(result, scheme, request.headers.get(hdrs.HOST), local)
        if authority is not None:
            changes["host"] = authority[0]
            kept = request.raw_headers if raw is None else raw
            raw = [(name, value) for name, value in kept if name.lower() != b"host"]
            raw.append((b"Host", authority[0].encode("ascii")))
        if raw is not None:
            changes["raw_headers"] = tuple(raw)
        return changes

    realip.resolver = resolver  # type: ignore[attr-defined]
    return realip


def _decoded(raw: tuple[tuple[bytes, bytes], ...]) -> list[tuple[str, str]]:
    """Raw header lines as aiohttp's parser decodes them into ``request.headers`` (UTF-8, undecodable bytes kept)."""
    return [(name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")) for name, value in raw]


def setup(
    app: web.Application, *, resolver: Resolver | None = None, layer4: Any = None, **resolver_options: Any
) -> None:
    """Put :func:`realip_middleware` first in ``app.middlewares`` (before the app starts)."""
    app.middlewares.insert(0, realip_middleware(resolver=resolver, layer4=layer4, **resolver_options))
