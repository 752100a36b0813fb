"""OpenTelemetry: spans exported to an in-memory exporter carry the resolved client as ``client.address``, the
socket peer as ``network.peer.address`` and ``realip.source``, whichever of realip and the instrumentation runs
first, for ASGI, FastAPI, WSGI, Flask and Django; ``realip.requests`` through an in-memory metric reader; and the
whole thing under ``opentelemetry-instrument`` (auto-instrumentation), in a subprocess.

The instrumentations read ``OTEL_SEMCONV_STABILITY_OPT_IN`` once per process: ``http/dup`` here, so the spans carry
both the new (``client.address``) and the old (``net.peer.ip``) conventions.
"""

from __future__ import annotations

import os

os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as OtelAsgi
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as OtelWsgi
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import realip.otel
from realip import Resolver, metrics
from realip.asgi import Message, RealIPMiddleware, Scope
from realip.wsgi import RealIPMiddleware as WsgiRealIP
from tests.servers import REPO

TRUSTED = ["10.0.0.0/8"]
PROXIED = {"peer": "10.0.0.5", "xff": "198.51.100.7:4711", "client": "198.51.100.7", "port": 4711}


class Traced:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        realip.otel.instrument(self.provider)

    def servers(self) -> list[dict[str, Any]]:
        return [
            dict(span.attributes or {}) for span in self.exporter.get_finished_spans() if span.kind is SpanKind.SERVER
        ]


@pytest.fixture
def traced() -> Iterator[Traced]:
    chosen = Traced()
    try:
        yield chosen
    finally:
        realip.otel.track()()  # unsubscribe


def assert_proxied(attributes: dict[str, Any], peer_port: int | None = 40000) -> None:
    assert attributes["client.address"] == "198.51.100.7"
    assert attributes["client.port"] == 4711
    assert attributes["network.peer.address"] == "10.0.0.5"
    if peer_port is not None:
        assert attributes["network.peer.port"] == peer_port
    assert attributes["realip.source"] == "x-forwarded-for"
    assert attributes["realip.reason"] == "untrusted-entry"
    assert attributes["realip.proxies"] == ("10.0.0.5",)
    assert attributes["http.client_ip"] == "198.51.100.7"  # the old conventions' name for the client


# -- ASGI ----------------------------------------------------------------------------------------------------------


async def _hello(scope: Scope, receive: Any, send: Any) -> None:
    await asyncio.sleep(0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _asgi_call(app: Any, peer: str, xff: str | None, path: str = "/") -> None:
    headers = [(b"host", b"example.com")] + ([(b"x-forwarded-for", xff.encode())] if xff else [])
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 8000),
        "client": (peer, 40000),
        "headers": headers,
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    asyncio.run(app(scope, receive, send))


ASGI_ORDERS: dict[str, Callable[[Traced], Any]] = {
    "instrumentation outside realip": lambda t: OtelAsgi(
        RealIPMiddleware(_hello, trusted_proxies=TRUSTED), tracer_provider=t.provider
    ),
    "realip outside the instrumentation": lambda t: RealIPMiddleware(
        OtelAsgi(_hello, tracer_provider=t.provider), trusted_proxies=TRUSTED
    ),
}


@pytest.mark.parametrize("order", ASGI_ORDERS)
def test_asgi_either_order(traced: Traced, order: str) -> None:
    app = ASGI_ORDERS[order](traced)
    _asgi_call(app, "10.0.0.5", "198.51.100.7:4711")
    _asgi_call(app, "203.0.113.9", "192.0.2.66")  # a direct client forging the header
    proxied, direct = traced.servers()
    assert_proxied(proxied)
    assert direct["client.address"] == direct["network.peer.address"] == "203.0.113.9"
    assert direct["realip.source"] == "peer" and direct["realip.reason"] == "untrusted-peer"


@pytest.mark.parametrize("order", ASGI_ORDERS)
def test_asgi_concurrent_requests_each_span_its_client(traced: Traced, order: str) -> None:
    app = ASGI_ORDERS[order](traced)

    async def many() -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            return None

        await asyncio.gather(
            *(
                app(
                    {
                        "type": "http",
                        "method": "GET",
                        "path": f"/{n}",
                        "query_string": b"",
                        "client": ("10.0.0.5", 40000 + n),
                        "server": ("127.0.0.1", 8000),
                        "headers": [(b"x-forwarded-for", f"198.51.100.{n}".encode())],
                    },
                    receive,
                    send,
                )
                for n in range(40)
            )
        )

    asyncio.run(many())
    spans = traced.servers()
    assert len(spans) == 40
    for span in spans:
        n = int(str(span["url.path"]).lstrip("/"))
        assert (span["client.address"], span["network.peer.port"]) == (f"198.51.100.{n}", 40000 + n)


