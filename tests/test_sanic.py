"""realip.sanic: the shared scenarios through Sanic's ASGI test transport and through a real Sanic server on loopback,
asserting the answer and Sanic's access-log line, plus websockets, Sanic's own proxy settings, failures and
configuration.

``serve()`` at the bottom is the real server: one blueprint-free app whose ``/<n>/...`` routes go through a RealIP
built with ``tests.frameworks.CONFIGS[n]`` (one app per option set, dispatched by a tiny ASGI router would lose
Sanic's own server, so instead each option set gets its own extension instance chosen per request).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest
import websockets.sync.client
from sanic import Request, Sanic, Websocket
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from realip import ConfigError, Reason, Resolver, Result, diagnostics
from realip import logging as realip_logging
from realip.sanic import RealIP
from tests.frameworks import (
    PROTO_OPTIONS,
    STRIP_FORGED,
    STRIP_OPTIONS,
    XFF,
    config_index,
    configs_env,
    expected_port,
    probe_configs,
    result_json,
    scenario_path,
)
from tests.scenarios import CONTEXT, LOOPBACK_SCENARIOS, SCENARIOS, Scenario, assert_context
from tests.servers import Server, http_get, run_server

Sanic.test_mode = True
PEER_PORT = 50123
_names = itertools.count()


def make_app(**options: Any) -> Sanic[Any, Any]:
    app: Sanic[Any, Any] = Sanic(f"realip_test_{next(_names)}")
    RealIP(app, **options)

    @app.get("/", name="root")
    async def whoami(request: Request) -> HTTPResponse:
        return json_response(answer(request))

    return app


def answer(request: Request) -> dict[str, Any]:
    return {
        "client_ip": request.client_ip,
        "remote_addr": request.remote_addr,
        "ip": request.ip,
        "scheme": request.scheme,
        "host": request.host,
        "server_name": request.server_name,
        "server_port": request.server_port,
        "server_path": request.server_path,
        "path": request.path,
        "url_root": root_url(request),
        "headers": sorted([name.lower(), value] for name, value in request.headers.items()),
        "result": result_json(getattr(request.ctx, "realip", None)),
    }


def root_url(request: Request) -> str:
    """The link to the ``root`` route as the module docstring says to build it: Sanic's ``request.url_for`` (scheme,
    host and port from the trusted hop), with the forwarded prefix (the Result's alone) put in front of its path."""
    result = getattr(request.ctx, "realip", None)
    url = urlsplit(request.url_for("root"))
    return urlunsplit(url._replace(path=quote((result and result.prefix) or "") + url.path))


def via_asgi(app: Sanic[Any, Any], peer: str, headers: Any) -> dict[str, Any]:
    """One GET through sanic-testing's ASGI client, with ``peer`` as the socket peer (its own is 127.0.0.1)."""
    from sanic_testing.testing import SanicASGITestClient

    async def go() -> Any:
        client = SanicASGITestClient(app)
        client._transport = httpx.ASGITransport(app=app, client=(peer, PEER_PORT))  # type: ignore[arg-type]
        _, response = await client.get("/", headers=list(headers))
        return response

    response = asyncio.run(go())
    assert response.status_code == 200, response.text
    return dict(response.json)


def bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


# -- the scenario table through Sanic's ASGI interface ---------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_asgi(scenario: Scenario) -> None:
    got = via_asgi(make_app(**scenario.options), scenario.peer, scenario.headers)
    assert got["client_ip"] == got["remote_addr"] == bracketed(scenario.client_ip)
    assert got["ip"] == scenario.peer  # Sanic's request.ip stays the socket peer
    assert got["scheme"] == (scenario.scheme or "http")
    result = got["result"]
    assert (result["client_ip"], result["client_port"], result["source"]) == (
        scenario.client_ip,
        expected_port(scenario, PEER_PORT),
        scenario.source,
    )
    assert (result["peer"], result["peer_port"]) == (scenario.peer, PEER_PORT)
    check_context(scenario, got)


def check_context(scenario: Scenario, got: dict[str, Any]) -> None:
    """The forwarded context as Sanic's own accessors show it (request.host, server_name, server_port, server_path,
    url_for), and the root URL built from them."""
    assert_context(got["result"], got["url_root"], scenario)
    if scenario.host is not None:
        port = scenario.server_port or (443 if scenario.scheme == "https" else 80)
        assert (got["server_name"], got["server_port"]) == (scenario.host, port)
        assert got["host"] == (scenario.host if port in (80, 443) else f"{scenario.host}:{port}")
    assert got["server_path"] == (scenario.prefix or "") + got["path"]


def test_sanic_test_client() -> None:
    """sanic-testing's test_client (a server on loopback): its peer 127.0.0.1 is trusted by default."""
    app = make_app()
    request, response = app.test_client.get("/", headers={"X-Forwarded-For": "192.0.2.66, 198.51.100.7"})
    assert response.json["client_ip"] == request.client_ip == "198.51.100.7"
    assert request.ctx.realip.peer == request.ip == "127.0.0.1"


def test_runs_before_other_middleware() -> None:
    app = make_app(trusted_proxies=["loopback"])
    seen: list[str] = []

    @app.on_request(priority=99)
    async def early(request: Request) -> None:
        seen.append(request.client_ip)

    via_asgi(app, "127.0.0.1", XFF)
    assert seen == ["198.51.100.7"]


@pytest.mark.parametrize(
    "setting", [("PROXIES_COUNT", 1), ("FORWARDED_SECRET", "s3cret"), ("REAL_IP_HEADER", "x-real-ip")]
)
def test_sanic_proxy_settings_refused_at_start(setting: tuple[str, object]) -> None:
    app = make_app()
    app.config[setting[0]] = setting[1]
    with pytest.raises(ConfigError, match=rf"Sanic's {setting[0]}=.*unset it"):
        via_asgi(app, "127.0.0.1", XFF)


def test_strip_untrusted() -> None:
    headers = [("X-Forwarded-For", "192.0.2.66"), ("X-Real-IP", "192.0.2.67"), ("X-Forwarded-Host", "evil.example")]
    direct = via_asgi(make_app(**STRIP_OPTIONS), "203.0.113.50", headers)
    assert [pair for pair in direct["headers"] if pair[0].startswith("x-")] == []  # every forwarding header gone
    assert direct["client_ip"] == "203.0.113.50" and ["host", direct["host"]] in direct["headers"]  # the Host kept
    proxied = via_asgi(make_app(**STRIP_OPTIONS), "127.0.0.1", STRIP_FORGED)
    assert [pair for pair in proxied["headers"] if pair[0].startswith("x-")] == [
        ["x-forwarded-for", "198.51.100.7"],
        ["x-forwarded-host", "app.example.com"],
    ]
    assert (proxied["host"], proxied["url_root"]) == ("app.example.com", "http://app.example.com/")


def test_server_name_config_still_wins() -> None:
    """Sanic documents SERVER_NAME as overriding any forwarded host: realip leaves that to the app's config."""
    app = make_app(**CONTEXT)
    app.config.SERVER_NAME = "www.example.org"
    got = via_asgi(app, "127.0.0.1", [*XFF, ("X-Forwarded-Host", "app.example.com")])
    assert (got["host"], got["result"]["host"]) == ("www.example.org", "app.example.com")


def test_listeners_see_every_request() -> None:
    seen: list[tuple[Result, Any]] = []
    unsubscribe = diagnostics.subscribe(lambda result, request: seen.append((result, request)))
    try:
        via_asgi(make_app(trusted_proxies=["loopback"]), "127.0.0.1", XFF)
        via_asgi(make_app(trusted_proxies=["loopback"]), "203.0.113.50", XFF)
    finally:
        unsubscribe()
    assert [result.reason for result, _ in seen] == [Reason.UNTRUSTED_ENTRY, Reason.UNTRUSTED_PEER]
    assert all(isinstance(request, Request) and request.ctx.realip is result for result, request in seen)


def test_logging_binds_the_result_for_the_handler() -> None:
    app = make_app(trusted_proxies=["loopback"])

    @app.get("/logged")
    async def logged(request: Request) -> HTTPResponse:
        return json_response({"logged_client": getattr(realip_logging.current_result(), "client_ip", None)})

    realip_logging.track()
    try:
        from sanic_testing.testing import SanicASGITestClient

        async def go() -> Any:
            client = SanicASGITestClient(app)
            client._transport = httpx.ASGITransport(app=app, client=("127.0.0.1", PEER_PORT))  # type: ignore[arg-type]
            _, response = await client.get("/logged", headers=list(XFF))
            return response.json

        assert asyncio.run(go()) == {"logged_client": "198.51.100.7"}
    finally:
        realip_logging.untrack()


def test_counters_look_at_a_sanic_request() -> None:
    from realip.metrics import Counters

    counters = Counters()
    assert counters.sent_forwarding_header(_bare_request(("203.0.113.50", 1), XFF)) is True
    assert counters.sent_forwarding_header(_bare_request(("203.0.113.50", 1), [("Host", "a")])) is False


def test_init_twice_is_refused() -> None:
    app = make_app()
    with pytest.raises(RuntimeError, match="already initialised"):
        RealIP(app)


class BrokenResolver(Resolver):
    def resolve(self, *args: Any, **kwargs: Any) -> Result:
        raise RuntimeError("boom")


def test_unexpected_failure_passes_through_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    app: Sanic[Any, Any] = Sanic(f"realip_test_{next(_names)}")
    RealIP(app, resolver=BrokenResolver())

    @app.get("/", name="root")
    async def whoami(request: Request) -> HTTPResponse:
        return json_response(answer(request))

    with caplog.at_level(logging.DEBUG, logger="realip"):
        for _ in range(2):
            assert via_asgi(app, "127.0.0.1", XFF)["client_ip"] == "127.0.0.1"
    levels = [r.levelno for r in caplog.records if r.name == "realip"]
    assert levels == [logging.ERROR, logging.DEBUG]


def test_options_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="not both"):
        RealIP(resolver=Resolver(), trusted_proxies=["loopback"])
    with pytest.raises(ConfigError, match=r"10\.0\.0\.1/8"):
        RealIP(trusted_proxies=["10.0.0.1/8"])
    for name in list(os.environ):
        if name.startswith("REALIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "10.0.0.0/8")
    assert via_asgi(make_app(), "127.0.0.1", XFF)["client_ip"] == "127.0.0.1"
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "loopback")
    assert via_asgi(make_app(), "127.0.0.1", XFF)["client_ip"] == "198.51.100.7"


