"""Run under ``opentelemetry-instrument`` by ``tests/test_otel.py``: the agent instruments FastAPI and Flask before
this module imports them; the app adds realip's middleware and ``realip.otel.instrument()``, as its docs say. Prints
the server spans' attributes as one JSON line: ``{"fastapi": {...}, "flask": {...}}``."""

from __future__ import annotations

import json

from fastapi import FastAPI
from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.testclient import TestClient

import realip.otel
from realip.asgi import RealIPMiddleware
from realip.flask import RealIP

TRUSTED = ["10.0.0.0/8"]
HEADERS = {"X-Forwarded-For": "192.0.2.66, 198.51.100.7"}

exporter = InMemorySpanExporter()
provider = trace.get_tracer_provider()
provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]
realip.otel.instrument()

spans: dict[str, dict[str, object]] = {}

fastapi_app = FastAPI()
fastapi_app.get("/")(lambda: {"ok": True})
fastapi_app.add_middleware(RealIPMiddleware, trusted_proxies=TRUSTED)
with TestClient(fastapi_app, client=("10.0.0.5", 40000)) as client:
    assert client.get("/", headers=HEADERS).status_code == 200
[span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
spans["fastapi"] = dict(span.attributes or {})
exporter.clear()

flask_app = Flask(__name__)
flask_app.get("/")(lambda: "ok")
RealIP(flask_app, trusted_proxies=TRUSTED)
flask_app.test_client().get("/", headers=HEADERS, environ_base={"REMOTE_ADDR": "10.0.0.5", "REMOTE_PORT": "40000"})
[span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
spans["flask"] = dict(span.attributes or {})

print(json.dumps(spans, default=list))