@pytest.mark.parametrize("instrument_first", [True, False])
def test_fastapi_either_order(traced: Traced, instrument_first: bool) -> None:
    from fastapi import FastAPI
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from starlette.testclient import TestClient

    app = FastAPI()
    app.get("/")(lambda: {"ok": True})
    if instrument_first:
        FastAPIInstrumentor.instrument_app(app, tracer_provider=traced.provider)
        app.add_middleware(RealIPMiddleware, trusted_proxies=TRUSTED)
    else:
        app.add_middleware(RealIPMiddleware, trusted_proxies=TRUSTED)
        FastAPIInstrumentor.instrument_app(app, tracer_provider=traced.provider)
    with TestClient(app, client=("10.0.0.5", 40000)) as client:
        assert client.get("/", headers={"X-Forwarded-For": "198.51.100.7:4711"}).status_code == 200
    [span] = traced.servers()
    assert_proxied(span)


def test_request_hook_resolves_on_demand_without_realip(traced: Traced) -> None:
    realip.otel.track()()  # no listener, no middleware: the hook alone
    hook = realip.otel.request_hook(Resolver(trusted_proxies=TRUSTED))
    _asgi_call(OtelAsgi(_hello, tracer_provider=traced.provider, server_request_hook=hook), "10.0.0.5", PROXIED["xff"])
    [span] = traced.servers()
    assert_proxied(span)


def test_request_hook_uses_the_stored_result(traced: Traced) -> None:
    realip.otel.track()()
    never = Resolver(trusted_proxies=())  # would make the proxy the client, if it were used
    hook = realip.otel.request_hook(never)
    app = RealIPMiddleware(
        OtelAsgi(_hello, tracer_provider=traced.provider, server_request_hook=hook), trusted_proxies=TRUSTED
    )
    _asgi_call(app, "10.0.0.5", PROXIED["xff"])
    [span] = traced.servers()
    assert_proxied(span)


# -- WSGI, Flask ---------------------------------------------------------------------------------------------------


def _wsgi_hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def _wsgi_call(app: Any, peer: str, xff: str) -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_NAME": "example.com",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": peer,
        "REMOTE_PORT": "40000",
        "HTTP_X_FORWARDED_FOR": xff,
    }
    body = app(environ, lambda status, headers, exc_info=None: None)
    list(body)
    getattr(body, "close", lambda: None)()


@pytest.mark.parametrize("realip_outside", [True, False])
def test_wsgi_either_order(traced: Traced, realip_outside: bool) -> None:
    if realip_outside:
        app: Any = WsgiRealIP(OtelWsgi(_wsgi_hello, tracer_provider=traced.provider), trusted_proxies=TRUSTED)
    else:
        app = OtelWsgi(WsgiRealIP(_wsgi_hello, trusted_proxies=TRUSTED), tracer_provider=traced.provider)
    _wsgi_call(app, "10.0.0.5", PROXIED["xff"])
    [span] = traced.servers()
    assert_proxied(span)


@pytest.mark.parametrize("realip_first", [True, False])
def test_flask_either_order(traced: Traced, realip_first: bool) -> None:
    from flask import Flask
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    from realip.flask import RealIP

    app = Flask(__name__)
    app.get("/")(lambda: "ok")
    if realip_first:  # RealIP wraps wsgi_app; Flask's span starts in before_request, after it either way
        RealIP(app, trusted_proxies=TRUSTED)
        FlaskInstrumentor.instrument_app(app, tracer_provider=traced.provider)
    else:
        FlaskInstrumentor.instrument_app(app, tracer_provider=traced.provider)
        RealIP(app, trusted_proxies=TRUSTED)
    try:
        app.test_client().get(
            "/",
            headers={"X-Forwarded-For": PROXIED["xff"]},
            environ_base={"REMOTE_ADDR": "10.0.0.5", "REMOTE_PORT": "40000"},
        )
    finally:
        FlaskInstrumentor.uninstrument_app(app)
    [span] = traced.servers()
    assert_proxied(span)


