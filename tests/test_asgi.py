"""realip.asgi.RealIPMiddleware: the shared scenarios through bare ASGI, Starlette, FastAPI and a real uvicorn.

The real-server tests run one uvicorn (``--access-log``, ``--no-proxy-headers``) whose app, ``probe_app``, routes
``/<n>/...`` to a RealIPMiddleware built with the n-th option set of ``PROBE_CONFIGS`` (JSON in the environment), so
every loopback scenario goes through real sockets and real headers in one server start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
import websockets.sync.client
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

with warnings.catch_warnings():  # starlette >= 1.x suggests httpx2 for TestClient; httpx works and is what we have
    warnings.filterwarnings("ignore", message=".*httpx.*", category=UserWarning)
    from starlette.testclient import TestClient

from realip import ConfigError, Reason, Resolver, Result
from realip.asgi import Message, RealIPMiddleware, Receive, Scope, Send
from tests.scenarios import LOOPBACK_SCENARIOS, SCENARIOS, Scenario, assert_context, log_path
from tests.servers import Server, ServerError, http_get, python, run_server

PEER_PORT = 50123
XFF = (("X-Forwarded-For", "198.51.100.7"),)
PROTO_OPTIONS: dict[str, object] = {"trusted_proxies": ["loopback"], "proto_header": "x-forwarded-proto"}

# -- apps ----------------------------------------------------------------------------------------------------------


def _report(scope: Scope) -> dict[str, Any]:
    result = scope.get("state", {}).get("realip")
    return {
        "client": list(scope["client"]) if scope.get("client") else None,
        "scheme": scope.get("scheme"),
        "state": sorted(scope.get("state", {})),
        "result": None if result is None else {**result._asdict(), "proxies": list(result.proxies)},
        # The root URL as Starlette builds it from this scope (scheme, Host header, root_path).
        "url_root": str(HTTPConnection(scope).base_url),
    }


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers HTTP and websocket requests with the scope as the middleware left it; marks lifespan state."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope.setdefault("state", {})["started"] = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = json.dumps(_report(scope)).encode()
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": body.decode()})
        await send({"type": "websocket.close", "code": 1000})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def probe_app() -> Any:
    """uvicorn factory: ``/<n>/...`` goes through RealIPMiddleware built with ``PROBE_CONFIGS[n]``."""
    configs = json.loads(os.environ["PROBE_CONFIGS"])
    routes = [RealIPMiddleware(echo_app, **options) for options in configs]

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await routes[0](scope, receive, send)
            return
        await routes[int(scope["path"].split("/")[1])](scope, receive, send)

    return dispatch


def starlette_app(**options: Any) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        assert request.client is not None
        result: Result = request.state.realip
        return JSONResponse(
            {
                "client": [request.client.host, request.client.port],
                "scheme": request.url.scheme,
                "source": result.source,
                "peer": [result.peer, result.peer_port],
                "result": result._asdict(),
                "url_root": str(request.url_for("whoami")),  # the link the app builds to itself
            }
        )

    app = Starlette(routes=[Route("/", whoami)])
    app.add_middleware(RealIPMiddleware, **options)
    return app


def fastapi_app(**options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/")
    def whoami(request: FastAPIRequest) -> dict[str, Any]:
        assert request.client is not None
        result: Result = request.state.realip
        return {
            "client": [request.client.host, request.client.port],
            "scheme": request.url.scheme,
            "source": result.source,
            "peer": [result.peer, result.peer_port],
            "result": result._asdict(),
            "url_root": str(request.url_for("whoami")),  # the link the app builds to itself
        }

    app.add_middleware(RealIPMiddleware, **options)
    return app


# -- helpers -------------------------------------------------------------------------------------------------------


def expected_client(scenario: Scenario, peer_port: int) -> list[object]:
    """What ``scope["client"]`` must become: the peer keeps its own port; a header entry's port, or 0."""
    port = peer_port if scenario.source == "peer" else scenario.client_port
    return [scenario.client_ip, port or 0]


def raw_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def http_scope(peer: object, headers: Sequence[tuple[bytes, bytes]], kind: str = "http") -> dict[str, Any]:
    return {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "ws" if kind == "websocket" else "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": peer,
        "server": ("127.0.0.1", 8000),
    }


