"""realip.wsgi: the scenario table through the middleware and through a real gunicorn; look-alike headers.

``served_app`` at the bottom is the WSGI app the gunicorn fixture serves (``tests.test_wsgi:served_app``); the
request helpers (``send``, ``access_log_host``) are shared with tests/test_flask.py.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import application_uri

import pytest
from werkzeug.serving import make_server as werkzeug_make_server
from werkzeug.test import EnvironBuilder

from realip import ConfigError, Reason, Resolver
from realip.wsgi import ORIG_KEY, RESULT_KEY, STRICT_KEY, RealIPMiddleware, StrictWSGIRequestHandler, environ_key
from tests.scenarios import LOOPBACK_SCENARIOS, SCENARIOS, TKE, Scenario, assert_context
from tests.servers import Server, python, run_server

Environ = dict[str, Any]
Pairs = Sequence[tuple[str | bytes, str | bytes]]

# -- helpers shared with test_flask.py ----------------------------------------------------------------------------


def send(address: str | tuple[str, int], path: str, headers: Pairs = ()) -> tuple[int, Any]:
    """GET ``path`` over a raw socket (TCP ``(host, port)`` or a UNIX socket path), header lines exactly as given.

    Raw bytes so repeated lines stay separate lines and names and values go unaltered (latin-1 for ``str``).
    Returns the status and the JSON body (or the raw body when it is not JSON).
    """
    lines = [f"GET {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in headers:
        lines.append(_latin1(name) + b": " + _latin1(value))
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as connection:
        connection.settimeout(10)
        connection.connect(address)
        connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"\r\ntransfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def _dechunk(data: bytes) -> bytes:
    """The payload of a chunked body (no trailers, no extensions: what gunicorn sends)."""
    payload = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return payload
        payload, data = payload + data[:size], data[size + 2 :]


def _latin1(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("latin-1")


def assert_resolved(result: dict[str, Any], scenario: Scenario, peer_port: int | None) -> None:
    """An app's JSON Result names the scenario's client; ``peer_port`` is the port expected when that is the peer."""
    port = peer_port if scenario.source == "peer" else scenario.client_port
    assert (result["client_ip"], result["client_port"], result["source"]) == (scenario.client_ip, port, scenario.source)


def tagged(path: str) -> tuple[str, str]:
    """``path`` with a unique query tag, and the tag, to find this request's line in an access log."""
    tag = uuid.uuid4().hex
    return f"{path}?t={tag}", tag


def access_log_host(server: Server, tag: str) -> str:
    """The host field (``%(h)s``, the first) of the access-log line of the request tagged ``tag``."""
    log = server.wait_for_log(tag)
    (line,) = [line for line in log.splitlines() if tag in line]
    return line.split(" ", 1)[0]


