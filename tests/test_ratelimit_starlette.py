"""slowapi with realip's key, through FastAPI's TestClient: the two classic failures behind a proxy are gone.

The TestClient connects as ``10.0.0.5`` (the trusted proxy) and sends the X-Forwarded-For that proxy would write.
Each failure is first shown with the key functions people use today, so the test would catch its return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from slowapi import Limiter, _rate_limit_exceeded_handler
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIMiddleware
from slowapi.util import get_remote_address
from starlette.testclient import TestClient

from realip.asgi import RealIPMiddleware
from realip.ratelimit import NotResolved
from realip.ratelimit.starlette import client_key, is_unresolved, key_func

PROXY = ("10.0.0.5", 40000)
TRUSTED = ["10.0.0.0/8"]


def naive_xff_key(request: Request) -> str:
    """What hand-rolled fixes do (and what slowapi's get_ipaddr means to do): trust the header's first entry."""
    return request.headers.get("x-forwarded-for", "").split(",")[0].strip() or get_remote_address(request)


def make_app(key: Callable[[Request], str], *, realip: bool = True, exempt: bool = False) -> FastAPI:
    limiter = Limiter(key_func=key, storage_uri="memory://")
    app = FastAPI()
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]

    @app.get("/")
    @limiter.limit("3/minute", exempt_when=is_unresolved if exempt else None)
    async def index(request: Request) -> JSONResponse:
        return JSONResponse({"client": request.client.host if request.client else None})

    if realip:
        app.add_middleware(RealIPMiddleware, trusted_proxies=TRUSTED)
    return app


@pytest.fixture
def client_factory() -> Iterator[Callable[[FastAPI], TestClient]]:
    clients: list[TestClient] = []

    def make(app: FastAPI) -> TestClient:
        client = TestClient(app, client=PROXY)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def statuses(client: TestClient, forwarded: list[str]) -> list[int]:
    return [client.get("/", headers={"X-Forwarded-For": value}).status_code for value in forwarded]


def test_whole_site_in_one_bucket_without_realip(client_factory: Callable[[FastAPI], TestClient]) -> None:
    client = client_factory(make_app(get_remote_address, realip=False))
    # Four different people behind the proxy: the fourth is refused because the three before used "their" quota.
    assert statuses(client, [f"198.51.100.{n}" for n in range(4)]) == [200, 200, 200, 429]


def test_each_client_its_own_bucket_with_realip(client_factory: Callable[[FastAPI], TestClient]) -> None:
    client = client_factory(make_app(client_key))
    assert statuses(client, [f"198.51.100.{n}" for n in range(10)]) == [200] * 10
    assert statuses(client, ["198.51.100.1"] * 3) == [200, 200, 429]  # and each bucket still holds


def test_rotating_forged_header_escapes_a_naive_key(client_factory: Callable[[FastAPI], TestClient]) -> None:
    client = client_factory(make_app(naive_xff_key))
    # The proxy appends the real client (203.0.113.9); the forged entry in front changes every time.
    assert statuses(client, [f"192.0.2.{n}, 203.0.113.9" for n in range(6)]) == [200] * 6


def test_rotating_forged_header_does_not_escape_realip(client_factory: Callable[[FastAPI], TestClient]) -> None:
    client = client_factory(make_app(client_key))
    assert statuses(client, [f"192.0.2.{n}, 203.0.113.9" for n in range(6)]) == [200, 200, 200, 429, 429, 429]


def test_direct_client_forging_the_header_is_its_own_bucket(client_factory: Callable[[FastAPI], TestClient]) -> None:
    app = make_app(client_key)
    with TestClient(app, client=("203.0.113.50", 5000)) as client:
        assert statuses(client, [f"198.51.100.{n}" for n in range(4)]) == [200, 200, 200, 429]


def test_ipv6_clients_share_their_64(client_factory: Callable[[FastAPI], TestClient]) -> None:
    client = client_factory(make_app(client_key))
    assert statuses(client, [f"2001:db8:1:2::{n:x}" for n in range(1, 5)]) == [200, 200, 200, 429]
    assert statuses(client, ["2001:db8:1:3::1"]) == [200]  # the next /64 is somebody else
    wide = client_factory(make_app(key_func(ipv6_prefix=128)))
    assert statuses(wide, [f"2001:db8:1:2::{n:x}" for n in range(1, 5)]) == [200] * 4


def test_unresolved_requests_bucketed_apart_or_exempt(client_factory: Callable[[FastAPI], TestClient]) -> None:
    limited = client_factory(make_app(client_key))
    # The proxy's own health checks (no header) share the proxy's "unresolved" bucket, not a client's.
    assert [limited.get("/").status_code for _ in range(4)] == [200, 200, 200, 429]
    # The proxy naming a trusted address as the client (all-trusted) is that address's bucket, not "unresolved:".
    assert statuses(limited, ["10.0.0.5"]) == [200]
    exempt = client_factory(make_app(client_key, exempt=True))
    assert [exempt.get("/").status_code for _ in range(6)] == [200] * 6
    assert statuses(exempt, ["198.51.100.1"] * 4) == [200, 200, 200, 429]  # clients are still limited


def test_slowapi_middleware_inside_realip(client_factory: Callable[[FastAPI], TestClient]) -> None:
    limiter = Limiter(key_func=client_key, storage_uri="memory://", default_limits=["2/minute"])
    app = FastAPI()
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]

    @app.get("/")
    async def index() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(SlowAPIMiddleware)
    app.add_middleware(RealIPMiddleware, trusted_proxies=TRUSTED)  # added last: outermost, runs first
    client = client_factory(app)
    assert statuses(client, ["198.51.100.1", "198.51.100.2", "198.51.100.1", "198.51.100.1"]) == [200, 200, 200, 429]


def test_limiter_before_realip_fails_loudly() -> None:
    limiter = Limiter(key_func=client_key, storage_uri="memory://", default_limits=["2/minute"])
    app = FastAPI()
    app.state.limiter = limiter

    @app.get("/")
    async def index() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(RealIPMiddleware, trusted_proxies=TRUSTED)
    app.add_middleware(SlowAPIMiddleware)  # wrong: outermost, so it asks for the key before realip resolved
    # slowapi's middleware hands any error of the key function to its 429 handler, which fails on it: a 500, never a
    # request limited by the proxy's address or a forged header.
    with TestClient(app, client=PROXY, raise_server_exceptions=False) as client:
        assert statuses(client, ["198.51.100.1"]) == [500]
    with pytest.raises(NotResolved, match="make it run before the limiter"):
        client_key(Request({"type": "http", "headers": [], "client": PROXY}))