def call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one ASGI call to completion; returns what the app sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"} if scope["type"] == "websocket" else {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def seen_by(options: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    """The scope as the app below RealIPMiddleware received it."""
    seen: list[Any] = []

    async def record(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    call(RealIPMiddleware(record, **options), scope)
    assert len(seen) == 1
    received: dict[str, Any] = seen[0]
    return received


def get(server: Server, path: str, headers: Sequence[tuple[str, str | bytes]]) -> tuple[int, bytes, int]:
    """A GET with every header as its own line (repeats kept); returns status, body and our local port."""
    reply = http_get(server, path, headers)
    return reply.status, reply.body, reply.local_port


# -- (a) bare ASGI -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_bare_asgi(scenario: Scenario) -> None:
    scope = seen_by(scenario.options, http_scope((scenario.peer, PEER_PORT), raw_headers(scenario.headers)))
    assert list(scope["client"]) == expected_client(scenario, PEER_PORT)
    assert scope["scheme"] == (scenario.scheme or "http")
    result = scope["state"]["realip"]
    assert isinstance(result, Result)
    assert (result.client_ip, result.source, result.scheme) == (scenario.client_ip, scenario.source, scenario.scheme)
    assert (result.peer, result.peer_port) == (scenario.peer, PEER_PORT)  # the original peer is kept
    assert_context(result, str(HTTPConnection(scope).base_url), scenario)


# -- (b) Starlette and (c) FastAPI, in process ---------------------------------------------------------------------


def _via_transport(app: Any, scenario: Scenario) -> dict[str, Any]:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(scenario.peer, PEER_PORT))
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            return await client.get("/", headers=list(scenario.headers))

    response = asyncio.run(go())
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("make_app", [starlette_app, fastapi_app], ids=["starlette", "fastapi"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_framework(scenario: Scenario, make_app: Any) -> None:
    answer = _via_transport(make_app(**scenario.options), scenario)
    assert answer["client"] == expected_client(scenario, PEER_PORT)
    assert answer["source"] == scenario.source
    assert answer["scheme"] == (scenario.scheme or "http")
    assert answer["peer"] == [scenario.peer, PEER_PORT]
    assert_context(answer["result"], answer["url_root"], scenario)


def test_starlette_testclient_peer_is_not_an_address() -> None:
    """TestClient's peer is ("testclient", 50000): never trusted, reported as given, headers ignored."""
    with TestClient(starlette_app(trusted_proxies=["0.0.0.0/0", "::/0"])) as client:
        answer = client.get("/", headers={"X-Forwarded-For": "198.51.100.7"}).json()
    assert answer["client"] == ["testclient", 50000]
    assert answer["source"] == "peer"


# -- scope handling ------------------------------------------------------------------------------------------------


def test_lifespan_passes_through_untouched() -> None:
    scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    seen = seen_by({"trusted_proxies": ["loopback"]}, scope)
    assert seen is scope
    assert seen == {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}


def test_other_scope_types_pass_through_untouched() -> None:
    scope: dict[str, Any] = {"type": "custom", "client": ("127.0.0.1", 1), "headers": raw_headers(XFF)}
    seen = seen_by({}, scope)
    assert seen == {"type": "custom", "client": ("127.0.0.1", 1), "headers": raw_headers(XFF)}


def test_scope_is_changed_in_place_and_existing_state_kept() -> None:
    scope = http_scope(("127.0.0.1", PEER_PORT), raw_headers(XFF))
    scope["state"] = {"db": "kept"}
    seen = seen_by({}, scope)
    assert seen is scope  # the server's own reference (uvicorn's access log) sees the change
    assert scope["client"] == ("198.51.100.7", 0)
    assert set(scope["state"]) == {"db", "realip"}


@pytest.mark.parametrize(
    ("kind", "proto", "scheme"),
    [
        ("http", "https", "https"),
        ("http", "http", "http"),
        ("websocket", "https", "wss"),
        ("websocket", "http", "ws"),
    ],
)
def test_proto_header_sets_scheme(kind: str, proto: str, scheme: str) -> None:
    headers = raw_headers((*XFF, ("X-Forwarded-Proto", proto)))
    scope = seen_by(PROTO_OPTIONS, http_scope(("127.0.0.1", PEER_PORT), headers, kind))
    assert scope["scheme"] == scheme
    assert scope["client"] == ("198.51.100.7", 0)


