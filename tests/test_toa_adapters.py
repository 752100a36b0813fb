"""The one ``toa=`` option (and ``REALIP_TOA``) through the ASGI, WSGI and Flask adapters.

A real :class:`realip_toa.TOASource` in saved-SYN mode answers from its connection registry, which the uvicorn hook
fills when it reads a connection's saved SYN; here the registry is filled the same way for one known connection, so
the adapters' wiring is tested without a kernel path (tests/toa/test_e2e.py covers that, through real servers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request

from realip import ConfigError
from realip.asgi import Message, RealIPMiddleware, Scope
from realip.flask import RealIP
from realip.wsgi import RealIPMiddleware as WSGIMiddleware
from realip_toa import TOA, TOASource
from realip_toa._table import conn_key
from realip_toa.source import REGISTRY

LB = ("100.64.0.1", 40000)  # the load balancer's address after full NAT: the socket peer
SERVER = ("100.64.9.9", 8000)
CLIENT = ("198.51.100.7", 51234)  # carried in the TCP option
TRUST = ["cgnat"]


@pytest.fixture(autouse=True)
def registered_connection() -> Iterator[None]:
    key = conn_key(LB, SERVER)
    assert key is not None
    REGISTRY.put(key, TOA(254, *CLIENT))
    yield
    REGISTRY.forget(key)


def asgi_result(middleware: RealIPMiddleware, client: tuple[str, int] = LB) -> Any:
    headers = [(b"x-forwarded-for", b"192.0.2.66")]
    scope: Scope = {"type": "http", "client": client, "server": SERVER, "headers": headers}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        return None

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    middleware.app = app
    asyncio.run(middleware(scope, receive, receive))  # type: ignore[arg-type]
    return scope["state"]["realip"], scope["client"]


def test_asgi_toa_option_gives_the_client_behind_a_trusted_load_balancer() -> None:
    middleware = RealIPMiddleware(lambda *a: None, trusted_proxies=TRUST, toa="saved-syn")  # type: ignore[arg-type]
    result, client = asgi_result(middleware)
    assert (result.client_ip, result.client_port, result.source, result.peer) == (*CLIENT, "toa", LB[0])
    assert client == CLIENT  # what uvicorn's access log shows


def test_asgi_toa_from_an_untrusted_peer_is_ignored() -> None:
    middleware = RealIPMiddleware(lambda *a: None, trusted_proxies=["10.0.0.0/8"], toa=TOASource("saved-syn"))  # type: ignore[arg-type]
    result, client = asgi_result(middleware)
    assert (result.client_ip, result.source, client) == (LB[0], "peer", LB)


def test_asgi_reads_realip_toa_from_the_environment_only_without_explicit_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "cgnat")
    monkeypatch.setenv("REALIP_TOA", "saved-syn")
    from_env = RealIPMiddleware(lambda *a: None)  # type: ignore[arg-type]
    assert asgi_result(from_env)[0].source == "toa"
    explicit = RealIPMiddleware(lambda *a: None, trusted_proxies=TRUST)  # type: ignore[arg-type]
    assert asgi_result(explicit)[0].source == "x-forwarded-for"  # no TOA: the trusted peer's header is read


def test_bad_toa_mode_fails_at_start_up() -> None:
    with pytest.raises(ConfigError, match="TOA mode 'syn-cookies'"):
        RealIPMiddleware(lambda *a: None, trusted_proxies=TRUST, toa="syn-cookies")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="TOA mode"):
        WSGIMiddleware(lambda e, s: [], trusted_proxies=TRUST, toa="bogus")


def wsgi_environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_NAME": "app",
        "REMOTE_ADDR": LB[0],
        "REMOTE_PORT": str(LB[1]),
        "SERVER_ADDR": SERVER[0],
        "SERVER_PORT": str(SERVER[1]),
        "HTTP_X_FORWARDED_FOR": "192.0.2.66",
        "wsgi.url_scheme": "http",
    }


def test_wsgi_toa_option_rewrites_remote_addr() -> None:
    environ = wsgi_environ()
    WSGIMiddleware(lambda e, s: [], trusted_proxies=TRUST, toa="saved-syn")(environ, lambda *a: None)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (CLIENT[0], str(CLIENT[1]))
    assert environ["realip.result"].source == "toa"


def test_flask_toa_from_config_and_option() -> None:
    for configure in ("config", "option"):
        app = Flask(__name__)
        app.config["REALIP_TRUSTED_PROXIES"] = TRUST
        if configure == "config":
            app.config["REALIP_TOA"] = "saved-syn"
            RealIP(app)
        else:
            RealIP(app, toa="saved-syn")

        @app.get("/")
        def index() -> str:
            return f"{request.client_ip} {request.realip.source}"

        response = app.test_client().get("/", base_url=f"http://app:{SERVER[1]}", environ_base=wsgi_environ())
        assert response.text == f"{CLIENT[0]} toa", configure


def test_flask_bad_toa_config_names_the_key() -> None:
    app = Flask(__name__)
    app.config["REALIP_TOA"] = "sometimes"
    with pytest.raises(ConfigError, match=r"REALIP_TOA \(Flask config or environment\): TOA mode 'sometimes'"):
        RealIP(app)