def test_unix_socket_peer_untrusted_keeps_sanic_answer() -> None:
    extension = RealIP(trusted_proxies=["loopback"])
    request = _bare_request(peer=None, headers=XFF)
    extension.on_request(request)
    assert request.ctx.realip.reason is Reason.UNTRUSTED_PEER
    assert request.parsed_forwarded is None  # nothing to write: Sanic's own answer stands


def _bare_request(peer: tuple[str, int] | None, headers: Any) -> Request:
    from sanic.compat import Header

    class Conn:
        peername = peer
        sockname = "/run/app.sock"

    app = make_app()
    request = Request(b"/", Header(list(headers)), "1.1", "GET", None, app)
    request.conn_info = Conn()  # type: ignore[assignment]
    return request


# -- a real Sanic server on loopback ---------------------------------------------------------------------------------

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"access": {"format": "access %(host)s %(request)s %(status)s"}},
    "handlers": {"access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"}},
    "loggers": {"sanic.access": {"level": "INFO", "handlers": ["access"], "propagate": False}},
}


def probe_app() -> Sanic[Any, Any]:
    """``/<n>/...`` resolved by the n-th option set: one extension per set, the app's own registered first."""
    app: Sanic[Any, Any] = Sanic("realip_probe", log_config=LOG_CONFIG)
    extensions = [RealIP(**options) for options in probe_configs()]

    @app.on_request(priority=10**7)
    def pick(request: Request) -> None:
        index = int(request.path.split("/")[1]) if request.path.count("/") > 1 else 0
        extensions[index].on_request(request)

    @app.get("/<index:int>/<tag:str>")
    async def whoami(request: Request, index: int, tag: str) -> HTTPResponse:
        return json_response(answer(request))

    @app.websocket("/<index:int>/ws/<tag:str>")
    async def ws(request: Request, websocket: Websocket, index: int, tag: str) -> None:
        await websocket.send(json.dumps(answer(request)))

    @app.get("/", name="root")
    async def ready(request: Request) -> HTTPResponse:
        return json_response({})

    return app


