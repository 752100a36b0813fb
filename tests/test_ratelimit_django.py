"""django-ratelimit with realip's ``key=`` callable, through Django's test client: the classic failures are gone.

The test client connects as ``10.0.0.5`` (the trusted proxy, ``REMOTE_ADDR``) and sends that proxy's
X-Forwarded-For. django-ratelimit keeps its counts in the cache (a fresh local-memory cache per test).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path
from django_ratelimit.decorators import ratelimit

from realip.ratelimit import NotResolved
from realip.ratelimit.django import exempt_unresolved, key_func
from tests.django_setup import django_for_module

PROXY: dict[str, Any] = {"REMOTE_ADDR": "10.0.0.5", "REMOTE_PORT": "40000"}


@ratelimit(key="realip.ratelimit.django.client_key", rate="3/m", block=True)
def by_realip(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.client_ip)  # type: ignore[attr-defined]


@ratelimit(key="ip", rate="3/m", block=True)
def by_remote_addr(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@ratelimit(key="header:x-forwarded-for", rate="3/m", block=True)
def by_header(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@ratelimit(key="realip.ratelimit.django.client_key", rate=exempt_unresolved("3/m"), block=True)
def exempting(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@ratelimit(key=key_func(ipv6_prefix=128), rate="3/m", block=True)
def per_address(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("realip", by_realip),
    path("ip", by_remote_addr),
    path("header", by_header),
    path("exempting", exempting),
    path("per-address", per_address),
]

REALIP_FIRST = ["realip.django.RealIPMiddleware"]


@pytest.fixture(scope="module", autouse=True)
def django_settings() -> Iterator[None]:
    with django_for_module(
        DEBUG=False,
        SECRET_KEY="realip-tests",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["realip.django"],
        MIDDLEWARE=REALIP_FIRST,
        ROOT_URLCONF=__name__,
        DATABASES={},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        REALIP={"TRUSTED_PROXIES": ["10.0.0.0/8"]},
        USE_TZ=True,
    ):
        yield


@pytest.fixture(autouse=True)
def fresh_counts() -> None:
    cache.clear()


def statuses(url: str, forwarded: list[str | None], client: Client | None = None) -> list[int]:
    client = client or Client()
    return [
        client.get(url, headers={} if value is None else {"X-Forwarded-For": value}, **PROXY).status_code
        for value in forwarded
    ]


def test_whole_site_in_one_bucket_by_remote_addr_without_realip() -> None:
    with override_settings(MIDDLEWARE=[]):
        assert statuses("/ip", [f"198.51.100.{n}" for n in range(4)]) == [200, 200, 200, 403]


def test_each_client_its_own_bucket_with_realip() -> None:
    assert statuses("/realip", [f"198.51.100.{n}" for n in range(10)]) == [200] * 10
    assert statuses("/realip", ["198.51.100.1"] * 3) == [200, 200, 403]


def test_rotating_forged_header_escapes_a_header_key() -> None:
    assert statuses("/header", [f"192.0.2.{n}, 203.0.113.9" for n in range(6)]) == [200] * 6


def test_rotating_forged_header_does_not_escape_realip() -> None:
    forged = [f"192.0.2.{n}, 203.0.113.9" for n in range(6)]
    assert statuses("/realip", forged) == [200, 200, 200, 403, 403, 403]


def test_ipv6_clients_share_their_64() -> None:
    addresses = [f"2001:db8:1:2::{n:x}" for n in range(1, 5)]
    assert statuses("/realip", addresses) == [200, 200, 200, 403]
    assert statuses("/realip", ["2001:db8:1:3::1"]) == [200]
    assert statuses("/per-address", addresses) == [200] * 4


def test_unresolved_requests_bucketed_apart_or_exempt() -> None:
    assert statuses("/realip", [None] * 4) == [200, 200, 200, 403]
    assert statuses("/realip", ["198.51.100.1"]) == [200]
    assert statuses("/exempting", [None] * 6) == [200] * 6
    assert statuses("/exempting", ["198.51.100.1"] * 4) == [200, 200, 200, 403]


def test_without_realip_the_key_fails_loudly() -> None:
    with override_settings(MIDDLEWARE=[]), pytest.raises(NotResolved, match="first in Django's MIDDLEWARE"):
        Client(raise_request_exception=True).get("/realip", **PROXY)


def test_async_client_too() -> None:
    """Async handler (ASGIRequest): realip reads scope["client"], which AsyncClient sets to 127.0.0.1."""
    import asyncio

    from django.test import AsyncClient

    async def run() -> list[int]:
        client = AsyncClient()
        forwarded = [*(f"198.51.100.{n}" for n in range(4)), *["198.51.100.0"] * 3]
        return [(await client.get("/realip", headers={"X-Forwarded-For": v})).status_code for v in forwarded]

    with override_settings(REALIP={"TRUSTED_PROXIES": ["loopback"]}):
        assert asyncio.run(run()) == [200, 200, 200, 200, 200, 200, 403]