def echo(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app answering with what realip left in the environ."""
    result = environ.get(RESULT_KEY)
    body = json.dumps(
        {
            "REMOTE_ADDR": environ.get("REMOTE_ADDR"),
            "REMOTE_PORT": environ.get("REMOTE_PORT"),
            "url_scheme": environ.get("wsgi.url_scheme"),
            "url_root": application_uri(environ),  # what WSGI apps build their links from
            "xff": environ.get("HTTP_X_FORWARDED_FOR"),
            "orig": environ.get(ORIG_KEY),
            "result": None if result is None else result._asdict(),
        },
        default=repr,
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


# -- the middleware called directly -------------------------------------------------------------------------------


def make_environ(peer: str | None, headers: Sequence[tuple[str, str]] = (), **extra: Any) -> Environ:
    """A WSGI environ as a server would build it (werkzeug joins repeated header lines with commas)."""
    base = {"REMOTE_ADDR": peer, "REMOTE_PORT": "40000", **extra}
    environ: Environ = EnvironBuilder(path="/", headers=list(headers), environ_base=base).get_environ()
    if peer is None:
        del environ["REMOTE_ADDR"]
    return environ


def run(middleware: RealIPMiddleware, environ: Environ) -> Environ:
    """Call the middleware as a server would, check the app answered, and return the environ (changed in place)."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        statuses.append(status)
        return lambda data: None

    body = b"".join(middleware(environ, start_response))
    assert statuses == ["200 OK"] and json.loads(body)["REMOTE_ADDR"] == environ.get("REMOTE_ADDR")
    return environ


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_through_middleware(scenario: Scenario) -> None:
    environ = make_environ(scenario.peer, scenario.headers)
    seen = run(RealIPMiddleware(echo, resolver=Resolver(**scenario.options)), environ)  # type: ignore[arg-type]
    result = seen[RESULT_KEY]
    port = 40000 if scenario.source == "peer" else scenario.client_port  # the peer's own port, from REMOTE_PORT
    assert (result.client_ip, result.client_port, result.source) == (scenario.client_ip, port, scenario.source)
    assert result.scheme == scenario.scheme
    assert seen["REMOTE_ADDR"] == scenario.client_ip
    if scenario.source == "peer":
        assert seen["REMOTE_PORT"] == "40000"
    else:
        assert seen.get("REMOTE_PORT") == (None if scenario.client_port is None else str(scenario.client_port))
    assert seen["wsgi.url_scheme"] == (scenario.scheme or "http")
    orig = {"REMOTE_ADDR": scenario.peer, "REMOTE_PORT": "40000", "wsgi.url_scheme": "http"}
    if "host_header" in scenario.options:  # the context's originals are kept too
        orig.update({"HTTP_HOST": "localhost", "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SCRIPT_NAME": ""})
    assert seen[ORIG_KEY] == orig
    assert_context(result, application_uri(seen).rstrip("/") + "/", scenario)  # url_root ends in /


def test_orig_and_result_keys() -> None:
    environ = make_environ(
        "10.1.2.3",
        [("X-Forwarded-For", "192.0.2.66, [2001:db8::7]:4711, 100.64.3.4"), ("X-Forwarded-Proto", "https")],
    )
    seen = run(RealIPMiddleware(echo, trusted_proxies=TKE, proto_header="x-forwarded-proto"), environ)
    assert seen[ORIG_KEY] == {"REMOTE_ADDR": "10.1.2.3", "REMOTE_PORT": "40000", "wsgi.url_scheme": "http"}
    assert seen[RESULT_KEY] == (
        "2001:db8::7", 4711, "x-forwarded-for", "10.1.2.3", ("10.1.2.3", "100.64.3.4"), "https",
        Reason.UNTRUSTED_ENTRY, 40000, 2, None, None, None,
    )  # fmt: skip
    assert (seen["REMOTE_ADDR"], seen["REMOTE_PORT"], seen["wsgi.url_scheme"]) == ("2001:db8::7", "4711", "https")


def test_port_removed_when_the_entry_has_none() -> None:
    seen = run(RealIPMiddleware(echo), make_environ("127.0.0.1", [("X-Forwarded-For", "198.51.100.7")]))
    assert seen["REMOTE_ADDR"] == "198.51.100.7"
    assert "REMOTE_PORT" not in seen  # the proxy's port 40000 would be wrong for the client
    assert seen[RESULT_KEY].peer_port == 40000


def test_peer_address_normalized_and_port_kept() -> None:
    seen = run(RealIPMiddleware(echo, trusted_proxies=()), make_environ("::ffff:203.0.113.5"))
    assert (seen["REMOTE_ADDR"], seen["REMOTE_PORT"]) == ("203.0.113.5", "40000")


def test_scheme_untouched_without_proto_header() -> None:
    environ = make_environ("127.0.0.1", [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "https")])
    assert run(RealIPMiddleware(echo), environ)["wsgi.url_scheme"] == "http"