def test_proto_header_not_configured_leaves_scheme() -> None:
    headers = raw_headers((*XFF, ("X-Forwarded-Proto", "https")))
    scope = seen_by({"trusted_proxies": ["loopback"]}, http_scope(("127.0.0.1", PEER_PORT), headers, "websocket"))
    assert scope["scheme"] == "ws"


def test_proto_header_from_untrusted_peer_ignored() -> None:
    headers = raw_headers((*XFF, ("X-Forwarded-Proto", "https")))
    scope = seen_by(PROTO_OPTIONS, http_scope(("203.0.113.50", PEER_PORT), headers))
    assert (scope["scheme"], scope["client"]) == ("http", ("203.0.113.50", PEER_PORT))


def test_unix_socket_peer_keeps_client() -> None:
    scope = seen_by({"trusted_proxies": ["loopback"]}, http_scope(None, raw_headers(XFF)))
    assert scope["client"] is None
    assert scope["state"]["realip"].reason is Reason.UNTRUSTED_PEER


def test_unix_socket_peer_trusted_resolves() -> None:
    scope = seen_by({"trusted_proxies": ["unix"]}, http_scope(None, raw_headers(XFF)))
    assert scope["client"] == ("198.51.100.7", 0)


# -- bad request data never raises, never 500 ----------------------------------------------------------------------

BAD_HEADERS = {  # name: (raw headers, the client they resolve to)
    "non-utf8": ([(b"x-forwarded-for", b"\xff\xfe198.51.100.7\xc0")], "127.0.0.1"),
    "100KB": ([(b"x-forwarded-for", b", ".join([b"198.51.100.7"] * 7000))], "198.51.100.7"),
    "control chars": ([(b"x-forwarded-for", b"198.51.100.7\r\n\x00\x1b[31m, 100.64.3.4")], "100.64.3.4"),
    "bad name bytes": ([(b"x-forwarded-for\xff", b"192.0.2.1"), (b"x-forwarded-for", b"\x00")], "127.0.0.1"),
    "forwarded junk": ([(b"forwarded", b'for="\xff;;==,,"[::1"; proto=\x00')], "127.0.0.1"),
}


