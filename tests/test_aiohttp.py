"""realip.aiohttp: the shared scenarios through aiohttp's test tools and through a real aiohttp server on loopback,
asserting the answer and the access-log line (``%a``), plus websockets, failures and configuration.

``serve()`` at the bottom is the real server (``python -c 'from tests.test_aiohttp import serve; serve()'``): one
sub-application per option set in ``tests.frameworks.CONFIGS``, each with the middleware.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import websockets.sync.client
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from yarl import URL

from realip import ConfigError, Reason, Resolver, Result, diagnostics
from realip import logging as realip_logging
from realip.aiohttp import REALIP, realip_middleware, setup
from tests.frameworks import (
    CONFIGS,
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

PEER_PORT = 50123


async def whoami(request: web.Request) -> web.Response:
    result = request.get(REALIP)
    return web.json_response(
        {
            "remote": request.remote,
            "scheme": request.scheme,
            "host": request.host,
            "url": str(request.url),
            "url_root": root_url(request),
            "headers": [[name.lower(), value] for name, value in request.headers.items()],
            "result": result_json(result),
        },
        dumps=json.dumps,
    )


def root_url(request: web.Request) -> str:
    """The link to the app's ``root`` route as the module docstring says to build it: aiohttp's own origin and
    route path, with the forwarded prefix (in the Result only) put in front."""
    result = request.get(REALIP)
    prefix = (result.prefix if result else None) or ""
    return str(request.url.origin().join(URL(prefix + str(request.app.router["root"].url_for()))))


def transport(peer: object, sockname: object = ("127.0.0.1", 8080)) -> mock.Mock:
    """A transport whose peer is ``peer`` (a tuple, or a str for a UNIX socket)."""
    fake = mock.Mock()
    fake.get_extra_info.side_effect = lambda name, default=None: {"peername": peer, "sockname": sockname}.get(
        name, default
    )
    return fake


def run(middleware: Any, request: web.Request) -> web.Request:
    """The request as the handler below the middleware received it."""
    seen: list[web.Request] = []

    async def handler(received: web.Request) -> web.StreamResponse:
        seen.append(received)
        return web.Response()

    asyncio.run(middleware(request, handler))
    (received,) = seen
    return received


def mocked(peer: object, headers: Any = (), app: web.Application | None = None) -> web.Request:
    return make_mocked_request("GET", "/", headers=list(headers), transport=transport(peer), app=app)


def root_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", whoami, name="root")
    return app


# -- the scenario table through aiohttp's request objects ----------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_mocked_request(scenario: Scenario) -> None:
    request = mocked((scenario.peer, PEER_PORT), [("Host", "app.test"), *scenario.headers], root_app())
    received = run(realip_middleware(**scenario.options), request)
    assert received is request  # changed in place: aiohttp's access log reads this object
    assert received.remote == scenario.client_ip
    assert received.scheme == (scenario.scheme or "http")
    result = received[REALIP]
    assert (result.client_ip, result.client_port, result.source) == (
        scenario.client_ip,
        expected_port(scenario, PEER_PORT),
        scenario.source,
    )
    assert (result.peer, result.peer_port) == (scenario.peer, PEER_PORT)
    assert_context(result, root_url(received), scenario)
    # request.url is the client's origin and the path the app received (the prefix is the Result's alone)
    assert str(received.url) == str(received.url.origin()) + "/" and received.headers["Host"] == received.host


def test_host_and_url_follow_the_context_even_if_computed_before() -> None:
    headers = [("Host", "internal:8000"), *XFF, ("X-Forwarded-Host", "app.example.com"), ("X-Forwarded-Proto", "https")]
    request = mocked(("127.0.0.1", PEER_PORT), headers)
    assert (request.host, str(request.url)) == ("internal:8000", "http://internal:8000/")  # read before realip ran
    received = run(realip_middleware(**CONTEXT), request)
    assert (received.host, str(received.url), received.headers["Host"]) == (
        "app.example.com",
        "https://app.example.com/",
        "app.example.com",
    )
    assert [value for name, value in received.raw_headers if name.lower() == b"host"] == [b"app.example.com"]


def test_strip_untrusted_removes_the_forwarding_headers_realip_did_not_believe() -> None:
    forged = [
        ("Host", "app.test"),
        ("X-Forwarded-For", "192.0.2.66, 198.51.100.7"),
        ("X-Real-IP", "192.0.2.67"),
        ("X-Forwarded-Host", "evil.example"),
        ("Cookie", "a=b"),
    ]
    # A direct client: every forwarding header goes, the others stay, in raw_headers too.
    direct = run(realip_middleware(**CONTEXT, strip_untrusted=True), mocked(("203.0.113.50", PEER_PORT), forged))
    assert list(direct.headers.items()) == [("Host", "app.test"), ("Cookie", "a=b")]
    assert [name for name, _ in direct.raw_headers] == [b"Host", b"Cookie"]
    assert direct.host == "app.test"
    # Through a trusted proxy: the chain and host as the walk believed them come back, nothing else.
    proxied = run(realip_middleware(**CONTEXT, strip_untrusted=True), mocked(("127.0.0.1", PEER_PORT), forged))
    assert proxied.headers.getall("X-Forwarded-For") == ["198.51.100.7"]
    assert proxied.headers.getall("X-Forwarded-Host") == ["evil.example"]
    assert "X-Real-IP" not in proxied.headers and proxied.headers["Cookie"] == "a=b"
    assert proxied.host == proxied.headers["Host"] == "evil.example"  # allowed_hosts unset: any host is taken


def test_non_utf8_header_survives_stripping() -> None:
    request = mocked(("127.0.0.1", PEER_PORT))
    raw = ((b"x-forwarded-for", b"198.51.100.7"), (b"x-note", b"caf\xe9"), (b"x-real-ip", b"192.0.2.66"))
    request._message = request._message._replace(raw_headers=raw)
    received = run(realip_middleware(strip_untrusted=True), request)
    assert received.raw_headers == ((b"x-note", b"caf\xe9"), (b"x-forwarded-for", b"198.51.100.7"))
    assert received.remote == "198.51.100.7"


def test_listeners_see_every_request() -> None:
    seen: list[tuple[Result, object]] = []
    unsubscribe = diagnostics.subscribe(lambda result, request: seen.append((result, request)))
    try:
        received = run(realip_middleware(), mocked(("127.0.0.1", PEER_PORT), XFF))
        direct = run(realip_middleware(), mocked(("203.0.113.50", PEER_PORT), XFF))
    finally:
        unsubscribe()
    assert [result.reason for result, _ in seen] == [Reason.UNTRUSTED_ENTRY, Reason.UNTRUSTED_PEER]
    assert seen[0][1] is received and seen[1][1] is direct  # the request itself, as the handler got it


def test_logging_binds_the_result_for_the_handler() -> None:
    seen: list[object] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(realip_logging.current_result())
        return web.Response()

    realip_logging.track()
    try:
        request = mocked(("127.0.0.1", PEER_PORT), XFF)
        asyncio.run(realip_middleware()(request, handler))
    finally:
        realip_logging.untrack()
    assert seen == [request[REALIP]]


def test_counters_look_at_an_aiohttp_request() -> None:
    from realip.metrics import Counters

    counters = Counters()
    assert counters.sent_forwarding_header(mocked(("203.0.113.50", PEER_PORT), XFF)) is True
    assert counters.sent_forwarding_header(mocked(("203.0.113.50", PEER_PORT), [("Host", "app.test")])) is False


def test_url_follows_the_scheme_even_if_computed_before() -> None:
    request = mocked(("127.0.0.1", PEER_PORT), [*XFF, ("X-Forwarded-Proto", "https")])
    assert request.url.scheme == "http"  # something read it before the middleware ran
    received = run(realip_middleware(**PROTO_OPTIONS), request)
    assert (received.scheme, received.url.scheme, received.remote) == ("https", "https", "198.51.100.7")


def test_unix_socket_peer() -> None:
    untrusted = run(realip_middleware(trusted_proxies=["loopback"]), mocked("", XFF))
    assert untrusted[REALIP].reason is Reason.UNTRUSTED_PEER and untrusted.remote == ""
    trusted = run(realip_middleware(trusted_proxies=["unix"]), mocked("/run/app.sock", XFF))
    assert (trusted.remote, trusted[REALIP].peer) == ("198.51.100.7", None)


def test_without_the_cache_it_clones() -> None:
    """The public fallback: an aiohttp without the cached properties gets a clone with remote, scheme, host and
    headers."""
    headers = [*XFF, ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "app.example.com"), ("X-Real-IP", "x")]
    request = mocked(("127.0.0.1", PEER_PORT), headers)
    with mock.patch("realip.aiohttp._CACHE", "_not_there"):
        received = run(realip_middleware(**CONTEXT, strip_untrusted=True), request)
    assert received is not request
    assert (received.remote, received.scheme, received[REALIP].client_ip) == ("198.51.100.7", "https", "198.51.100.7")
    assert (received.host, str(received.url)) == ("app.example.com", "https://app.example.com/")
    assert "X-Real-IP" not in received.headers


def test_closed_transport_passes_through() -> None:
    request = make_mocked_request("GET", "/", headers=list(XFF), transport=transport(("127.0.0.1", 1)))
    with mock.patch.object(type(request), "transport", None):
        received = run(realip_middleware(), request)
    assert REALIP not in received


class BrokenResolver(Resolver):
    def resolve(self, *args: Any, **kwargs: Any) -> Result:
        raise RuntimeError("boom")


def test_unexpected_failure_passes_through_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    middleware = realip_middleware(resolver=BrokenResolver())
    with caplog.at_level(logging.DEBUG, logger="realip"):
        for _ in range(3):
            received = run(middleware, mocked(("127.0.0.1", PEER_PORT), XFF))
            assert received.remote == "127.0.0.1"
    levels = [r.levelno for r in caplog.records if r.name == "realip"]
    assert levels == [logging.ERROR, logging.DEBUG, logging.DEBUG]


def test_handler_errors_are_not_swallowed() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPConflict()

    with pytest.raises(web.HTTPConflict):
        asyncio.run(realip_middleware()(mocked(("127.0.0.1", 1), XFF), handler))


def test_non_utf8_header_never_raises() -> None:
    request = mocked(("127.0.0.1", PEER_PORT))
    request._message = request._message._replace(raw_headers=((b"x-forwarded-for", b"\xff\xfe, 198.51.100.7"),))
    assert run(realip_middleware(), request).remote == "198.51.100.7"


# -- configuration --------------------------------------------------------------------------------------------------


def test_resolver_and_options_together_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not both"):
        realip_middleware(resolver=Resolver(), trusted_proxies=["loopback"])


def test_bad_option_fails_at_startup_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"trusted_proxies\[0\]='10\.0\.0\.1/8'"):
        realip_middleware(trusted_proxies=["10.0.0.1/8"])


def test_environment_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REALIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "127.0.0.0/8")
    monkeypatch.setenv("REALIP_HEADER", "x-real-ip")
    received = run(realip_middleware(), mocked(("127.0.0.1", 1), [("X-Real-IP", "198.51.100.9"), *XFF]))
    assert received.remote == "198.51.100.9"
    monkeypatch.setenv("REALIP_MAX_HOPS", "0")
    with pytest.raises(ConfigError, match="REALIP_MAX_HOPS"):
        realip_middleware()


def test_setup_puts_the_middleware_first() -> None:
    async def other(request: web.Request, handler: Any) -> web.StreamResponse:
        return await handler(request)

    app = web.Application(middlewares=[web.middleware(other)])
    setup(app, trusted_proxies=["loopback"])
    assert app.middlewares[0].resolver.trusted_proxies == ("127.0.0.0/8", "::1/128")  # type: ignore[attr-defined]


# -- a real aiohttp server on loopback -------------------------------------------------------------------------------

ACCESS_FORMAT = 'access %a "%r" %s'


def probe_app() -> web.Application:
    app = web.Application()
    for index, options in enumerate(probe_configs()):
        sub = web.Application(middlewares=[realip_middleware(**options)])
        sub.router.add_get("/", whoami, name="root")  # url_for(): "/<index>/", the sub-application's root
        sub.router.add_get("/ws/{tail:.*}", websocket)
        sub.router.add_get("/{tail:.*}", whoami)
        app.add_subapp(f"/{index}/", sub)
    app.router.add_get("/", whoami, name="root")
    return app


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str(json.dumps({"remote": request.remote, "scheme": request.scheme}))
    await ws.close()
    return ws


def serve() -> None:
    """The probe server: ``serve(fd)`` on the inherited listening socket, access log on stdout."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    listener = socket.socket(fileno=int(sys.argv[1]))
    web.run_app(probe_app(), sock=listener, access_log_format=ACCESS_FORMAT, print=None)


