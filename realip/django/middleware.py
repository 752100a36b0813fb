"""Django middleware: ``request.client_ip`` and ``request.realip`` on every request, sync or async.

Threat model: every request header is attacker input. Only the socket peer (``REMOTE_ADDR``, or the ASGI
``scope["client"]``) and the configured trust decide how far a forwarding header is believed; see
:mod:`realip.resolver`. Nothing in a request can make this middleware raise: on an unexpected failure it logs once
and the request goes on with the peer as its client.

Per request it sets:

- ``request.client_ip``: the client address (``str``; ``""`` only for an unresolved UNIX-socket peer), and
  ``request.realip``: the full :class:`~realip.Result` (``None`` only after such a logged failure); with ``LAYER4``,
  ``request.realip_layer4``: what the Layer-4 balancer carried (the PROXY header with its TLVs, or the TOA address);
- unless ``REWRITE_REMOTE_ADDR`` is False: ``request.META["REMOTE_ADDR"]`` (the original kept in
  ``request.META["realip.orig_remote_addr"]``) and, when the client came from a header, ``REMOTE_PORT`` (its port,
  or removed). gunicorn logs ``REMOTE_ADDR`` from that very dict, so its access log shows the client; under ASGI
  ``scope["client"]`` is rewritten too, for uvicorn's access log;
- with ``PROTO_HEADER`` set and a scheme from a trusted hop: ``request.META["wsgi.url_scheme"]`` (WSGI) or
  ``scope["scheme"]`` (ASGI), the values Django's ``request.scheme`` and ``is_secure()`` read. Django's own
  ``SECURE_PROXY_SSL_HEADER`` takes the header's LEFTMOST value, the one the client wrote, from any peer; realip
  takes the value written by the client's own trusted hop. Do not set both (check ``realip.W002``).

Header names: a WSGI server folds ``X-Forwarded-For`` and ``X_Forwarded_For`` into one ``HTTP_X_FORWARDED_FOR``
key unless it drops names with underscores (gunicorn >= 22 and ``runserver`` drop them). Under ASGI this middleware
reads the raw ``scope["headers"]`` names, never ``META``: older Django releases' ASGIRequest folded the two into one
key too, and the raw list is what the server received.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from ..diagnostics import FailureLog, report
from ..resolver import Result
from ..wsgi import rewrite_context
from .conf import Config, get_config

__all__ = ["RealIPMiddleware"]

logger = logging.getLogger("realip")

Request = Any  # django.http.HttpRequest (Django ships no type hints)
Response = Any
GetResponse = Callable[[Request], Response | Awaitable[Response]]


class RealIPMiddleware:
    """Resolve the real client of each request; sync and async capable. Put it first in ``MIDDLEWARE``.

    Settings are checked when Django loads the middleware (at start-up): bad ones raise ``ImproperlyConfigured``
    naming the entry, before any request is served.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        get_config()  # bad settings fail now, at start-up, not at the first request
        self._log_failure = FailureLog("the request goes on with the peer as its client")
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)  # so Django awaits this instance (its documented hybrid pattern)

    def __call__(self, request: Request) -> Response:
        if self.async_mode:
            return self.__acall__(request)
        self.apply(request)
        return self.get_response(request)

    async def __acall__(self, request: Request) -> Response:
        self.apply(request)
        return await self.get_response(request)

    def apply(self, request: Request) -> None:
        """Resolve ``request``'s client and write it where Django and the server read it; never raises."""
        meta: MutableMapping[str, Any] = request.META
        try:
            config = get_config()
            scope = getattr(request, "scope", None)
            if isinstance(scope, MutableMapping) and scope.get("type") == "http":
                layer4 = config.layer4.asgi(scope) if config.layer4 is not None else None
                result = config.resolver.resolve(scope.get("client"), scope.get("headers") or (), layer4)
            else:
                scope = None
                layer4 = config.layer4.wsgi(meta) if config.layer4 is not None else None
                result = config.resolver.resolve(_wsgi_peer(meta), _wsgi_headers(meta, config), layer4)
        except Exception:
            self._log_failure(meta.get("REMOTE_ADDR"))
            request.realip = None
            request.client_ip = str(meta.get("REMOTE_ADDR") or "")
            return
        request.realip = result
        request.client_ip = result.client_ip or ""
        if config.layer4 is not None:
            details = config.layer4.details_asgi(scope) if scope is not None else config.layer4.details_wsgi(meta)
            request.realip_layer4 = details
        report(result, request)
        if config.rewrite_remote_addr:
            _rewrite_address(meta, scope, result)
        if result.scheme is not None:
            if scope is not None:
                scope["scheme"] = result.scheme
            else:
                meta["wsgi.url_scheme"] = result.scheme
        if config.rewrites:
            _rewrite_context(request, meta, scope, result, config)


