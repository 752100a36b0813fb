"""Counters of spoof attempts and misconfiguration signs, through every adapter; off costs nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from realip import Reason, Resolver, diagnostics, metrics
from realip.asgi import Message, RealIPMiddleware, Scope
from realip.metrics import Counters
from realip.wsgi import RealIPMiddleware as WSGIMiddleware

TRUSTED = ["10.0.0.0/8"]


@pytest.fixture
def counters() -> Iterator[Counters]:
    chosen = metrics.enable()
    chosen.reset()
    try:
        yield chosen
    finally:
        metrics.disable()


def signs(snapshot: dict[str, int]) -> dict[str, int]:
    return {name: count for name, count in snapshot.items() if count}


def test_off_by_default_and_importing_subscribes_nothing() -> None:
    code = "import realip.metrics, realip.diagnostics as d; print(d.listening(), realip.metrics.counters())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "None"]


async def _app(scope: Scope, receive: Any, send: Any) -> None:
    return None


def _asgi(middleware: RealIPMiddleware, peer: str, headers: list[tuple[bytes, bytes]]) -> None:
    async def receive() -> Message:
        return {"type": "http.request"}

    scope: Scope = {"type": "http", "client": (peer, 1), "headers": headers}
    asyncio.run(middleware(scope, receive, _app))


def test_asgi_counts(counters: Counters) -> None:
    middleware = RealIPMiddleware(_app, trusted_proxies=TRUSTED)
    _asgi(middleware, "203.0.113.9", [])  # a direct client
    _asgi(middleware, "203.0.113.9", [(b"X-Forwarded-For", b"1.2.3.4")])  # a direct client forging
    _asgi(middleware, "203.0.113.9", [(b"x-real-ip", b"1.2.3.4")])  # another forwarding header
    _asgi(middleware, "10.0.0.5", [(b"x-forwarded-for", b"198.51.100.7")])  # through the proxy
    _asgi(middleware, "10.0.0.5", [])  # a trusted peer without header: SNAT?
    assert signs(counters.snapshot()) == {
        "requests": 5,
        "untrusted-peer": 3,
        "untrusted-peer-with-header": 2,
        "untrusted-entry": 1,
        "no-header": 1,
    }


def test_wsgi_and_flask_count(counters: Counters) -> None:
    from flask import Flask

    from realip.flask import RealIP

    middleware = WSGIMiddleware(lambda environ, start: [], trusted_proxies=TRUSTED)
    middleware({"REMOTE_ADDR": "203.0.113.9", "HTTP_FORWARDED": "for=1.2.3.4"}, lambda s, h: None)
    middleware({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "bogus"}, lambda s, h: None)
    app = Flask(__name__)
    RealIP(app, trusted_proxies=TRUSTED, max_hops=2)
    app.get("/")(lambda: "ok")
    app.test_client().get(
        "/", headers={"X-Forwarded-For": "10.0.0.1, 10.0.0.2, 10.0.0.3"}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert signs(counters.snapshot()) == {
        "requests": 3,
        "untrusted-peer": 1,
        "untrusted-peer-with-header": 1,
        "invalid-entry": 1,
        "hop-limit": 1,
    }


def test_django_counts_sync_and_async(counters: Counters) -> None:
    from django.test import AsyncClient, Client

    from tests.django_setup import django_for_module

    with django_for_module(
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["realip.django"],
        MIDDLEWARE=["realip.django.RealIPMiddleware"],
        ROOT_URLCONF="examples.django_project.project.urls",
        REALIP={"TRUSTED_PROXIES": ["10.0.0.0/8"]},
    ):
        Client().get("/", headers={"X-Forwarded-For": "1.2.3.4"}, REMOTE_ADDR="203.0.113.9")
        Client().get("/", REMOTE_ADDR="10.0.0.5")
        asyncio.run(AsyncClient().get("/async", headers={"X-Forwarded-For": "1.2.3.4"}))  # peer 127.0.0.1
    assert signs(counters.snapshot()) == {
        "requests": 3,
        "untrusted-peer": 2,
        "untrusted-peer-with-header": 2,
        "no-header": 1,
    }


def test_counts_are_exact_under_threads(counters: Counters) -> None:
    middleware = WSGIMiddleware(lambda environ, start: [], trusted_proxies=TRUSTED)

    def one(n: int) -> None:
        environ = {"REMOTE_ADDR": "203.0.113.9"} if n % 2 else {"REMOTE_ADDR": "10.0.0.5"}
        middleware(environ, lambda s, h: None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(4000)))
    assert signs(counters.snapshot()) == {"requests": 4000, "untrusted-peer": 2000, "no-header": 2000}


def test_unchecked_when_no_request_is_handed_over(counters: Counters) -> None:
    diagnostics.report(Resolver().resolve("203.0.113.9", {}))
    assert signs(counters.snapshot()) == {"requests": 1, "untrusted-peer": 1, "unchecked": 1}


def test_disable_keeps_the_counts_and_stops_counting(counters: Counters) -> None:
    middleware = WSGIMiddleware(lambda environ, start: [], trusted_proxies=TRUSTED)
    middleware({"REMOTE_ADDR": "10.0.0.5"}, lambda s, h: None)
    metrics.disable()
    assert not diagnostics.listening()
    middleware({"REMOTE_ADDR": "10.0.0.5"}, lambda s, h: None)
    assert counters.snapshot()["requests"] == 1
    assert metrics.enable() is counters  # the same counters, counting again


def test_custom_forwarding_headers() -> None:
    counting = Counters(headers=["X-My-Client"])
    assert counting.sent_forwarding_header({"HTTP_X_MY_CLIENT": "1.2.3.4"}) is True
    assert counting.sent_forwarding_header({"HTTP_X_FORWARDED_FOR": "1.2.3.4"}) is False
    assert counting.sent_forwarding_header({"type": "http", "headers": [(b"X-My-Client", b"x")]}) is True
    assert counting.sent_forwarding_header(None) is None
    assert set(counting.snapshot()) == {
        "requests",
        *(r.value for r in Reason),
        "untrusted-peer-with-header",
        "unchecked",
    }