@pytest.fixture(scope="module")
def aiohttp_server() -> Iterator[Server]:
    argv = [sys.executable, "-c", "import sys; from tests.test_aiohttp import serve; serve()", "{fd}"]
    with run_server(argv, env=configs_env()) as server:
        yield server


def access_line(server: Server, tag: str) -> str:
    log = server.wait_for_log(tag)
    (line,) = [line for line in log.splitlines() if tag in line and line.startswith("access ")]
    return line


@pytest.mark.parametrize("scenario", LOOPBACK_SCENARIOS, ids=lambda s: s.name)
def test_scenario_real_server(aiohttp_server: Server, scenario: Scenario) -> None:
    path, tag = scenario_path(scenario)
    reply = http_get(aiohttp_server, path, scenario.headers)
    assert reply.status == 200
    answer = json.loads(reply.body)
    assert answer["remote"] == scenario.client_ip
    result = answer["result"]
    assert (result["client_ip"], result["client_port"], result["source"]) == (
        scenario.client_ip,
        expected_port(scenario, reply.local_port),
        scenario.source,
    )
    assert (result["peer"], result["peer_port"]) == ("127.0.0.1", reply.local_port)
    assert answer["scheme"] == (scenario.scheme or "http")
    # The sub-application's root, behind the forwarded prefix: the app's root is that minus "<index>/".
    index = path.split("/")[1]
    assert answer["url_root"].endswith(f"/{index}/")
    assert_context(result, answer["url_root"].removesuffix(f"{index}/"), scenario)
    # aiohttp's access log reads the request the middleware changed: it shows the client, not the peer.
    assert access_line(aiohttp_server, tag) == f'access {scenario.client_ip} "GET {path} HTTP/1.1" 200'