def _rewrite_context(
    request: Request,
    meta: MutableMapping[str, Any],
    scope: MutableMapping[str, Any] | None,
    result: Result,
    config: Config,
) -> None:
    """The forwarded context where Django reads it: ``META`` (``HTTP_HOST``, ``SERVER_NAME``, ``SERVER_PORT`` for
    ``request.get_host()`` and ``build_absolute_uri()``; ``SCRIPT_NAME``), ``request.path`` and the script prefix
    ``reverse()`` uses, and under ASGI the scope too (Django read it before any middleware ran)."""
    from django.urls import set_script_prefix  # type: ignore[import-untyped]

    if scope is not None and result.scheme is not None:
        meta["wsgi.url_scheme"] = result.scheme  # rewrite_context reads the scheme from META for the default port
    rewrite_context(meta, result, config.resolver, config.meta_keys, config.strip_keys)
    if config.resolver.prefix_header is None:
        return
    if result.prefix:
        request.path = result.prefix + request.path
    # The prefix reverse() puts before every path: the script name, i.e. request.path without path_info. Set on
    # every request, prefix or none, as the thread may hold another request's (Django's test client never resets it).
    set_script_prefix(request.path[: len(request.path) - len(request.path_info)])
    if result.prefix and scope is not None:
        scope["root_path"] = result.prefix + scope.get("root_path", "")
        scope["path"] = result.prefix + scope.get("path", "")


def _wsgi_peer(meta: Mapping[str, Any]) -> str | tuple[str, int] | None:
    """The socket peer from ``REMOTE_ADDR`` and ``REMOTE_PORT``; ``None`` (a UNIX socket) when it is empty."""
    address = meta.get("REMOTE_ADDR")
    if not address or not isinstance(address, str):
        return None
    port = meta.get("REMOTE_PORT")
    if isinstance(port, str) and port.isascii() and port.isdigit() and len(port) <= 5:
        return (address, int(port))
    return address


def _wsgi_headers(meta: Mapping[str, Any], config: Config) -> list[tuple[str, str]]:
    """The configured headers found in ``META`` (a server joins repeated lines with commas, keeping their order)."""
    return [(name, value) for name, key in config.meta_keys if isinstance(value := meta.get(key), str)]


def _rewrite_address(meta: MutableMapping[str, Any], scope: MutableMapping[str, Any] | None, result: Result) -> None:
    """Write the client into ``REMOTE_ADDR`` (keeping the original), and its port when it came from a header."""
    meta["realip.orig_remote_addr"] = meta.get("REMOTE_ADDR", "")
    meta["REMOTE_ADDR"] = result.client_ip or ""
    if result.source == "peer" or result.client_ip is None:
        return  # the peer's own port still belongs with it
    if result.client_port is None:
        meta.pop("REMOTE_PORT", None)  # the proxy's port would not belong with the client's address
    else:
        # Django's ASGIRequest stores the port as an int, WSGI servers as a str: keep the request's own kind.
        meta["REMOTE_PORT"] = result.client_port if scope is not None else str(result.client_port)
    if scope is not None:
        scope["client"] = (result.client_ip, result.client_port or 0)
