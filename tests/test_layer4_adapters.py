"""The one ``layer4=`` option (and ``REALIP_LAYER4``) through the ASGI, WSGI and Flask adapters.

A real :class:`realip_toa.TOASource` in saved-SYN mode answers from its connection registry, which the uvicorn hook
fills when it reads a connection's saved SYN; here the registry is filled the same way for one known connection, so
the adapters' wiring is tested without a kernel path (tests/toa/test_e2e.py and tests/proxy/test_e2e.py cover that,
through real servers and real load balancers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request

from realip import ConfigError, Reason
from realip.asgi import Message, RealIPMiddleware, Scope
from realip.flask import RealIP
from realip.wsgi import RealIPMiddleware as WSGIMiddleware
from realip_toa import TOA, TOASource
from realip_toa._table import conn_key
from realip_toa.source import REGISTRY

LB = ("100.64.0.1", 40000)  # the load balancer's address after full NAT: the socket peer
SERVER = ("100.64.9.9", 8000)
CLIENT = ("198.51.100.7", 51234)  # carried in the TCP option
BALANCERS = ["cgnat"]  # layer4_proxies: whose TOA is believed


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


def noop(*args: Any) -> None:
    return None


def test_asgi_layer4_option_gives_the_client_behind_a_load_balancer() -> None:
    middleware = RealIPMiddleware(noop, layer4_proxies=BALANCERS, layer4="toa:saved-syn")  # type: ignore[arg-type]
    result, client = asgi_result(middleware)
    assert (result.client_ip, result.client_port, result.source, result.peer) == (*CLIENT, "toa", LB[0])
    assert result.reason == Reason.LAYER4 and client == CLIENT  # what uvicorn's access log shows


def test_asgi_toa_from_a_peer_that_is_not_a_balancer_is_ignored() -> None:
    """A TCP option anyone can write is believed only from the balancers: a header proxy is not one."""
    middleware = RealIPMiddleware(
        noop, trusted_proxies=["cgnat"], layer4_proxies=["10.0.0.0/8"], layer4=TOASource("saved-syn")
    )  # type: ignore[arg-type]
    result, client = asgi_result(middleware)
    assert (result.client_ip, result.source, client) == ("192.0.2.66", "x-forwarded-for", ("192.0.2.66", 0))


def test_a_balancer_without_a_layer4_client_is_the_client_and_its_headers_are_not_read() -> None:
    """A health check, a LOCAL header or the migrate window: the bytes are the client's, so X-Forwarded-For is too."""
    middleware = RealIPMiddleware(noop, layer4_proxies=BALANCERS, layer4="toa:saved-syn")  # type: ignore[arg-type]
    result, _ = asgi_result(middleware, client=("100.64.0.2", 40001))  # no TOA registered for it
    assert (result.client_ip, result.source, result.reason) == ("100.64.0.2", "peer", Reason.NO_LAYER4)
    both = RealIPMiddleware(noop, trusted_proxies=BALANCERS, layer4_proxies=BALANCERS, layer4="toa:saved-syn")  # type: ignore[arg-type]
    assert asgi_result(both, client=("100.64.0.2", 40001))[0].source == "x-forwarded-for"  # also a header proxy: read


def test_asgi_reads_realip_layer4_from_the_environment_only_without_explicit_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "cgnat")
    monkeypatch.setenv("REALIP_LAYER4_PROXIES", "cgnat")
    monkeypatch.setenv("REALIP_LAYER4", "toa:saved-syn")
    from_env = RealIPMiddleware(noop)  # type: ignore[arg-type]
    assert asgi_result(from_env)[0].source == "toa"
    explicit = RealIPMiddleware(noop, trusted_proxies=BALANCERS)  # type: ignore[arg-type]
    assert asgi_result(explicit)[0].source == "x-forwarded-for"  # no Layer 4: the trusted peer's header is read


def test_the_carried_client_is_next_to_the_result() -> None:
    middleware = RealIPMiddleware(noop, layer4_proxies=BALANCERS, layer4="toa:saved-syn")  # type: ignore[arg-type]
    assert asgi_result(middleware)[0].client_ip == CLIENT[0]
    scope: Scope = {"type": "http", "client": LB, "server": SERVER, "headers": []}
    asyncio.run(middleware(scope, noop, noop))  # type: ignore[arg-type]
    assert scope["state"]["realip_layer4"] == CLIENT


@pytest.mark.parametrize(
    ("options", "message", "option"),
    [
        (
            {"layer4": "toa:syn-cookies", "layer4_proxies": BALANCERS},
            r"^layer4='toa:syn-cookies': expected one",
            "layer4",
        ),
        ({"layer4": "proxy-protocol"}, r"^layer4='proxy-protocol' needs layer4_proxies", "layer4_proxies"),
        ({"layer4": "toa:capture"}, r"needs layer4_proxies, the load balancers' addresses", "layer4_proxies"),
        ({"layer4": "bogus", "layer4_proxies": BALANCERS}, r"expected one of proxy-protocol, toa:capture", "layer4"),
        ({"layer4_proxies": ["10.0.0.1/8"]}, r"layer4_proxies\[0\]='10.0.0.1/8' has host bits set", "layer4_proxies"),
    ],
)
def test_bad_layer4_settings_fail_at_start_up(options: dict[str, Any], message: str, option: str) -> None:
    for middleware in (RealIPMiddleware, WSGIMiddleware):
        with pytest.raises(ConfigError, match=message) as error:
            middleware(noop, **options)  # type: ignore[arg-type]
        assert error.value.option == option


def test_kernel_mode_needs_no_balancers() -> None:
    """With toa.ko the peer already is the client: nothing to believe from a balancer."""
    RealIPMiddleware(noop, layer4="toa:kernel")  # type: ignore[arg-type]


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


def test_wsgi_layer4_option_rewrites_remote_addr() -> None:
    environ = wsgi_environ()
    WSGIMiddleware(noop, layer4_proxies=BALANCERS, layer4="toa:saved-syn")(environ, noop)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (CLIENT[0], str(CLIENT[1]))
    assert environ["realip.result"].source == "toa" and environ["realip.layer4"] == CLIENT


def test_flask_layer4_from_config_and_option() -> None:
    for configure in ("config", "option"):
        app = Flask(__name__)
        app.config["REALIP_LAYER4_PROXIES"] = BALANCERS
        if configure == "config":
            app.config["REALIP_LAYER4"] = "toa:saved-syn"
            RealIP(app)
        else:
            RealIP(app, layer4="toa:saved-syn")

        @app.get("/")
        def index() -> str:
            return f"{request.client_ip} {request.realip.source} {request.realip_layer4}"

        response = app.test_client().get("/", base_url=f"http://app:{SERVER[1]}", environ_base=wsgi_environ())
        assert response.text == f"{CLIENT[0]} toa {CLIENT}", configure


def test_flask_bad_layer4_config_names_the_key() -> None:
    app = Flask(__name__)
    app.config["REALIP_LAYER4_PROXIES"] = BALANCERS
    app.config["REALIP_LAYER4"] = "sometimes"
    with pytest.raises(ConfigError, match=r"^REALIP_LAYER4 \(Flask config\)='sometimes': expected one of"):
        RealIP(app)