@pytest.mark.parametrize(("proto", "scheme"), [("https", "https"), (None, "http")])
def test_websocket_real_server(aiohttp_server: Server, proto: str | None, scheme: str) -> None:
    headers = [("X-Forwarded-For", "192.0.2.66, 198.51.100.7")]
    if proto:
        headers.append(("X-Forwarded-Proto", proto))
    path = f"/{config_index(PROTO_OPTIONS)}/ws/{scheme}"
    url = aiohttp_server.url.replace("http", "ws") + path
    with websockets.sync.client.connect(url, additional_headers=headers, open_timeout=10) as ws:
        answer = json.loads(ws.recv(timeout=10))
    assert answer == {"remote": "198.51.100.7", "scheme": scheme}
    aiohttp_server.wait_for_log(f'access 198.51.100.7 "GET {path} HTTP/1.1" 101')


def test_forged_header_from_untrusted_peer_real_server(aiohttp_server: Server) -> None:
    """A direct client forging X-Forwarded-For gets itself, in the answer and in the log."""
    untrusted = next(s for s in LOOPBACK_SCENARIOS if s.name == "untrusted peer: headers ignored")
    path, tag = scenario_path(untrusted)
    reply = http_get(aiohttp_server, path, [("X-Forwarded-For", "192.0.2.66"), ("X-Real-IP", "192.0.2.67")])
    assert json.loads(reply.body)["remote"] == "127.0.0.1"
    assert access_line(aiohttp_server, tag).startswith("access 127.0.0.1 ")


def test_strip_untrusted_real_server(aiohttp_server: Server) -> None:
    path = f"/{config_index(STRIP_OPTIONS)}/strip"
    reply = http_get(aiohttp_server, path, STRIP_FORGED)
    answer = json.loads(reply.body)
    assert sorted(answer["headers"]) == [
        ["accept-encoding", "identity"],
        ["host", "app.example.com"],
        ["x-forwarded-for", "198.51.100.7"],
        ["x-forwarded-host", "app.example.com"],
    ]
    assert (answer["remote"], answer["host"], answer["url"]) == (
        "198.51.100.7",
        "app.example.com",
        f"http://app.example.com{path}",
    )


def test_configs_cover_every_loopback_scenario() -> None:
    assert {config_index(s.options) for s in LOOPBACK_SCENARIOS} <= set(range(len(CONFIGS)))
