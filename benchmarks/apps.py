"""Hello-world apps for the whole-server level, bare and wrapped, importable by uvicorn and gunicorn.

Each app answers with the client address it sees, so the run can check every configuration's answer before timing
it. Servers see the load generator on 127.0.0.1, so loopback is trusted alongside the scenario networks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from .scenarios import TRUSTED

__all__ = ["SERVER_TRUSTED", "app"]

#: The load generator's address as the servers see it.
LOOPBACK = "127.0.0.1/32"
#: What the realip and uvicorn configurations trust: the load generator's loopback plus the scenario networks.
SERVER_TRUSTED: tuple[str, ...] = (LOOPBACK, *TRUSTED)
#: The hop count for hypercorn and werkzeug: the two entries of "client, 100.64.3.4".
SERVER_HOPS = 2


async def asgi_bare(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """Hello world for ASGI: the body is the client address the app was handed."""
    if scope["type"] != "http":
        return
    client = scope.get("client")
    body = (client[0] if client else "-").encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def wsgi_bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Hello world for WSGI: the body is ``REMOTE_ADDR`` as the app sees it."""
    body = str(environ.get("REMOTE_ADDR", "-")).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class AsgiPassThrough:
    """The control: an ASGI middleware that does nothing, so its share of bare is the method's resolution."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class WsgiPassThrough:
    """The control: a WSGI middleware that does nothing."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.app(environ, start_response)  # type: ignore[no-any-return]


def _asgi_realip() -> Any:
    from realip.asgi import RealIPMiddleware

    return RealIPMiddleware(asgi_bare, trusted_proxies=list(SERVER_TRUSTED))


def _asgi_realip_layer4() -> Any:
    """realip reading the PROXY header realip_toa's uvicorn hook recorded, the load generator's loopback the
    balancer. Loopback is not among the header proxies here: without the header, the answer would be 127.0.0.1."""
    from realip.asgi import RealIPMiddleware

    return RealIPMiddleware(
        asgi_bare, trusted_proxies=list(TRUSTED), layer4="proxy-protocol", layer4_proxies=[LOOPBACK]
    )


def _asgi_hypercorn() -> Any:
    from hypercorn.middleware import ProxyFixMiddleware

    return ProxyFixMiddleware(asgi_bare, mode="legacy", trusted_hops=SERVER_HOPS)  # type: ignore[arg-type]


def _wsgi_realip() -> Any:
    from realip.wsgi import RealIPMiddleware

    return RealIPMiddleware(wsgi_bare, trusted_proxies=list(SERVER_TRUSTED))


def _wsgi_werkzeug() -> Any:
    from werkzeug.middleware.proxy_fix import ProxyFix

    return ProxyFix(wsgi_bare, x_for=SERVER_HOPS)


_FACTORIES: dict[str, Callable[[], Any]] = {
    "asgi_passthrough": lambda: AsgiPassThrough(asgi_bare),
    "wsgi_passthrough": lambda: WsgiPassThrough(wsgi_bare),
    "asgi_realip": _asgi_realip,
    "asgi_realip_layer4": _asgi_realip_layer4,
    "asgi_hypercorn": _asgi_hypercorn,
    "wsgi_realip": _wsgi_realip,
    "wsgi_werkzeug": _wsgi_werkzeug,
}


def __getattr__(name: str) -> Any:
    """Build a wrapped app on first use, so this module imports without the peers installed."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise AttributeError(name)
    app = factory()
    globals()[name] = app
    return app


def app(name: str) -> Any:
    """The app called ``name`` (``asgi_bare``, ``wsgi_realip``...)."""
    return globals()[name] if name in globals() else __getattr__(name)