def test_scheme_not_taken_from_untrusted_peer() -> None:
    environ = make_environ("203.0.113.50", [("X-Forwarded-Proto", "https")])
    seen = run(RealIPMiddleware(echo, trusted_proxies=TKE, proto_header="x-forwarded-proto"), environ)
    assert seen["wsgi.url_scheme"] == "http"


@pytest.mark.parametrize("remote_addr", [None, ""], ids=["absent", "empty"])
def test_unix_socket_peer(remote_addr: str | None) -> None:
    headers = [("X-Forwarded-For", "198.51.100.7")]
    untrusted = run(RealIPMiddleware(echo), make_environ(remote_addr, headers))
    assert untrusted[RESULT_KEY].reason is Reason.UNTRUSTED_PEER
    assert untrusted.get("REMOTE_ADDR") == remote_addr  # no address to write
    trusted = run(RealIPMiddleware(echo, trusted_proxies=["unix"]), make_environ(remote_addr, headers))
    assert (trusted["REMOTE_ADDR"], trusted[RESULT_KEY].peer) == ("198.51.100.7", None)


def test_only_the_configured_headers_are_read() -> None:
    """No dict of every header: the middleware looks up its precomputed keys and never iterates the environ."""

    class Watched(dict[str, Any]):
        looked_up: ClassVar[set[str]] = set()

        def __contains__(self, key: object) -> bool:
            self.looked_up.add(str(key))
            return super().__contains__(key)

        def __iter__(self) -> Iterator[str]:
            raise AssertionError("the environ was iterated")

        def items(self) -> Any:
            raise AssertionError("the environ was iterated")

    middleware = RealIPMiddleware(echo, header=("x-original-forwarded-for", "x-forwarded-for"))
    assert [key for _, key in middleware._keys] == ["HTTP_X_ORIGINAL_FORWARDED_FOR", "HTTP_X_FORWARDED_FOR"]
    environ = Watched(make_environ("127.0.0.1", [("X-Forwarded-For", "198.51.100.7"), ("X-Real-IP", "192.0.2.66")]))
    assert run(middleware, environ)["REMOTE_ADDR"] == "198.51.100.7"
    assert {key for key in Watched.looked_up if key.startswith("HTTP_")} == {
        "HTTP_X_ORIGINAL_FORWARDED_FOR",
        "HTTP_X_FORWARDED_FOR",
    }


def test_environ_key() -> None:
    assert environ_key("x-forwarded-for") == "HTTP_X_FORWARDED_FOR"
    assert environ_key("content-type") == "CONTENT_TYPE"


def test_already_resolved_request_passes_through() -> None:
    """Two layers (RealIP on a Flask app served through an outer RealIPMiddleware) must not resolve twice."""
    outer = RealIPMiddleware(RealIPMiddleware(echo, trusted_proxies=["192.0.2.0/24"]))
    environ = make_environ("127.0.0.1", [("X-Forwarded-For", "192.0.2.66, 198.51.100.7")])
    seen = run(outer, environ)
    assert (seen["REMOTE_ADDR"], seen[ORIG_KEY]["REMOTE_ADDR"]) == ("198.51.100.7", "127.0.0.1")


def test_env_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("REALIP_HEADER", "x-real-ip")
    middleware = RealIPMiddleware(echo)
    assert (middleware.resolver.trusted_proxies, middleware.resolver.header) == (("10.0.0.0/8",), ("x-real-ip",))
    seen = run(middleware, make_environ("10.1.2.3", [("X-Forwarded-For", "192.0.2.66"), ("X-Real-IP", "198.51.100.7")]))
    assert seen["REMOTE_ADDR"] == "198.51.100.7"
    monkeypatch.setenv("REALIP_MAX_HOPS", "0")
    with pytest.raises(ConfigError, match=r"^REALIP_MAX_HOPS='0': max_hops=0 must be a whole number from 1 to 1000"):
        RealIPMiddleware(echo)


