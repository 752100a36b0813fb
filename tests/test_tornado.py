"""realip.tornado: the shared scenarios through Tornado's request objects (both forms: the server's delegate and the
handler mixin), then through real Tornado servers on loopback with ``tornado.testing`` (RealIPHTTPServer, and the
mixin under a plain HTTPServer), asserting the answer and Tornado's access-log line, plus websockets, failures and
configuration.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any
from urllib.parse import quote

import pytest
from tornado import httputil, testing, web, websocket
from tornado.httpclient import HTTPRequest
from tornado.httpserver import HTTPServer

from realip import ConfigError, Reason, Resolver, Result, diagnostics
from realip import logging as realip_logging
from realip.tornado import RealIPHandlerMixin, RealIPHTTPServer, configure, result
from tests.frameworks import PROTO_OPTIONS, STRIP_FORGED, STRIP_OPTIONS, XFF, expected_port, result_json
from tests.scenarios import LOOPBACK_SCENARIOS, SCENARIOS, Scenario, assert_context

PEER_PORT = 50123


def answer(handler: web.RequestHandler) -> dict[str, Any]:
    """What a handler sees: the client, and the request's host, URL and headers as Tornado holds them."""
    request = handler.request
    found = result(request)
    prefix = quote((found and found.prefix) or "")
    return {
        "remote_ip": request.remote_ip,
        "protocol": request.protocol,
        "host": request.host,
        "host_name": request.host_name,
        "full_url": request.full_url(),
        # The link to the root route as the module docstring says to build it: Tornado's protocol, host and
        # reverse_url, with the forwarded prefix (the Result's alone) in front.
        "url_root": f"{request.protocol}://{request.host}{prefix}{handler.reverse_url('root')}",
        "headers": sorted([name.lower(), value] for name, value in request.headers.get_all()),
        "result": result_json(found),
        "logged_client": getattr(realip_logging.current_result(), "client_ip", None),  # what a log record gets
    }


class WhoAmI(RealIPHandlerMixin, web.RequestHandler):
    def get(self) -> None:
        self.write(answer(self))


class PlainWhoAmI(web.RequestHandler):
    """No mixin: under RealIPHTTPServer the request is already resolved."""

    def get(self) -> None:
        self.write(answer(self))


class AppExampleCom(web.RequestHandler):
    """A rule for the host app.example.com only (Application.add_handlers)."""

    def get(self) -> None:
        self.write({**answer(self), "vhost": "app.example.com"})


class Echo(RealIPHandlerMixin, websocket.WebSocketHandler):
    def open(self) -> None:
        self.write_message(json.dumps({"remote_ip": self.request.remote_ip, "protocol": self.request.protocol}))
        self.close()


def make_app(**settings: Any) -> web.Application:
    routes = [web.url(r"/", WhoAmI, name="root"), (r"/plain", PlainWhoAmI), (r"/ws", Echo), (r"/.*", WhoAmI)]
    return web.Application(routes, **settings)


class Context:
    """What Tornado's HTTP1 server keeps per connection (``_HTTPRequestContext``): the address and its family."""

    headers: httputil.HTTPHeaders

    def __init__(self, peer: str | None) -> None:
        self.address: Any = (peer, PEER_PORT) if peer else b""
        self.address_family = (socket.AF_INET6 if ":" in peer else socket.AF_INET) if peer else socket.AF_UNIX
        self.remote_ip = peer or "0.0.0.0"
        self.protocol = "http"


class Connection(httputil.HTTPConnection):
    def __init__(self, peer: str | None) -> None:
        self.context = Context(peer)

    def set_close_callback(self, callback: Any) -> None:
        pass


def headers_of(pairs: Any) -> httputil.HTTPHeaders:
    headers = httputil.HTTPHeaders({"Host": "app.test"})
    for name, value in pairs:
        headers.add(name, value)
    return headers


def through_mixin(app: web.Application, peer: str | None, pairs: Any) -> WhoAmI:
    start = httputil.RequestStartLine("GET", "/", "HTTP/1.1")
    request = httputil.HTTPServerRequest(start_line=start, headers=headers_of(pairs), connection=Connection(peer))
    request.remote_ip = peer or "0.0.0.0"
    return WhoAmI(app, request)


