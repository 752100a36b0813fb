"""flask-limiter with realip's key, through Flask's test client: the classic failures behind a proxy are gone.

The test client connects as ``10.0.0.5`` (the trusted proxy, ``REMOTE_ADDR``) and sends that proxy's
X-Forwarded-For. Each failure is first shown with the keys people use today (flask-limiter #41, #428).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from realip.flask import RealIP
from realip.ratelimit import NotResolved
from realip.ratelimit.flask import client_key, is_unresolved, key_func
from realip.wsgi import RealIPMiddleware

PROXY = {"REMOTE_ADDR": "10.0.0.5", "REMOTE_PORT": "40000"}


def access_route_key() -> str:
    """The spoofable key of flask-limiter #41: the first entry of werkzeug's access_route (the header, unchecked)."""
    return request.access_route[0]


def make_app(key: Callable[[], str], *, realip: str | None = "extension", exempt: bool = False) -> Flask:
    app = Flask(__name__)
    if realip == "extension":
        RealIP(app, trusted_proxies=["10.0.0.0/8"])
    elif realip == "middleware":
        app.wsgi_app = RealIPMiddleware(app.wsgi_app, trusted_proxies=["10.0.0.0/8"])  # type: ignore[method-assign]
    limiter = Limiter(key, app=app, storage_uri="memory://")

    @app.get("/")
    @limiter.limit("3/minute", exempt_when=is_unresolved if exempt else None)
    def index() -> str:
        return request.remote_addr or ""

    return app


def statuses(client: FlaskClient, forwarded: list[str | None]) -> list[int]:
    return [
        client.get("/", headers={} if value is None else {"X-Forwarded-For": value}, environ_base=PROXY).status_code
        for value in forwarded
    ]


def test_whole_site_in_one_bucket_without_realip() -> None:
    client = make_app(get_remote_address, realip=None).test_client()
    assert statuses(client, [f"198.51.100.{n}" for n in range(4)]) == [200, 200, 200, 429]


@pytest.mark.parametrize("realip", ["extension", "middleware"])
def test_each_client_its_own_bucket_with_realip(realip: str) -> None:
    client = make_app(client_key, realip=realip).test_client()
    assert statuses(client, [f"198.51.100.{n}" for n in range(10)]) == [200] * 10
    assert statuses(client, ["198.51.100.1"] * 3) == [200, 200, 429]


def test_rotating_forged_header_escapes_access_route() -> None:
    client = make_app(access_route_key, realip=None).test_client()
    assert statuses(client, [f"192.0.2.{n}, 203.0.113.9" for n in range(6)]) == [200] * 6


def test_rotating_forged_header_does_not_escape_realip() -> None:
    client = make_app(client_key).test_client()
    assert statuses(client, [f"192.0.2.{n}, 203.0.113.9" for n in range(6)]) == [200, 200, 200, 429, 429, 429]


def test_ipv6_clients_share_their_64() -> None:
    client = make_app(client_key).test_client()
    assert statuses(client, [f"2001:db8:1:2::{n:x}" for n in range(1, 5)]) == [200, 200, 200, 429]
    assert statuses(client, ["2001:db8:1:3::1"]) == [200]
    wide = make_app(key_func(ipv6_prefix=128)).test_client()
    assert statuses(wide, [f"2001:db8:1:2::{n:x}" for n in range(1, 5)]) == [200] * 4


def test_unresolved_requests_bucketed_apart_or_exempt() -> None:
    limited = make_app(client_key).test_client()
    assert statuses(limited, [None] * 4) == [200, 200, 200, 429]
    assert statuses(limited, ["198.51.100.1"]) == [200]
    exempt = make_app(client_key, exempt=True).test_client()
    assert statuses(exempt, [None] * 6) == [200] * 6
    assert statuses(exempt, ["198.51.100.1"] * 4) == [200, 200, 200, 429]


def test_without_realip_the_key_fails_loudly() -> None:
    app = make_app(client_key, realip=None)
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(NotResolved, match="RealIP\\(app\\) for Flask"):
        app.test_client().get("/", environ_base=PROXY)