def test_options_are_exclusive_with_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "not an address")  # explicit options never read the environment
    assert RealIPMiddleware(echo, trusted_proxies=["cgnat"]).resolver.trusted_proxies == ("100.64.0.0/10",)
    with pytest.raises(TypeError, match=r"either resolver= or resolver options \(max_hops\)"):
        RealIPMiddleware(echo, resolver=Resolver(), max_hops=3)
    with pytest.raises(TypeError, match=r"is not a realip\.Resolver"):
        RealIPMiddleware(echo, resolver="loopback")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^trusted_proxies\[0\]='10.0.0.1/33'"):
        RealIPMiddleware(echo, trusted_proxies=["10.0.0.1/33"])


BAD_HEADERS: dict[str, list[tuple[str, str]]] = {
    "latin-1 junk": [("X-Forwarded-For", "\xff\xfe\x00<\u00e9>, 198.51.100.7\x85")],
    "100 KB header": [("X-Forwarded-For", "198.51.100.7, " * 7000 + "100.64.3.4")],
    "100 KB single token": [("X-Forwarded-For", "9" * 100_000)],
    "nothing but commas": [("X-Forwarded-For", "," * 50_000)],
}


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_bad_header_values_never_raise(headers: list[tuple[str, str]]) -> None:
    seen = run(RealIPMiddleware(echo, trusted_proxies=TKE), make_environ("10.1.2.3", headers))
    result = seen[RESULT_KEY]
    assert result.examined <= 20
    assert seen["REMOTE_ADDR"] == result.client_ip


def test_non_text_environ_values_fall_back_to_the_peer(caplog: pytest.LogCaptureFixture) -> None:
    """A broken server putting bytes or ints in the environ: logged once, the request goes on with the peer."""
    middleware = RealIPMiddleware(echo)
    with caplog.at_level(logging.DEBUG, logger="realip"):
        for value in (12345, object()):
            seen = run(middleware, make_environ("127.0.0.1", HTTP_X_FORWARDED_FOR=value))
            assert (seen["REMOTE_ADDR"], seen[RESULT_KEY].reason) == ("127.0.0.1", Reason.NO_HEADER)
    levels = [record.levelno for record in caplog.records if record.name == "realip"]
    assert levels == [logging.ERROR, logging.DEBUG]
    assert "could not resolve the client" in caplog.records[0].getMessage()


# -- header-name folding: X_Forwarded_For looks like X-Forwarded-For in the environ -------------------------------

GENUINE = ("X-Forwarded-For", "198.51.100.7")
LOOK_ALIKE = ("X_Forwarded_For", "192.0.2.66")


class _ThreadedServer:
    """A stdlib or werkzeug WSGI server on 127.0.0.1, port 0, serving in a thread; stopped by ``close``."""

    def __init__(self, kind: str, app: Callable[..., Any]) -> None:
        if kind == "werkzeug":
            self.server: Any = werkzeug_make_server("127.0.0.1", 0, app)
        else:
            handler: type[WSGIRequestHandler] = _QuietStrict if kind == "wsgiref-strict" else _Quiet
            self.server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=handler)
        self.address = ("127.0.0.1", self.server.server_port)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietStrict(StrictWSGIRequestHandler, _Quiet):
    pass