def serve() -> None:
    listener = socket.socket(fileno=int(sys.argv[1]))
    probe_app().run(sock=listener, access_log=True, single_process=True, motd=False)


@pytest.fixture(scope="module")
def sanic_server() -> Iterator[Server]:
    argv = [sys.executable, "-c", "from tests.test_sanic import serve; serve()", "{fd}"]
    with run_server(argv, env=configs_env()) as server:
        yield server


def access_line(server: Server, tag: str) -> str:
    log = server.wait_for_log(tag)
    (line,) = [line for line in log.splitlines() if tag in line and line.startswith("access ")]
    return line


@pytest.mark.parametrize("scenario", LOOPBACK_SCENARIOS, ids=lambda s: s.name)
def test_scenario_real_server(sanic_server: Server, scenario: Scenario) -> None:
    path, tag = scenario_path(scenario)
    reply = http_get(sanic_server, path, scenario.headers)
    assert reply.status == 200, reply.body
    got = json.loads(reply.body)
    assert got["client_ip"] == bracketed(scenario.client_ip)
    assert got["ip"] == "127.0.0.1"
    assert got["scheme"] == (scenario.scheme or "http")
    result = got["result"]
    assert (result["client_ip"], result["client_port"], result["source"]) == (
        scenario.client_ip,
        expected_port(scenario, reply.local_port),
        scenario.source,
    )
    check_context(scenario, got)
    # Sanic's access log shows request.client_ip and the socket's port.
    line = access_line(sanic_server, tag)
    assert line.startswith(f"access {bracketed(scenario.client_ip)}:{reply.local_port} GET http"), line
    assert line.endswith(" 200"), line


