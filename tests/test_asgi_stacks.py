"""Litestar, Quart, Falcon and Channels through their own test tools: the shared scenario table, websockets, and each
framework's accessors for the client.

- Litestar: ``RealIPPlugin`` (``request.client``, ``request.state.realip``), through an ASGI test transport carrying the
  scenario's peer, and Litestar's own ``TestClient`` (whose peer, ``testclient``, is never trusted);
- Quart: ``RealIP`` (``request.remote_addr``, ``request.client_ip``, ``request.realip``), through ``app.test_client()``;
- Falcon: the generic adapters around ``falcon.App`` and ``falcon.asgi.App`` (``req.remote_addr``), through
  ``falcon.testing``;
- Channels: the generic ASGI middleware around a ``ProtocolTypeRouter``, a websocket consumer's ``scope["client"]``,
  through ``channels.testing.WebsocketCommunicator``.

The real servers (granian, hypercorn, Daphne) are in tests/test_servers.py.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import httpx
import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path as django_path
from litestar import Litestar, Request, WebSocket, get, websocket
from litestar.testing import TestClient
from quart import Quart, url_for
from quart import request as quart_request
from quart import websocket as quart_websocket

from realip import ConfigError, Resolver, diagnostics
from realip import asgi as realip_asgi
from realip import wsgi as realip_wsgi
from realip.litestar import RealIPPlugin
from realip.quart import RealIP as QuartRealIP
from tests.frameworks import PROTO_OPTIONS, XFF, expected_port, result_json
from tests.scenarios import SCENARIOS, Scenario, assert_context

PEER_PORT = 50123


def check(
    scenario: Scenario, client: str | None, result: dict[str, Any] | None, peer_port: int | None = PEER_PORT
) -> None:
    assert client == scenario.client_ip
    assert result is not None
    assert (result["client_ip"], result["client_port"], result["source"], result["scheme"]) == (
        scenario.client_ip,
        expected_port(scenario, peer_port),
        scenario.source,
        scenario.scheme,
    )


def asgi_get(app: Any, peer: str, headers: Any, path: str = "/") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(peer, PEER_PORT))
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            return await client.get(path, headers=list(headers))

    return asyncio.run(go())


# -- Litestar ----------------------------------------------------------------------------------------------------


@get("/", name="root")
async def litestar_whoami(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {
        "client": request.client.host if request.client else None,
        "scheme": request.url.scheme,
        "url_root": request.url_for("root"),  # the link Litestar builds: scheme, Host header, root_path
        "result": result_json(request.state.get("realip")),
    }


@websocket("/ws")
async def litestar_ws(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_json({"client": socket.client.host if socket.client else None, "scheme": socket.url.scheme})
    await socket.close()


def litestar_app(**options: Any) -> Litestar:
    return Litestar(route_handlers=[litestar_whoami, litestar_ws], plugins=[RealIPPlugin(**options)])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_litestar_scenario(scenario: Scenario) -> None:
    response = asgi_get(litestar_app(**scenario.options), scenario.peer, scenario.headers)
    assert response.status_code == 200, response.text
    got = response.json()
    check(scenario, got["client"], got["result"])
    assert got["scheme"] == (scenario.scheme or "http")
    assert_context(got["result"], got["url_root"], scenario)


def test_litestar_test_client_and_websocket() -> None:
    """Litestar's TestClient peer is ("testclient", 50000): never trusted, its headers ignored."""
    with TestClient(litestar_app(trusted_proxies=["any"])) as client:
        assert client.get("/", headers=dict(XFF)).json()["client"] == "testclient"
        with client.websocket_connect("/ws", headers=dict(XFF)) as ws:
            assert ws.receive_json()["client"] == "testclient"


def test_litestar_websocket_sees_the_client() -> None:
    app = litestar_app(**PROTO_OPTIONS)
    scope = {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "scheme": "ws",
        "query_string": b"",
        "headers": [(b"x-forwarded-for", b"192.0.2.66, 198.51.100.7"), (b"x-forwarded-proto", b"https")],
        "client": ("127.0.0.1", PEER_PORT),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "asgi": {"version": "3.0"},
    }
    assert run_websocket(app, scope) == {"client": "198.51.100.7", "scheme": "wss"}