# -- Django --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("position", ["0", "1"])  # the instrumentation's middleware before, or after, realip's
def test_django_either_order(traced: Traced, position: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.test import Client
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    from tests.django_setup import django_for_module

    monkeypatch.setenv("OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION", position)
    with django_for_module(
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["realip.django"],
        MIDDLEWARE=["realip.django.RealIPMiddleware"],
        ROOT_URLCONF="examples.django_project.project.urls",
        REALIP={"TRUSTED_PROXIES": TRUSTED},
    ):
        from django.conf import settings

        DjangoInstrumentor().instrument(tracer_provider=traced.provider)
        try:
            order = [path.rsplit(".", 1)[-1] for path in settings.MIDDLEWARE]
            assert order.index("_DjangoMiddleware") == int(position)
            response = Client().get(
                "/", headers={"X-Forwarded-For": PROXIED["xff"]}, REMOTE_ADDR="10.0.0.5", REMOTE_PORT="40000"
            )
            assert response.status_code == 200
        finally:
            DjangoInstrumentor().uninstrument()
    [span] = traced.servers()
    assert_proxied(span)


# -- metrics -------------------------------------------------------------------------------------------------------


def test_counters_exported_as_otel_metrics() -> None:
    reader = InMemoryMetricReader()
    realip.otel.instrument_metrics(MeterProvider(metric_readers=[reader]))
    try:
        counters = metrics.counters()
        assert counters is not None
        counters.reset()
        app = RealIPMiddleware(_hello, trusted_proxies=TRUSTED)
        _asgi_call(app, "10.0.0.5", "198.51.100.7")
        _asgi_call(app, "10.0.0.5", None)  # a trusted peer without header
        _asgi_call(app, "203.0.113.9", "192.0.2.66")  # a forged header from an untrusted peer
        data = reader.get_metrics_data()
    finally:
        metrics.disable()
    assert data is not None
    found: dict[str, dict[str, int]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:  # type: ignore[union-attr]
                    found.setdefault(metric.name, {})[str(point.attributes.get("realip.reason", ""))] = point.value  # type: ignore[union-attr]
    assert {k: v for k, v in found["realip.requests"].items() if v} == {
        "untrusted-entry": 1,
        "no-header": 1,
        "untrusted-peer": 1,
    }
    assert found["realip.untrusted_peer_forwarding_headers"] == {"": 1}


# -- auto-instrumentation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("conventions", ["http", "default"])
def test_auto_instrumentation_subprocess(conventions: str) -> None:
    """``opentelemetry-instrument python tests/otel_auto_app.py``: FastAPI and Flask instrumented by the agent,
    realip added by the app, ``realip.otel.instrument()`` on the agent's TracerProvider."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "REALIP_"))}
    env.update(
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="realip-test",
        PYTHONPATH=str(REPO),
    )
    if conventions != "default":
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = conventions
    agent = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    out = subprocess.run(
        [agent, sys.executable, str(REPO / "tests" / "otel_auto_app.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    spans = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(spans) == {"fastapi", "flask"}
    for framework, attributes in spans.items():
        assert attributes["realip.source"] == "x-forwarded-for", framework
        assert attributes["network.peer.address"] == "10.0.0.5", framework
        if conventions == "http":
            assert attributes["client.address"] == "198.51.100.7", framework
            assert "net.peer.ip" not in attributes
        else:  # the old conventions: realip adds client.address and http.client_ip beside them
            assert attributes["client.address"] == attributes["http.client_ip"] == "198.51.100.7", framework


def test_observability_example(capsys: pytest.CaptureFixture[str]) -> None:
    """``examples/observability_fastapi.py``: limited by the client behind the proxy, counted, logged, traced."""
    from starlette.testclient import TestClient

    from examples import observability_fastapi as example

    try:
        with TestClient(example.app, client=("127.0.0.1", 40000)) as client:
            codes = [
                client.get("/limited", headers={"X-Forwarded-For": f"192.0.2.{n}, 198.51.100.7"}).status_code
                for n in range(6)
            ]
            assert codes == [200] * 5 + [429]
            assert client.get("/limited", headers={"X-Forwarded-For": "198.51.100.8"}).json() == {
                "client": "198.51.100.8",
                "key": "198.51.100.8",
            }
            assert client.get("/realip/counters").json()["untrusted-entry"] >= 7
        assert "client=198.51.100.8 via=x-forwarded-for limited endpoint served" in capsys.readouterr().err
    finally:
        metrics.disable()
        realip.otel.track()()
        from realip import logging as realip_logging

        realip_logging.untrack()