@pytest.mark.parametrize(("headers", "client"), BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_bad_header_bytes_never_500(
    headers: list[tuple[bytes, bytes]], client: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = starlette_app(trusted_proxies=["loopback", "cgnat"], header=("forwarded", "x-forwarded-for"))
    sent = call(app, http_scope(("127.0.0.1", PEER_PORT), headers))
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"])["client"][0] == client
    assert not [r for r in caplog.records if r.name == "realip"]  # handled by the resolver, not by the fallback


class BrokenResolver(Resolver):
    def resolve(self, *args: Any, **kwargs: Any) -> Result:
        raise RuntimeError("boom")


def test_unexpected_failure_passes_request_through_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    app = RealIPMiddleware(echo_app, resolver=BrokenResolver())
    with caplog.at_level(logging.DEBUG, logger="realip"):
        for _ in range(3):
            sent = call(app, http_scope(("127.0.0.1", PEER_PORT), raw_headers(XFF)))
            assert sent[0]["status"] == 200
            assert json.loads(sent[1]["body"])["client"] == ["127.0.0.1", PEER_PORT]
    records = [r for r in caplog.records if r.name == "realip"]
    assert [r.levelno for r in records] == [logging.ERROR, logging.DEBUG, logging.DEBUG]
    assert "passes through unchanged" in records[0].getMessage()


@pytest.mark.parametrize(
    "scope_update",
    [
        {"headers": [(b"x-forwarded-for",)]},
        {"headers": 42},
        {"state": "not a dict"},
    ],
    ids=["header not a pair", "headers not a list", "state not a dict"],
)
def test_malformed_scope_passes_through_unchanged(
    scope_update: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    scope = {**http_scope(("127.0.0.1", PEER_PORT), raw_headers(XFF)), **scope_update}
    before = dict(scope)
    assert seen_by({}, scope) == before
    assert [r.levelno for r in caplog.records if r.name == "realip"] == [logging.ERROR]


def test_client_not_an_address_pair_is_an_untrusted_peer() -> None:
    scope = seen_by({"trusted_proxies": ["0.0.0.0/0"]}, http_scope(object(), raw_headers(XFF)))
    assert scope["state"]["realip"].reason is Reason.UNTRUSTED_PEER
    assert scope["client"][0] != "198.51.100.7"


# -- configuration -------------------------------------------------------------------------------------------------


def test_resolver_and_options_together_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not both"):
        RealIPMiddleware(echo_app, resolver=Resolver(), trusted_proxies=["loopback"])


def test_bad_option_fails_at_startup_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"10\.0\.0\.0/33"):
        RealIPMiddleware(echo_app, trusted_proxies=["10.0.0.0/33"])


def test_prebuilt_resolver_is_used() -> None:
    resolver = Resolver(trusted_proxies=["loopback"], header="x-real-ip")
    app = RealIPMiddleware(echo_app, resolver=resolver)
    assert app.resolver is resolver
    sent = call(app, http_scope(("127.0.0.1", 1), raw_headers((*XFF, ("X-Real-IP", "203.0.113.9")))))
    assert json.loads(sent[1]["body"])["client"] == ["203.0.113.9", 0]


@pytest.mark.parametrize(("trusted", "client"), [("10.0.0.0/8", "127.0.0.1"), ("loopback", "198.51.100.7")])
def test_environment_fallback(monkeypatch: pytest.MonkeyPatch, trusted: str, client: str) -> None:
    for name in list(os.environ):
        if name.startswith("REALIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", trusted)
    monkeypatch.setenv("REALIP_HEADER", "x-real-ip")
    scope = seen_by({}, http_scope(("127.0.0.1", PEER_PORT), raw_headers((("X-Real-IP", "198.51.100.7"),))))
    assert scope["client"][0] == client


def test_environment_fallback_bad_value_names_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "loopback, nonsense!")
    with pytest.raises(ConfigError, match="REALIP_TRUSTED_PROXIES"):
        RealIPMiddleware(echo_app)


def test_starlette_bad_option_stops_uvicorn_lifespan_on() -> None:
    """add_middleware is lazy: with --lifespan on, a bad entry stops uvicorn at start-up, naming the entry."""
    argv = python("-m", "uvicorn", "--factory", "tests.test_asgi:bad_starlette_app", "--fd", "{fd}", "--lifespan", "on")
    with pytest.raises(ServerError, match=r"(?s)trusted_proxies\[0\]='10\.0\.0\.1/8'.*Application startup failed"):
        with run_server(argv):
            pass


def bad_starlette_app() -> Starlette:
    """uvicorn factory for the test above."""
    return starlette_app(trusted_proxies=["10.0.0.1/8"])


# -- a real uvicorn ------------------------------------------------------------------------------------------------

CONFIGS: list[dict[str, Any]] = []
for _options in [s.options for s in LOOPBACK_SCENARIOS] + [PROTO_OPTIONS]:
    _plain = json.loads(json.dumps(_options))
    if _plain not in CONFIGS:
        CONFIGS.append(_plain)


def config_index(options: dict[str, object]) -> int:
    return CONFIGS.index(json.loads(json.dumps(options)))


@pytest.fixture(scope="module")
def uvicorn_server() -> Iterator[Server]:
    argv = python(
        "-m",
        "uvicorn",
        "--factory",
        "tests.test_asgi:probe_app",
        "--fd",
        "{fd}",
        "--no-proxy-headers",
        "--access-log",
        "--lifespan",
        "on",
    )
    with run_server(argv, env={"PROBE_CONFIGS": json.dumps(CONFIGS)}, ready_path="/0/ready") as server:
        yield server


@pytest.mark.parametrize("scenario", LOOPBACK_SCENARIOS, ids=lambda s: s.name)
def test_scenario_real_uvicorn(uvicorn_server: Server, scenario: Scenario) -> None:
    path = f"/{config_index(scenario.options)}/{LOOPBACK_SCENARIOS.index(scenario)}"
    status, body, local_port = get(uvicorn_server, path, scenario.headers)
    assert status == 200
    answer = json.loads(body)
    client = expected_client(scenario, local_port)
    assert answer["client"] == client
    assert answer["result"]["source"] == scenario.source
    assert answer["result"]["peer"] == "127.0.0.1"
    assert answer["result"]["peer_port"] == local_port
    assert answer["scheme"] == (scenario.scheme or "http")
    assert_context(answer["result"], answer["url_root"], scenario)
    # uvicorn's access log reads the same scope dict: it must show the resolved client, not the peer.
    uvicorn_server.wait_for_log(f'{client[0]}:{client[1]} - "GET {log_path(scenario, path)} HTTP/1.1" 200')


def test_lifespan_through_real_uvicorn(uvicorn_server: Server) -> None:
    """Lifespan went through the middleware (startup completed, its state reached requests, next to realip)."""
    assert "Application startup complete." in uvicorn_server.log()
    status, body, _ = get(uvicorn_server, "/0/state", XFF)
    assert (status, json.loads(body)["state"]) == (200, ["realip", "started"])


def test_non_utf8_header_through_real_uvicorn(uvicorn_server: Server) -> None:
    status, body, _ = get(uvicorn_server, "/0/bytes", [("X-Forwarded-For", b"\xff\xfe, 198.51.100.7")])
    assert status == 200
    assert json.loads(body)["client"] == ["198.51.100.7", 0]


@pytest.mark.parametrize(("proto", "scheme"), [("https", "wss"), (None, "ws")])
def test_websocket_through_real_uvicorn(uvicorn_server: Server, proto: str | None, scheme: str) -> None:
    index = config_index(PROTO_OPTIONS)
    headers = [("X-Forwarded-For", "192.0.2.66, 198.51.100.7")]
    if proto:
        headers.append(("X-Forwarded-Proto", f"http, {proto}"))
    path = f"/{index}/ws-{scheme}"
    with websockets.sync.client.connect(
        uvicorn_server.url.replace("http", "ws") + path, additional_headers=headers, open_timeout=10
    ) as ws:
        answer = json.loads(ws.recv(timeout=10))
    assert answer["client"] == ["198.51.100.7", 0]
    assert answer["scheme"] == scheme
    assert answer["result"]["source"] == "x-forwarded-for"
    uvicorn_server.wait_for_log(f'198.51.100.7:0 - "WebSocket {path}" [accepted]')


def test_uvicorn_proxy_headers_must_be_off() -> None:
    """Why the docs say --no-proxy-headers: uvicorn's own XFF handling would hand realip a forged peer."""
    argv = python("-m", "uvicorn", "--factory", "tests.test_asgi:probe_app", "--fd", "{fd}", "--lifespan", "off")
    configs = [{"trusted_proxies": ["10.0.0.0/8"]}]
    with run_server(argv, env={"PROBE_CONFIGS": json.dumps(configs)}, ready_path="/0/ready") as server:
        _, body, _ = get(server, "/0/", XFF)
    assert json.loads(body)["client"][0] == "198.51.100.7"  # wrong: the peer 127.0.0.1 is not trusted


def test_trusted_peer_without_header_is_flagged_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """kube-proxy SNAT (externalTrafficPolicy: Cluster) looks like a trusted peer sending no header: say so."""
    from realip import diagnostics

    diagnostics.reset()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    middleware = RealIPMiddleware(app, trusted_proxies=["10.0.0.0/8"])
    scope: Scope = {"type": "http", "client": ("10.1.2.3", 5000), "headers": []}
    with caplog.at_level(logging.WARNING, logger="realip"):
        asyncio.run(middleware(scope, _no_receive, _no_send))
        asyncio.run(middleware(dict(scope, client=("10.1.2.3", 5001)), _no_receive, _no_send))
    warnings = [r.getMessage() for r in caplog.records if "sent no forwarding header" in r.getMessage()]
    assert len(warnings) == 1 and "10.1.2.3" in warnings[0]


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


async def _no_send(message: Message) -> None:
    return None