def test_litestar_404_keeps_the_peer_unless_the_app_is_wrapped() -> None:
    """Litestar applies app middleware to matched routes: the README says to wrap the whole app to cover 404s."""
    from litestar.exceptions import NotFoundException
    from litestar.response import Response

    def not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        return Response({"client": request.client.host if request.client else None}, status_code=404)

    handlers: Any = {NotFoundException: not_found}
    plugin_only = Litestar([litestar_whoami], plugins=[RealIPPlugin()], exception_handlers=handlers)
    assert asgi_get(plugin_only, "127.0.0.1", XFF, "/nope").json() == {"client": "127.0.0.1"}
    wrapped = realip_asgi.RealIPMiddleware(Litestar([litestar_whoami], exception_handlers=handlers))
    assert asgi_get(wrapped, "127.0.0.1", XFF, "/nope").json() == {"client": "198.51.100.7"}


def test_litestar_listeners_see_every_request() -> None:
    seen: list[tuple[Any, Any]] = []
    unsubscribe = diagnostics.subscribe(lambda result, request: seen.append((result, request)))
    try:
        asgi_get(litestar_app(trusted_proxies=["loopback"]), "127.0.0.1", XFF)
        asgi_get(litestar_app(trusted_proxies=["loopback"]), "203.0.113.50", XFF)
    finally:
        unsubscribe()
    assert [(result.client_ip, scope["state"]["realip"] is result) for result, scope in seen] == [
        ("198.51.100.7", True),
        ("203.0.113.50", True),
    ]


def test_litestar_plugin_checks_options_at_start() -> None:
    with pytest.raises(ConfigError, match=r"10\.0\.0\.1/8"):
        RealIPPlugin(trusted_proxies=["10.0.0.1/8"])
    with pytest.raises(TypeError, match="not both"):
        RealIPPlugin(resolver=Resolver(), trusted_proxies=["loopback"])


