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
- ``request[REALIP]`` holds the :class:`~realip.Result` (with the original peer as ``result.peer``), and with
  ``layer4``, ``request[REALIP_LAYER4]`` what the balancer carried.

The request object is changed in place rather than cloned: aiohttp writes its access log (``%a``) from the request
it created, not from a clone a middleware hands on, so a clone would leave the proxy's address in the log (this is
why aiohttp-remotes' middlewares cannot fix the log). In place means writing the value aiohttp caches for its
``remote`` and ``scheme`` properties; should an aiohttp release stop caching them that way, the middleware falls back
to ``request.clone(remote=..., scheme=...)``, which is aiohttp's public way, and only the access log loses the client.
Debatable, since the cache is aiohttp's own detail; it is what makes the log right and costs nothing per request,
and a test pins it.

Put the middleware first in ``middlewares`` (:func:`setup` does): a middleware before it would see the peer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ._adapter import adapter_setup
from .diagnostics import WARNING_REASONS, FailureLog, report
from .resolver import Resolver, Result

__all__ = ["REALIP", "REALIP_LAYER4", "realip_middleware", "setup"]


_RequestKey = getattr(web, "RequestKey", None)  # typed request keys (aiohttp 3.14); plain str keys before
#: The request key of the :class:`~realip.Result`: ``request[REALIP]``.
REALIP: web.RequestKey[Result] = _RequestKey("realip", Result) if _RequestKey else "realip"  # type: ignore[assignment]
#: The request key of what a Layer-4 load balancer carried (with ``layer4=``): ``request[REALIP_LAYER4]``.
REALIP_LAYER4: web.RequestKey[Any] = _RequestKey("realip_layer4", object) if _RequestKey else "realip_layer4"  # type: ignore[assignment]

_CACHE = "_cache"  # where aiohttp keeps the values of its cached request properties (remote, scheme, url)


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
        client = result.client_ip
        scheme = result.scheme if proto else None
        cache = getattr(request, _CACHE, None)
        if type(cache) is dict:  # in place: the access log reads this very request (see the module docstring)
            if client is not None:
                cache["remote"] = client
            if scheme is not None:
                cache["scheme"] = scheme
                cache.pop("url", None)  # derived from the scheme, if something computed it already
        elif client is not None or scheme is not None:
            changes: dict[str, str] = {}
            if client is not None:
                changes["remote"] = client
            if scheme is not None:
                changes["scheme"] = scheme
            request = request.clone(**changes)  # type: ignore[arg-type]
        if result.reason in WARNING_REASONS:
            report(result)
        return request

    realip.resolver = resolver  # type: ignore[attr-defined]
    return realip


def setup(
    app: web.Application, *, resolver: Resolver | None = None, layer4: Any = None, **resolver_options: Any
) -> None:
    """Put :func:`realip_middleware` first in ``app.middlewares`` (before the app starts)."""
    app.middlewares.insert(0, realip_middleware(resolver=resolver, layer4=layer4, **resolver_options))