def through_server(server: RealIPHTTPServer, peer: str | None, pairs: Any) -> Context:
    """The server's delegate fed one request's headers, as Tornado's HTTP1 connection would; the headers as the
    server left them for Tornado are in ``context.headers``."""
    connection = Connection(peer)
    delegate = server.start_request(None, connection)
    headers = headers_of(pairs)
    delegate.headers_received(httputil.RequestStartLine("GET", "/", "HTTP/1.1"), headers)
    connection.context.headers = headers
    return connection.context


# -- the scenario table through Tornado's request objects -----------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_handler_mixin(scenario: Scenario) -> None:
    app = make_app()
    configure(app, **scenario.options)
    handler = through_mixin(app, scenario.peer, scenario.headers)
    assert handler.request.remote_ip == scenario.client_ip
    assert handler.request.protocol == (scenario.scheme or "http")
    found = handler.realip
    assert found is not None
    assert (found.client_ip, found.client_port, found.source) == (
        scenario.client_ip,
        expected_port(scenario, PEER_PORT),
        scenario.source,
    )
    assert (found.peer, found.peer_port) == (scenario.peer, PEER_PORT)
    got = answer(handler)
    assert_context(found, got["url_root"], scenario)
    assert got["full_url"] == got["url_root"].replace(quote(scenario.prefix or ""), "", 1)  # the path as received
    assert got["host"] == handler.request.headers["Host"] and got["host_name"] == (scenario.host or "app.test")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_server_delegate(scenario: Scenario) -> None:
    context: Any = through_server(RealIPHTTPServer(make_app(), **scenario.options), scenario.peer, scenario.headers)
    assert context.remote_ip == scenario.client_ip
    assert context.protocol == (scenario.scheme or "http")
    assert (context.realip.client_ip, context.realip.source) == (scenario.client_ip, scenario.source)
    # The Host header Tornado builds request.host from; the root URL as a handler would build it.
    url_root = f"{context.protocol}://{context.headers['Host']}{quote(context.realip.prefix or '')}/"
    assert_context(context.realip, url_root, scenario)


def test_strip_untrusted_both_forms() -> None:
    app = make_app()
    configure(app, **STRIP_OPTIONS)
    for headers in (
        through_mixin(app, "127.0.0.1", STRIP_FORGED).request.headers,
        through_server(RealIPHTTPServer(make_app(), **STRIP_OPTIONS), "127.0.0.1", STRIP_FORGED).headers,
    ):
        assert sorted(headers.get_all()) == [
            ("Host", "app.example.com"),
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-Host", "app.example.com"),
        ]
    direct = through_mixin(app, "203.0.113.50", STRIP_FORGED)
    assert list(direct.request.headers.get_all()) == [("Host", "app.test")]
    assert (direct.request.host, direct.request.remote_ip) == ("app.test", "203.0.113.50")


def test_listeners_see_every_request() -> None:
    seen: list[tuple[Result, Any]] = []
    unsubscribe = diagnostics.subscribe(lambda found, request: seen.append((found, request)))
    try:
        app = make_app()
        configure(app, trusted_proxies=["loopback"])
        handler = through_mixin(app, "127.0.0.1", XFF)
        context: Any = through_server(RealIPHTTPServer(make_app(), trusted_proxies=["loopback"]), "203.0.113.50", XFF)
    finally:
        unsubscribe()
    assert [found.reason for found, _ in seen] == [Reason.UNTRUSTED_ENTRY, Reason.UNTRUSTED_PEER]
    assert seen[0][1] is handler.request  # the mixin hands over the request
    assert seen[1][1] is context.headers  # the server resolves before Tornado builds it: its headers


def test_counters_look_at_tornado_requests_and_headers() -> None:
    from realip.metrics import Counters

    counters = Counters()
    app = make_app()
    configure(app, trusted_proxies=["10.0.0.0/8"])
    assert counters.sent_forwarding_header(through_mixin(app, "203.0.113.50", XFF).request) is True
    assert counters.sent_forwarding_header(headers_of(XFF)) is True
    assert counters.sent_forwarding_header(headers_of([])) is False
    # Header lines named like an ASGI scope's keys do not make the headers one.
    assert counters.sent_forwarding_header(headers_of([("Type", "http"), ("Headers", "x"), *XFF])) is True