@pytest.fixture
def threaded() -> Iterator[Callable[[str, Callable[..., Any]], _ThreadedServer]]:
    servers: list[_ThreadedServer] = []

    def start(kind: str, app: Callable[..., Any]) -> _ThreadedServer:
        servers.append(_ThreadedServer(kind, app))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_wsgiref_folds_a_look_alike_and_only_a_trusted_peer_is_affected(
    threaded: Callable[[str, Callable[..., Any]], _ThreadedServer], caplog: pytest.LogCaptureFixture
) -> None:
    """Plain wsgiref joins X_Forwarded_For into HTTP_X_FORWARDED_FOR: what that lets a client do, and what not."""
    trusting = RealIPMiddleware(echo)  # the peer, 127.0.0.1, is trusted: it plays the proxy
    distrusting = RealIPMiddleware(echo, trusted_proxies=["10.0.0.0/8"])
    servers = {"trusting": threaded("wsgiref", trusting), "distrusting": threaded("wsgiref", distrusting)}
    with caplog.at_level(logging.WARNING, logger="realip"):
        # The look-alike after the proxy's line: folded to its right, read as the proxy's word (the limit).
        _, body = send(servers["trusting"].address, "/", [GENUINE, LOOK_ALIKE])
        assert body["xff"] == "198.51.100.7,192.0.2.66"
        assert body["REMOTE_ADDR"] == "192.0.2.66"
        # Before the proxy's line: left of the proxy's entry, ignored like any forged entry.
        _, body = send(servers["trusting"].address, "/", [LOOK_ALIKE, GENUINE])
        assert (body["xff"], body["REMOTE_ADDR"]) == ("192.0.2.66,198.51.100.7", "198.51.100.7")
        # An untrusted peer: no header is read, look-alike or not.
        for headers in ([LOOK_ALIKE], [GENUINE, LOOK_ALIKE]):
            _, body = send(servers["distrusting"].address, "/", headers)
            assert "192.0.2.66" in body["xff"]
            assert (body["REMOTE_ADDR"], body["result"]["reason"]) == ("127.0.0.1", "untrusted-peer")
        send(servers["trusting"].address, "/", [GENUINE])
    warnings = [r.getMessage() for r in caplog.records if r.name == "realip" and r.levelno == logging.WARNING]
    assert len(warnings) == 2  # once per middleware, not per request
    assert "StrictWSGIRequestHandler" in warnings[0] and "HTTP_X_FORWARDED_FOR" in warnings[0]


@pytest.mark.parametrize("kind", ["wsgiref-strict", "werkzeug"])
def test_servers_that_drop_look_alikes(
    kind: str, threaded: Callable[[str, Callable[..., Any]], _ThreadedServer], caplog: pytest.LogCaptureFixture
) -> None:
    """StrictWSGIRequestHandler (and werkzeug's dev server) drop X_Forwarded_For: the forgery has no effect."""
    server = threaded(kind, RealIPMiddleware(echo))
    with caplog.at_level(logging.WARNING, logger="realip"):
        _, body = send(server.address, "/", [GENUINE, LOOK_ALIKE, ("X-Real_IP", "192.0.2.67")])
        assert (body["xff"], body["REMOTE_ADDR"]) == ("198.51.100.7", "198.51.100.7")
        _, body = send(server.address, "/", [LOOK_ALIKE])
        assert (body["xff"], body["REMOTE_ADDR"], body["result"]["reason"]) == (None, "127.0.0.1", "no-header")
    assert not [r for r in caplog.records if r.name == "realip"]


def test_strict_handler_marks_the_environ(threaded: Callable[[str, Callable[..., Any]], _ThreadedServer]) -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(dict(environ))
        return echo(environ, start_response)

    send(threaded("wsgiref-strict", app).address, "/", [GENUINE, ("A_B", "x"), ("X-Other", "y")])
    assert seen[0][STRICT_KEY] is True
    assert "HTTP_A_B" not in seen[0] and seen[0]["HTTP_X_OTHER"] == "y"


# -- a real gunicorn ----------------------------------------------------------------------------------------------

GUNICORN_ENV = {"REALIP_TRUSTED_PROXIES": "loopback, unix", "REALIP_PROTO_HEADER": "x-forwarded-proto"}


#: For tests: one sync worker, access log on stdout, quick stop, and no control socket (gunicorn 27 otherwise opens
#: one at a fixed path, ~/.gunicorn/gunicorn.ctl, that concurrent test servers would share).
GUNICORN_OPTIONS = (
    "--workers", "1", "--worker-class", "sync", "--access-logfile", "-", "--graceful-timeout", "2",
    "--no-control-socket",
)  # fmt: skip


