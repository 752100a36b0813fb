"""Apps ``realip doctor --app`` is pointed at in ``tests/test_doctor.py``: right and wrong middleware orders."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from fastapi import FastAPI
from flask import Flask
from litestar import Litestar, get
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from quart import Quart
from sanic import Request, Sanic
from slowapi import Limiter
from slowapi.middleware import SlowAPIMiddleware
from slowapi.util import get_ipaddr

from realip.aiohttp import realip_middleware
from realip.asgi import RealIPMiddleware
from realip.flask import RealIP
from realip.litestar import RealIPPlugin
from realip.quart import RealIP as QuartRealIP
from realip.ratelimit.starlette import client_key
from realip.sanic import PRIORITY
from realip.sanic import RealIP as SanicRealIP
from realip.wsgi import RealIPMiddleware as WsgiRealIP

TRUSTED = ["10.0.0.0/8"]

good = FastAPI()
good.state.limiter = Limiter(key_func=client_key)
good.add_middleware(SlowAPIMiddleware)
good.add_middleware(RealIPMiddleware, trusted_proxies=TRUSTED)  # last: outermost

limiter_first = FastAPI()
limiter_first.state.limiter = Limiter(key_func=client_key)
limiter_first.add_middleware(RealIPMiddleware, trusted_proxies=TRUSTED)
limiter_first.add_middleware(SlowAPIMiddleware)  # wrong: outermost

spoofable_key = FastAPI()
spoofable_key.state.limiter = Limiter(key_func=get_ipaddr)
spoofable_key.add_middleware(RealIPMiddleware, trusted_proxies=["any"])

missing = FastAPI()


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    return None


tracer_outside = OpenTelemetryMiddleware(RealIPMiddleware(_hello, trusted_proxies=TRUSTED))
wsgi_chain = WsgiRealIP(lambda environ, start_response: [], trusted_proxies=TRUSTED, layer4_proxies=["cgnat"])

flask_good = Flask("flask_good")
RealIP(flask_good, trusted_proxies=TRUSTED)
flask_missing = Flask("flask_missing")


# -- aiohttp: app.middlewares, first = outermost ----------------------------------------------------------------


@web.middleware
async def aiohttp_ratelimit(request: web.Request, handler: Any) -> web.StreamResponse:
    """An app's own rate limiter (keyed by request.remote): it must run after realip."""
    return await handler(request)


aiohttp_good = web.Application(middlewares=[realip_middleware(trusted_proxies=TRUSTED), aiohttp_ratelimit])
aiohttp_limiter_first = web.Application(middlewares=[aiohttp_ratelimit, realip_middleware(trusted_proxies=TRUSTED)])
aiohttp_missing = web.Application(middlewares=[aiohttp_ratelimit])

# -- Sanic: the RealIP extension, request middleware by priority, Sanic's own proxy settings ----------------------


def sanic_ratelimit(request: Request) -> None:
    """An app's own rate limiter (keyed by request.client_ip)."""


sanic_good = Sanic("doctor_sanic_good")
SanicRealIP(sanic_good, trusted_proxies=TRUSTED)
sanic_good.register_middleware(sanic_ratelimit, "request", priority=10)

sanic_limiter_first = Sanic("doctor_sanic_limiter_first")
SanicRealIP(sanic_limiter_first, trusted_proxies=TRUSTED)
sanic_limiter_first.register_middleware(sanic_ratelimit, "request", priority=PRIORITY + 1)

sanic_own_proxies = Sanic("doctor_sanic_own_proxies")
SanicRealIP(sanic_own_proxies, trusted_proxies=TRUSTED)
sanic_own_proxies.config.PROXIES_COUNT = 1

sanic_missing = Sanic("doctor_sanic_missing")

# -- Litestar: the plugin's middleware, and the OpenTelemetry plugin around the router ----------------------------


@get("/")
async def _index() -> str:
    return "ok"


_rate_limit = RateLimitConfig(rate_limit=("minute", 100))
litestar_good = Litestar([_index], plugins=[RealIPPlugin(trusted_proxies=TRUSTED)], middleware=[_rate_limit.middleware])
litestar_tracer = Litestar(
    [_index], plugins=[RealIPPlugin(trusted_proxies=TRUSTED), OpenTelemetryPlugin(OpenTelemetryConfig())]
)
litestar_missing = Litestar([_index], middleware=[_rate_limit.middleware])

# -- Quart: the asgi_app chain ------------------------------------------------------------------------------------

quart_good = Quart("quart_good")
QuartRealIP(quart_good, trusted_proxies=TRUSTED)
quart_tracer_outside = Quart("quart_tracer_outside")
QuartRealIP(quart_tracer_outside, trusted_proxies=TRUSTED)
quart_tracer_outside.asgi_app = OpenTelemetryMiddleware(quart_tracer_outside.asgi_app)  # type: ignore[method-assign]
quart_missing = Quart("quart_missing")