def test_keep_alive_requests_do_not_leak_into_each_other() -> None:
    server = RealIPHTTPServer(make_app(), **PROTO_OPTIONS)
    connection = Connection("127.0.0.1")
    start = httputil.RequestStartLine("GET", "/", "HTTP/1.1")
    server.start_request(None, connection).headers_received(start, headers_of([*XFF, ("X-Forwarded-Proto", "https")]))
    assert (connection.context.remote_ip, connection.context.protocol) == ("198.51.100.7", "https")
    server.start_request(None, connection).headers_received(start, headers_of([]))
    assert (connection.context.remote_ip, connection.context.protocol) == ("127.0.0.1", "http")


def test_unix_socket_peer() -> None:
    app = make_app()
    configure(app, trusted_proxies=["loopback"])
    handler = through_mixin(app, None, XFF)
    assert handler.realip is not None and handler.realip.reason is Reason.UNTRUSTED_PEER
    assert handler.request.remote_ip == "0.0.0.0"  # Tornado's stand-in stays
    configure(app, trusted_proxies=["unix"])
    assert through_mixin(app, None, XFF).request.remote_ip == "198.51.100.7"


def test_xheaders_refused() -> None:
    with pytest.raises(ConfigError, match=r"xheaders=True.*drop xheaders"):
        RealIPHTTPServer(make_app(), xheaders=True)


def test_server_options_pass_through_to_tornado() -> None:
    server = RealIPHTTPServer(make_app(), trusted_proxies=["10.0.0.0/8"], no_keep_alive=True, protocol="https")
    assert server.conn_params.no_keep_alive and server.protocol == "https"
    assert server.realip.resolver.trusted_proxies == ("10.0.0.0/8",)