def run_websocket(app: Any, scope: dict[str, Any]) -> Any:
    """Drive one websocket connection through an ASGI app; the first JSON text it sends."""
    import json

    sent: list[dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop()
        await asyncio.sleep(3600)
        return {"type": "websocket.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def go() -> None:
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(go())
    texts = [m for m in sent if m["type"] == "websocket.send"]
    return json.loads(texts[0].get("text") or texts[0]["bytes"])


# -- Quart -------------------------------------------------------------------------------------------------------


def quart_app(**options: Any) -> Quart:
    app = Quart(__name__)
    QuartRealIP(app, **options)

    @app.get("/")
    async def whoami() -> dict[str, Any]:
        return {
            "remote_addr": quart_request.remote_addr,
            "client_ip": quart_request.client_ip,  # type: ignore[attr-defined]
            "scheme": quart_request.scheme,
            "url_root": url_for("whoami", _external=True),  # the link Quart builds: scheme, host, root_path
            "result": result_json(quart_request.realip),  # type: ignore[attr-defined]
        }

    @app.websocket("/ws")
    async def ws() -> None:
        await quart_websocket.accept()
        await quart_websocket.send_json(
            {"remote_addr": quart_websocket.remote_addr, "client_ip": quart_websocket.client_ip}  # type: ignore[attr-defined]
        )

    return app


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_quart_scenario(scenario: Scenario) -> None:
    app = quart_app(**scenario.options)

    async def go() -> Any:
        client = app.test_client()
        response = await client.get(
            "/", headers=list(scenario.headers), scope_base={"client": (scenario.peer, PEER_PORT)}
        )
        return await response.get_json()

    got = asyncio.run(go())
    check(scenario, got["remote_addr"], got["result"])
    assert got["client_ip"] == scenario.client_ip
    assert got["scheme"] == (scenario.scheme or "http")
    assert_context(got["result"], got["url_root"], scenario)


def test_quart_websocket() -> None:
    app = quart_app(trusted_proxies=["loopback"])

    async def go() -> Any:
        client = app.test_client()
        async with client.websocket(
            "/ws", headers=[("X-Forwarded-For", "192.0.2.66, 198.51.100.7")], scope_base={"client": ("127.0.0.1", 1)}
        ) as ws:
            return await ws.receive_json()

    assert asyncio.run(go()) == {"remote_addr": "198.51.100.7", "client_ip": "198.51.100.7"}


def test_quart_listeners_see_every_request() -> None:
    seen: list[tuple[Any, Any]] = []
    app = quart_app(trusted_proxies=["loopback"])

    async def go(peer: str) -> None:
        response = await app.test_client().get("/", headers=list(XFF), scope_base={"client": (peer, PEER_PORT)})
        assert response.status_code == 200

    unsubscribe = diagnostics.subscribe(lambda result, request: seen.append((result, request)))
    try:
        asyncio.run(go("127.0.0.1"))
        asyncio.run(go("203.0.113.50"))
    finally:
        unsubscribe()
    assert [(result.client_ip, scope["state"]["realip"] is result) for result, scope in seen] == [
        ("198.51.100.7", True),
        ("203.0.113.50", True),
    ]


def test_quart_config_keys_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REALIP_"):
            monkeypatch.delenv(name)
    app = Quart(__name__)
    app.config["REALIP_TRUSTED_PROXIES"] = "10.0.0.1/8"
    with pytest.raises(ConfigError, match=r"REALIP_TRUSTED_PROXIES='10\.0\.0\.1/8' \(Quart config\)"):
        QuartRealIP(app)
    app = Quart(__name__)
    app.config["REALIP_HEADER"] = "x-real-ip"
    extension = QuartRealIP(app, trusted_proxies=["10.0.0.0/8"])  # keyword options win over config keys
    middleware = app.extensions["realip"]
    assert middleware.resolver.header == ("x-real-ip",) and middleware.resolver.trusted_proxies == ("10.0.0.0/8",)
    assert extension.options == {"trusted_proxies": ["10.0.0.0/8"]}
    with pytest.raises(RuntimeError, match="already initialised"):
        extension.init_app(app)
    with pytest.raises(TypeError, match="unknown option"):
        QuartRealIP(trusted_proxy=["loopback"])  # type: ignore[call-arg]


# -- Falcon ------------------------------------------------------------------------------------------------------


class FalconWhoAmI:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        result = req.env.get(realip_wsgi.RESULT_KEY)
        resp.media = {"remote_addr": req.remote_addr, "scheme": req.scheme, "result": result_json(result)}
        resp.media["url_root"] = req.prefix + "/"


class FalconAsgiWhoAmI:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        result = req.scope.get("state", {}).get("realip")
        resp.media = {"remote_addr": req.remote_addr, "scheme": req.scheme, "result": result_json(result)}
        resp.media["url_root"] = req.prefix + "/"


def falcon_wsgi(**options: Any) -> Any:
    app = falcon.App()
    app.add_sink(FalconWhoAmI().on_get, prefix="/")  # every path: under a forwarded prefix too
    return realip_wsgi.RealIPMiddleware(app, **options)


def falcon_asgi(**options: Any) -> Any:
    app = falcon.asgi.App()
    # Every path: Falcon's ASGI app routes on the whole path, root_path included (as under uvicorn --root-path),
    # so behind a forwarded prefix its routes carry the prefix.
    app.add_sink(FalconAsgiWhoAmI().on_get, prefix="/")
    return realip_asgi.RealIPMiddleware(app, **options)  # falcon.testing sends the client and headers as iterators


def test_falcon_asgi_iterator_client() -> None:
    """falcon.testing's client is an iterator (the spec says "iterable"): read as the address, not its repr."""
    app = falcon.asgi.App()
    app.add_route("/", FalconAsgiWhoAmI())
    wrapped = realip_asgi.RealIPMiddleware(app, trusted_proxies=["loopback"])
    got = falcon.testing.simulate_get(wrapped, "/", headers=dict(XFF), remote_addr="127.0.0.1").json
    assert got["remote_addr"] == "198.51.100.7"


def test_falcon_asgi_iterator_headers() -> None:
    """Iterator headers with a repeated line: realip reads both lines, and the app still gets every header."""
    app = falcon.asgi.App()
    app.add_route("/", FalconAsgiWhoAmI())

    async def client_as_pair(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["client"] = tuple(scope["client"])
            scope["headers"] = iter([tuple(pair) for pair in scope["headers"]])  # only the outer iterable stays
        await realip_asgi.RealIPMiddleware(app, trusted_proxies=["loopback", "cgnat"])(scope, receive, send)

    headers = [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "100.64.3.4")]
    got = falcon.testing.simulate_get(client_as_pair, "/", headers=headers, remote_addr="127.0.0.1").json
    assert got["remote_addr"] == "198.51.100.7"
    assert got["result"]["proxies"] == ["127.0.0.1", "100.64.3.4"]


@pytest.mark.parametrize("make_app", [falcon_wsgi, falcon_asgi], ids=["wsgi", "asgi"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_falcon_scenario(scenario: Scenario, make_app: Any) -> None:
    result = falcon.testing.simulate_get(
        make_app(**scenario.options), "/", headers=list(scenario.headers), remote_addr=scenario.peer
    )
    got = result.json
    # falcon.testing gives the peer no port under WSGI; under ASGI it picks one we cannot choose.
    check(scenario, got["remote_addr"], got["result"], got["result"]["peer_port"])
    assert got["scheme"] == (scenario.scheme or "http")
    assert_context(got["result"], got["url_root"], scenario)  # req.prefix: scheme, host and the app's root


def test_falcon_access_route_is_still_the_forgeable_list() -> None:
    """What the docs warn about: access_route is the header as sent; remote_addr is realip's answer."""

    class Route:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.media = {"route": req.access_route, "remote_addr": req.remote_addr}

    app = falcon.App()
    app.add_route("/", Route())
    wrapped = realip_wsgi.RealIPMiddleware(app, trusted_proxies=["10.0.0.0/8"])
    got = falcon.testing.simulate_get(wrapped, "/", headers=dict(XFF), remote_addr="203.0.113.50").json
    assert got == {"route": ["198.51.100.7", "203.0.113.50"], "remote_addr": "203.0.113.50"}


# -- Channels ----------------------------------------------------------------------------------------------------


class WhoAmIConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        await self.accept()
        result = self.scope.get("state", {}).get("realip")
        await self.send_json(
            {"client": list(self.scope["client"]), "scheme": self.scope.get("scheme"), "result": result_json(result)}
        )


def channels_app(**options: Any) -> Any:
    router = ProtocolTypeRouter({"websocket": URLRouter([django_path("ws/", WhoAmIConsumer.as_asgi())])})
    return realip_asgi.RealIPMiddleware(router, **options)


@pytest.fixture(scope="module", autouse=False)
def django_settings() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], USE_TZ=True, SECRET_KEY="realip-tests")
        import django

        django.setup()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_channels_websocket_scenario(django_settings: None, scenario: Scenario) -> None:
    async def go() -> Any:
        communicator = WebsocketCommunicator(
            channels_app(**scenario.options), "/ws/", headers=list(_raw(scenario.headers))
        )
        communicator.scope["client"] = (scenario.peer, PEER_PORT)  # the server's socket peer
        communicator.scope["scheme"] = "ws"
        connected, _ = await communicator.connect()
        assert connected
        answer = await communicator.receive_json_from()
        await communicator.disconnect()
        return answer

    got = asyncio.run(go())
    check(scenario, got["client"][0], got["result"])
    assert got["scheme"] == {"https": "wss", "http": "ws", None: "ws"}[scenario.scheme]
    assert_context(got["result"], None, scenario._replace(url_root=None))  # a consumer builds no URL: the Result's


def _raw(headers: Any) -> Any:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