def gunicorn_argv(target: str, *extra: str, bind: str = "fd://{fd}") -> list[str]:
    """gunicorn serving ``target`` on the ``{fd}`` socket (gunicorn then ignores other binds).

    gunicorn's own X-Forwarded-Proto trust is off, as the module docstring of realip.wsgi advises: the scheme the
    app sees is realip's alone.
    """
    return python("-m", "gunicorn", "--bind", bind, "--forwarded-allow-ips=", *GUNICORN_OPTIONS, *extra, target)


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    unix_path = str(tmp_path_factory.mktemp("gunicorn") / "g.sock")
    # Bound by address, not fd: gunicorn serves only inherited fds when given one, and this also listens on UNIX.
    extra = ("--bind", f"unix:{unix_path}", "--limit-request-field_size", "120000")
    argv = gunicorn_argv("tests.test_wsgi:served_app", *extra, bind="{host}:{port}")
    with run_server(argv, env=GUNICORN_ENV) as server:
        yield server, unix_path


@pytest.mark.parametrize("index", range(len(LOOPBACK_SCENARIOS)), ids=[s.name for s in LOOPBACK_SCENARIOS])
def test_loopback_scenario_through_gunicorn(index: int, gunicorn: tuple[Server, str]) -> None:
    server, _ = gunicorn
    scenario = LOOPBACK_SCENARIOS[index]
    path, tag = tagged(f"/scenario/{index}")
    status, body = send(("127.0.0.1", server.port), path, scenario.headers)
    assert status == 200
    result = body["result"]
    assert_resolved(result, scenario, result["peer_port"])
    assert isinstance(result["peer_port"], int)
    assert body["REMOTE_ADDR"] == scenario.client_ip
    assert body["orig"]["REMOTE_ADDR"] == "127.0.0.1"
    if scenario.source == "peer":
        assert body["REMOTE_PORT"] == body["orig"]["REMOTE_PORT"] == str(result["peer_port"])
    else:
        assert body["REMOTE_PORT"] == (None if scenario.client_port is None else str(scenario.client_port))
    assert body["url_scheme"] == (scenario.scheme or "http")
    assert_context(result, body["url_root"].rstrip("/") + "/", scenario)
    assert access_log_host(server, tag) == scenario.client_ip


def test_gunicorn_drops_the_look_alike(gunicorn: tuple[Server, str]) -> None:
    """gunicorn >= 22 (header_map=drop, the default): a forged X_Forwarded_For never reaches the app."""
    server, _ = gunicorn
    path, tag = tagged("/env")
    _, body = send(("127.0.0.1", server.port), path, [GENUINE, LOOK_ALIKE])
    assert (body["xff"], body["REMOTE_ADDR"]) == ("198.51.100.7", "198.51.100.7")
    assert access_log_host(server, tag) == "198.51.100.7"
    _, body = send(("127.0.0.1", server.port), "/env", [LOOK_ALIKE])
    assert (body["xff"], body["REMOTE_ADDR"]) == (None, "127.0.0.1")


def test_gunicorn_dangerous_header_map_and_untrusted_peer() -> None:
    """Control: with --header-map dangerous gunicorn folds like wsgiref; still an untrusted peer gains nothing."""
    with run_server(gunicorn_argv("tests.test_wsgi:served_app", "--header-map", "dangerous"), env=GUNICORN_ENV) as s:
        _, body = send(("127.0.0.1", s.port), "/env", [GENUINE, LOOK_ALIKE])
        assert (body["xff"], body["REMOTE_ADDR"]) == ("198.51.100.7,192.0.2.66", "192.0.2.66")  # why drop matters
        path, tag = tagged("/untrusted")
        _, body = send(("127.0.0.1", s.port), path, [GENUINE, LOOK_ALIKE])
        assert (body["REMOTE_ADDR"], body["result"]["reason"]) == ("127.0.0.1", "untrusted-peer")
        assert access_log_host(s, tag) == "127.0.0.1"


