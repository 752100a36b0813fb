"""realip with a rate limiter, logs, traces and counters in one FastAPI app.

Run from the repository root (``pip install -e '.[test]'`` brings slowapi, structlog and OpenTelemetry):

    uvicorn examples.observability_fastapi:app --no-proxy-headers

- slowapi limits by the resolved client (IPv4 per address, IPv6 per /64): ``GET /limited`` allows 5 a minute;
  ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/limited`` from 127.0.0.1 (trusted below) counts
  against 198.51.100.7, not against the proxy, and a new forged entry on the left changes nothing;
- every log line carries ``client=... via=...`` (``realip.logging.ClientFilter``);
- each server span has ``client.address`` (the client), ``network.peer.address`` (the socket) and
  ``realip.source``, printed to the console here (``realip.otel.instrument()``, any order with the instrumentation;
  under ``opentelemetry-instrument`` leave out the three lines setting up the provider);
- ``GET /realip/counters`` shows the spoof attempts and misconfiguration signs counted so far.

Check it with ``realip doctor --app examples.observability_fastapi:app``.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI, Request
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from slowapi import Limiter, _rate_limit_exceeded_handler
from slowapi.errors import RateLimitExceeded

import realip.otel
from realip import Resolver, metrics
from realip.asgi import RealIPMiddleware
from realip.logging import ClientFilter
from realip.ratelimit.starlette import client_key

DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback"}

handler = logging.StreamHandler()
handler.addFilter(ClientFilter())
handler.setFormatter(logging.Formatter("%(levelname)s %(name)s client=%(client_ip)s via=%(client_source)s %(message)s"))
log = logging.getLogger("example")
log.addHandler(handler)
log.setLevel(logging.INFO)

if not isinstance(trace.get_tracer_provider(), TracerProvider):  # no agent: print spans to the console
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
realip.otel.instrument()
counters = metrics.enable()

limiter = Limiter(key_func=client_key)
app = FastAPI()
app.state.limiter = limiter
app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]
app.add_middleware(RealIPMiddleware, resolver=Resolver.from_env({**DEFAULTS, **os.environ}))
FastAPIInstrumentor.instrument_app(app)


@app.get("/limited")
@limiter.limit("5/minute")
async def limited(request: Request) -> dict[str, str | None]:
    log.info("limited endpoint served")
    return {"client": request.client.host if request.client else None, "key": client_key(request)}


@app.get("/realip/counters")
async def realip_counters() -> dict[str, int]:
    return counters.snapshot()