def test_configuration_errors_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="not both"):
        RealIPHTTPServer(make_app(), resolver=Resolver(), trusted_proxies=["loopback"])
    with pytest.raises(ConfigError, match=r"10\.0\.0\.1/8"):
        configure(make_app(), trusted_proxies=["10.0.0.1/8"])
    for name in list(os.environ):
        if name.startswith("REALIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "10.0.0.0/8")
    assert through_mixin(make_app(), "10.1.2.3", XFF).request.remote_ip == "198.51.100.7"  # unconfigured: REALIP_*


class BrokenResolver(Resolver):
    def resolve(self, *args: Any, **kwargs: Any) -> Result:
        raise RuntimeError("boom")


def test_unexpected_failure_passes_through(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    configure(app, resolver=BrokenResolver())
    with caplog.at_level(logging.DEBUG, logger="realip"):
        handler = through_mixin(app, "127.0.0.1", XFF)
        context: Any = through_server(RealIPHTTPServer(make_app(), resolver=BrokenResolver()), "127.0.0.1", XFF)
    assert handler.request.remote_ip == context.remote_ip == "127.0.0.1"
    assert any(r.levelno == logging.ERROR for r in caplog.records if r.name == "realip")


# -- real servers on loopback, through tornado.testing ---------------------------------------------------------------


class RealServers(testing.AsyncHTTPTestCase):
    """Both forms served on real loopback sockets; Tornado's access log captured from ``tornado.access``."""

    def get_app(self) -> web.Application:
        return make_app()

    def setUp(self) -> None:
        super().setUp()
        self.servers: list[HTTPServer] = []

    def tearDown(self) -> None:
        for server in self.servers:  # before the loop closes their sockets
            server.stop()
        super().tearDown()

    def serve(self, server: HTTPServer) -> str:
        sock, port = testing.bind_unused_port()
        server.add_sockets([sock])
        self.servers.append(server)
        return f"http://127.0.0.1:{port}"

    def fetch_json(self, url: str, pairs: Any) -> dict[str, Any]:
        response = self.io_loop.run_sync(lambda: self.http_client.fetch(url, headers=headers_of(pairs)))
        return dict(json.loads(response.body))

    def check(self, scenario: Scenario, url: str, path: str) -> None:
        with self.assertLogs("tornado.access", logging.INFO) as logged:
            got = self.fetch_json(url + path, scenario.headers)
        assert got["remote_ip"] == scenario.client_ip
        assert got["protocol"] == (scenario.scheme or "http")
        assert (got["result"]["client_ip"], got["result"]["source"]) == (scenario.client_ip, scenario.source)
        assert got["result"]["peer"] == "127.0.0.1"
        assert_context(got["result"], got["url_root"], scenario)
        assert got["full_url"] == f"{got['protocol']}://{got['host']}{path}"
        (line,) = [r.getMessage() for r in logged.records if path in r.getMessage()]
        assert line.startswith(f"200 GET {path} ({scenario.client_ip})"), line

    def test_scenarios_real_server(self) -> None:
        for scenario in LOOPBACK_SCENARIOS:
            with self.subTest(scenario.name):
                url = self.serve(RealIPHTTPServer(self._app, **scenario.options))
                self.check(scenario, url, "/plain")

    def test_scenarios_mixin_under_plain_server(self) -> None:
        for scenario in LOOPBACK_SCENARIOS:
            with self.subTest(scenario.name):
                app = make_app()
                configure(app, **scenario.options)
                url = self.serve(HTTPServer(app))
                self.check(scenario, url, "/mixin")

    def test_strip_untrusted_and_host_routing(self) -> None:
        """Under RealIPHTTPServer the Host is rewritten before Tornado routes: a host-specific rule matches it."""
        app = make_app()
        app.add_handlers(r"app\.example\.com", [(r"/plain", AppExampleCom)])
        url = self.serve(RealIPHTTPServer(app, **STRIP_OPTIONS))
        got = self.fetch_json(url + "/plain", STRIP_FORGED)
        assert got["vhost"] == "app.example.com"
        assert [pair for pair in got["headers"] if pair[0].startswith("x-")] == [
            ["x-forwarded-for", "198.51.100.7"],
            ["x-forwarded-host", "app.example.com"],
        ]
        assert (got["remote_ip"], got["full_url"]) == ("198.51.100.7", "http://app.example.com/plain")

    def test_logging_sees_the_request_in_both_forms(self) -> None:
        """realip.logging binds the Result in a context variable: RealIPHTTPServer sets it as the headers arrive,
        in the connection's context, which the handler's task inherits; the mixin sets it in the handler's own."""
        realip_logging.track()
        try:
            server = self.serve(RealIPHTTPServer(make_app(), trusted_proxies=["loopback"]))
            app = make_app()
            configure(app, trusted_proxies=["loopback"])
            mixin = self.serve(HTTPServer(app))
            for url, client in ((server + "/plain", "198.51.100.7"), (mixin + "/mixin", "198.51.100.8")):
                got = self.fetch_json(url, [("X-Forwarded-For", client)])
                assert got["logged_client"] == got["remote_ip"] == client
        finally:
            realip_logging.untrack()

    def test_forged_header_from_untrusted_peer(self) -> None:
        url = self.serve(RealIPHTTPServer(self._app, trusted_proxies=["10.0.0.0/8"]))
        got = self.fetch_json(url + "/plain", [("X-Forwarded-For", "192.0.2.66"), ("X-Real-IP", "192.0.2.67")])
        assert got["remote_ip"] == "127.0.0.1"

    def test_websocket(self) -> None:
        url = self.serve(RealIPHTTPServer(self._app, **PROTO_OPTIONS)).replace("http", "ws") + "/ws"
        headers = headers_of([("X-Forwarded-For", "192.0.2.66, 198.51.100.7"), ("X-Forwarded-Proto", "https")])

        async def talk() -> Any:
            connection = await websocket.websocket_connect(HTTPRequest(url, headers=headers))
            return await connection.read_message()

        got = json.loads(self.io_loop.run_sync(talk))
        assert got == {"remote_ip": "198.51.100.7", "protocol": "https"}


# -- gunicorn's tornado worker: a server realip does not build (gunicorn #2156: no way to turn on xheaders) ----------

#: The app gunicorn serves below: the mixin alone, configured at import.
gunicorn_app = make_app()
configure(gunicorn_app, trusted_proxies=["loopback"])


def test_mixin_under_gunicorns_tornado_worker() -> None:
    import sys

    from tests.servers import http_get, run_server

    argv = [sys.executable, "-m", "gunicorn", "-k", "tornado", "--bind", "fd://{fd}", "tests.test_tornado:gunicorn_app"]
    with run_server(argv) as server:
        reply = http_get(server, "/mixin", [("X-Forwarded-For", "192.0.2.66, 198.51.100.7")])
        forged = http_get(server, "/mixin", [("X-Real-IP", "192.0.2.67")])
    got = json.loads(reply.body)
    assert (got["remote_ip"], got["result"]["peer"]) == ("198.51.100.7", "127.0.0.1")
    assert json.loads(forged.body)["remote_ip"] == "127.0.0.1"
