"""Apps ``realip doctor --app`` is pointed at in ``tests/test_doctor.py``: right and wrong middleware orders."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from flask import Flask
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from slowapi import Limiter
from slowapi.middleware import SlowAPIMiddleware
from slowapi.util import get_ipaddr

from realip.asgi import RealIPMiddleware
from realip.flask import RealIP
from realip.ratelimit.starlette import client_key
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