def test_gunicorn_env_config_and_proto(gunicorn: tuple[Server, str]) -> None:
    """``/env`` is RealIPMiddleware(app) with no options: REALIP_* from gunicorn's environment."""
    server, _ = gunicorn
    headers = [("X-Forwarded-For", "198.51.100.7:5000, 127.0.0.2"), ("X-Forwarded-Proto", "https, http")]
    _, body = send(("127.0.0.1", server.port), "/env", headers)
    # The client's hop said https (gunicorn's own rule, were it on, would say http: "https, http" is not "https").
    assert (body["REMOTE_ADDR"], body["REMOTE_PORT"], body["url_scheme"]) == ("198.51.100.7", "5000", "https")
    assert body["orig"]["wsgi.url_scheme"] == "http"


def test_gunicorn_unix_socket(gunicorn: tuple[Server, str]) -> None:
    """Over a UNIX socket gunicorn gives REMOTE_ADDR "": the peer is None, trusted only via the ``unix`` entry."""
    server, unix_path = gunicorn
    path, tag = tagged("/env")
    _, body = send(unix_path, path, [GENUINE])
    assert (body["orig"]["REMOTE_ADDR"], body["REMOTE_ADDR"], body["result"]["peer"]) == ("", "198.51.100.7", None)
    assert access_log_host(server, tag) == "198.51.100.7"
    path, tag = tagged("/scenario/0")  # loopback-only trust: the UNIX peer is untrusted, the header ignored
    _, body = send(unix_path, path, [GENUINE])
    assert (body["REMOTE_ADDR"], body["result"]["reason"]) == ("", "untrusted-peer")


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_gunicorn_bad_bytes_never_500(headers: list[tuple[str, str]], gunicorn: tuple[Server, str]) -> None:
    server, _ = gunicorn
    status, body = send(("127.0.0.1", server.port), "/env", [(n, _latin1(v).replace(b"\x00", b"")) for n, v in headers])
    assert status == 200
    assert body["xff"]  # the junk reached the app
    assert body["REMOTE_ADDR"] == body["result"]["client_ip"]


# -- the app gunicorn serves --------------------------------------------------------------------------------------

_routes: dict[str, Callable[..., Any]] = {}


def served_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``/scenario/<i>``: LOOPBACK_SCENARIOS[i]'s options; ``/env``: REALIP_* variables; ``/untrusted``: 10/8 only."""
    if not _routes:  # built in the server, on the first request: importing this module must not read REALIP_*
        for index, scenario in enumerate(LOOPBACK_SCENARIOS):
            _routes[f"/scenario/{index}"] = RealIPMiddleware(echo, resolver=Resolver(**scenario.options))  # type: ignore[arg-type]
        _routes["/env"] = RealIPMiddleware(echo)
        _routes["/untrusted"] = RealIPMiddleware(echo, trusted_proxies=["10.0.0.0/8"])
    app = _routes.get(environ.get("PATH_INFO", ""))
    if app is None:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return []
    return app(environ, start_response)  # type: ignore[no-any-return]


def test_trusted_peer_without_header_is_flagged_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """kube-proxy SNAT (externalTrafficPolicy: Cluster) looks like a trusted peer sending no header: say so."""
    from realip import diagnostics

    diagnostics.reset()
    middleware = RealIPMiddleware(lambda environ, start_response: [b""], trusted_proxies=["10.0.0.0/8"])
    with caplog.at_level(logging.WARNING, logger="realip"):
        for port in ("5000", "5001"):
            middleware({"REMOTE_ADDR": "10.1.2.3", "REMOTE_PORT": port}, lambda status, headers: None)
    warnings = [r.getMessage() for r in caplog.records if "sent no forwarding header" in r.getMessage()]
    assert len(warnings) == 1 and "10.1.2.3" in warnings[0]
