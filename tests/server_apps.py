"""Probe apps the server tests (tests/test_servers.py) start under granian, hypercorn and Daphne.

``asgi_probe`` and ``wsgi_probe`` route ``/<n>/...`` through realip's generic middleware built with the n-th option set
of ``PROBE_CONFIGS`` (JSON in the environment) and answer with what the app saw; ``channels_probe`` is a Channels
``ProtocolTypeRouter`` (HTTP and a websocket consumer) behind the ASGI middleware with ``PROBE_CONFIGS[0]``. They are
built on first use, so importing this module needs neither the variable nor the frameworks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from tests.frameworks import probe_configs, result_json


def _asgi_probe() -> Any:
    from realip.asgi import RealIPMiddleware
    from tests.test_asgi import echo_app

    routes = [RealIPMiddleware(echo_app, **options) for options in probe_configs()]

    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await routes[0](scope, receive, send)
            return
        index = scope["path"].split("/")[1]
        await routes[int(index) if index.isdigit() else 0](scope, receive, send)

    return dispatch


def _wsgi_echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    from wsgiref.util import application_uri

    from realip.wsgi import RESULT_KEY

    body = json.dumps(
        {
            "client": environ.get("REMOTE_ADDR"),
            "scheme": environ.get("wsgi.url_scheme"),
            "result": result_json(environ.get(RESULT_KEY)),
            # What WSGI apps build their links from (scheme, Host, SCRIPT_NAME), ending in "/" like the others'.
            "url_root": application_uri(environ).rstrip("/") + "/",
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _wsgi_probe() -> Any:
    from realip.wsgi import RealIPMiddleware

    routes = [RealIPMiddleware(_wsgi_echo, **options) for options in probe_configs()]

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        index = environ.get("PATH_INFO", "/").split("/")[1]
        return routes[int(index) if index.isdigit() else 0](environ, start_response)  # type: ignore[no-any-return]

    return dispatch


def _channels_probe() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], USE_TZ=True, SECRET_KEY="realip-tests")
        import django

        django.setup()
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    from realip.asgi import RealIPMiddleware
    from tests.test_asgi import echo_app

    class WhoAmI(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()
            result = self.scope.get("state", {}).get("realip")
            client = self.scope.get("client")
            await self.send_json(
                {
                    "client": list(client) if client else None,
                    "scheme": self.scope.get("scheme"),
                    "result": result_json(result),
                }
            )

    router = ProtocolTypeRouter({"http": echo_app, "websocket": URLRouter([path("ws/", WhoAmI.as_asgi())])})
    return RealIPMiddleware(router, **probe_configs()[0])


_FACTORIES = {"asgi_probe": _asgi_probe, "wsgi_probe": _wsgi_probe, "channels_probe": _channels_probe}


def __getattr__(name: str) -> Any:
    factory = _FACTORIES.get(name)
    if factory is None:
        raise AttributeError(name)
    app = globals()[name] = factory()
    return app


def make_asgi_probe() -> Any:
    """``asgi_probe``, for servers that evaluate the app path (hypercorn: ``tests.server_apps:make_asgi_probe()``)."""
    return __getattr__("asgi_probe")