def test_strip_untrusted_real_server(sanic_server: Server) -> None:
    reply = http_get(sanic_server, f"/{config_index(STRIP_OPTIONS)}/strip", STRIP_FORGED)
    got = json.loads(reply.body)
    assert [pair for pair in got["headers"] if pair[0].startswith("x-")] == [
        ["x-forwarded-for", "198.51.100.7"],
        ["x-forwarded-host", "app.example.com"],
    ]
    assert (got["client_ip"], got["host"], got["url_root"]) == (
        "198.51.100.7",
        "app.example.com",
        "http://app.example.com/",
    )


@pytest.mark.parametrize(("proto", "scheme"), [("https", "wss"), (None, "ws")])
def test_websocket_real_server(sanic_server: Server, proto: str | None, scheme: str) -> None:
    headers = [("X-Forwarded-For", "192.0.2.66, 198.51.100.7")]
    if proto:
        headers.append(("X-Forwarded-Proto", proto))
    path = f"/{config_index(PROTO_OPTIONS)}/ws/{scheme}"
    url = sanic_server.url.replace("http", "ws") + path
    with websockets.sync.client.connect(url, additional_headers=headers, open_timeout=10) as ws:
        got = json.loads(ws.recv(timeout=10))
    assert (got["client_ip"], got["scheme"]) == ("198.51.100.7", scheme)
