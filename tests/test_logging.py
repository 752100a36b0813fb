"""The logging filter and structlog processor: each record carries its own request's client, under asyncio
concurrency (tasks), threads (a threaded WSGI server), and through Flask's, Django's and Starlette's own stacks."""

from __future__ import annotations

import asyncio
import io
import logging
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from realip import diagnostics
from realip import logging as realip_logging
from realip.asgi import Message, RealIPMiddleware, Receive, Scope, Send
from realip.logging import ClientFilter, ClientProcessor, current_result
from realip.wsgi import RealIPMiddleware as WSGIMiddleware

TRUSTED = ["10.0.0.0/8"]
log = logging.getLogger("tests.app")


class Records(logging.Handler):
    """Collects (message, client_ip, client_source) through a ClientFilter on the handler."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(ClientFilter())
        self.seen: list[tuple[str, str, str]] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.guard:
            self.seen.append((record.getMessage(), record.client_ip, record.client_source))  # type: ignore[attr-defined]


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        realip_logging.untrack()
        realip_logging.bind(None)


def test_importing_costs_nothing_and_a_filter_subscribes_once() -> None:
    code = (
        "import realip.logging, realip.diagnostics as d; before = d.listening(); "
        "f = realip.logging.ClientFilter(); g = realip.logging.ClientFilter(); "
        "print(before, d.listening(), len(d._subscriptions))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "True", "1"]


def test_outside_a_request_the_filter_writes_a_dash(records: Records) -> None:
    log.info("start-up")
    assert records.seen == [("start-up", "-", "-")]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ClientFilter())
    handler.setFormatter(logging.Formatter("%(client_ip)s %(client_source)s %(message)s"))
    log.addHandler(handler)
    try:
        log.warning("formatted")
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "- - formatted\n"


async def _asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    # Interleave on purpose: every request yields several times while the others run.
    for step in range(3):
        await asyncio.sleep(random.random() / 200)
        log.info("%s step %d", scope["path"], step)
        await asyncio.create_task(_child(scope["path"]))  # a task started inside the request inherits the client
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _child(path: str) -> None:
    log.info("%s child", path)


def test_asyncio_concurrent_requests_each_log_their_own_client(records: Records) -> None:
    middleware = RealIPMiddleware(_asgi_app, trusted_proxies=TRUSTED)

    async def one(n: int) -> None:
        scope: Scope = {
            "type": "http",
            "path": f"/{n}",
            "client": ("10.0.0.5", 40000 + n),
            "headers": [(b"x-forwarded-for", f"198.51.100.{n}".encode())],
        }

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            return None

        await middleware(scope, receive, send)

    async def many() -> None:
        await asyncio.gather(*(one(n) for n in range(50)))

    asyncio.run(many())
    assert len(records.seen) == 50 * 6
    for message, client_ip, source in records.seen:
        n = message.split()[0].lstrip("/")
        assert (client_ip, source) == (f"198.51.100.{n}", "x-forwarded-for"), message


def test_threaded_wsgi_requests_each_log_their_own_client(records: Records) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        for step in range(3):
            threading.Event().wait(random.random() / 500)
            log.info("%s step %d", environ["PATH_INFO"], step)
        start_response("204 No Content", [])
        return []

    middleware = WSGIMiddleware(app, trusted_proxies=TRUSTED)

    def one(n: int) -> None:
        headers = {"HTTP_X_FORWARDED_FOR": f"198.51.100.{n}"} if n % 2 else {}
        environ = {"REMOTE_ADDR": "10.0.0.5" if n % 2 else f"203.0.113.{n}", "PATH_INFO": f"/{n}", **headers}
        middleware(environ, lambda status, headers: None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(80)))
    assert len(records.seen) == 80 * 3
    for message, client_ip, source in records.seen:
        n = int(message.split()[0].lstrip("/"))
        expected = (f"198.51.100.{n}", "x-forwarded-for") if n % 2 else (f"203.0.113.{n}", "peer")
        assert (client_ip, source) == expected, message


def test_structlog_processor_inside_and_outside_a_request() -> None:
    capture = LogCapture()
    structlog.configure(processors=[ClientProcessor(), capture])
    try:
        logger = structlog.get_logger()

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            logger.info("in view", client_ip_seen=environ["REMOTE_ADDR"])
            logger.info("explicit", client_ip="kept")
            start_response("200 OK", [])
            return []

        middleware = WSGIMiddleware(app, trusted_proxies=TRUSTED)
        runner = threading.Thread(
            target=middleware,
            args=({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "2001:db8::7"}, lambda s, h: None),
        )
        runner.start()
        runner.join()
        logger.info("outside")
    finally:
        structlog.reset_defaults()
        realip_logging.untrack()
    inside, explicit, outside = capture.entries
    assert inside["client_ip"] == "2001:db8::7" == inside["client_ip_seen"]
    assert inside["client_source"] == "x-forwarded-for"
    assert explicit["client_ip"] == "kept"  # the event's own key wins
    assert "client_ip" not in outside and "client_source" not in outside


def test_flask_view_logs_the_client(records: Records) -> None:
    from flask import Flask

    from realip.flask import RealIP

    app = Flask(__name__)
    RealIP(app, trusted_proxies=TRUSTED)

    @app.get("/")
    def index() -> str:
        log.info("flask view")
        return "ok"

    app.test_client().get("/", headers={"X-Forwarded-For": "198.51.100.9"}, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert records.seen == [("flask view", "198.51.100.9", "x-forwarded-for")]


def test_starlette_sync_endpoint_in_the_threadpool_logs_the_client(records: Records) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    def endpoint(request: Request) -> PlainTextResponse:  # sync: Starlette runs it in a worker thread
        log.info("sync endpoint")
        assert current_result() is request.state.realip
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(RealIPMiddleware, trusted_proxies=TRUSTED)
    with TestClient(app, client=("10.0.0.5", 1)) as client:
        assert client.get("/", headers={"X-Forwarded-For": "198.51.100.4"}).status_code == 200
    assert records.seen == [("sync endpoint", "198.51.100.4", "x-forwarded-for")]


def test_django_sync_and_async_views_log_the_client(records: Records) -> None:
    from django.test import AsyncClient, Client

    from tests.django_setup import django_for_module

    with django_for_module(
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["realip.django"],
        MIDDLEWARE=["realip.django.RealIPMiddleware"],
        ROOT_URLCONF="tests.test_logging",
        REALIP={"TRUSTED_PROXIES": ["10.0.0.0/8", "loopback"]},
    ):
        Client().get("/sync", headers={"X-Forwarded-For": "198.51.100.1"}, REMOTE_ADDR="10.0.0.5")
        asyncio.run(AsyncClient().get("/async", headers={"X-Forwarded-For": "198.51.100.2"}))
    assert records.seen == [
        ("django sync", "198.51.100.1", "x-forwarded-for"),
        ("django async", "198.51.100.2", "x-forwarded-for"),
    ]


def _sync_view(request: Any) -> Any:
    from django.http import HttpResponse

    log.info("django sync")
    return HttpResponse("ok")


async def _async_view(request: Any) -> Any:
    from django.http import HttpResponse

    log.info("django async")
    return HttpResponse("ok")


def __getattr__(name: str) -> Any:  # Django reads urlpatterns only when the test above configured it
    if name == "urlpatterns":
        from django.urls import path

        return [path("sync", _sync_view), path("async", _async_view)]
    raise AttributeError(name)


def test_untrack_restores_the_free_path(records: Records) -> None:
    assert diagnostics.listening()
    realip_logging.untrack()
    assert not diagnostics.listening()


def test_untrack_forgets_the_result_bound_in_this_context(records: Records) -> None:
    """A request resolved on this thread, then untrack(): a later record outside any request writes a dash."""
    app = WSGIMiddleware(lambda environ, start_response: [], trusted_proxies=TRUSTED)
    app({"REMOTE_ADDR": "203.0.113.9", "wsgi.url_scheme": "http"}, lambda *args: None)
    assert current_result() is not None and current_result().client_ip == "203.0.113.9"  # type: ignore[union-attr]
    realip_logging.untrack()
    assert current_result() is None
    log.info("after")
    assert records.seen[-1] == ("after", "-", "-")
