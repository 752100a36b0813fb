"""granian (ASGI and WSGI), hypercorn and Daphne, each started for real on loopback with realip's generic middleware:
the loopback rows of the scenario table (forged headers included) through real sockets, each answer asserted, and
what each server's access log shows.

Access logs, as found here (README "Servers"):

- hypercorn writes ``%(h)s`` from the very scope dict the app received, so realip's in-place change shows the
  client (with the port realip wrote: the entry's, or 0);
- granian (ASGI) reads ``%(addr)s`` from the scope dict the app received: it shows the client (no port);
- granian (WSGI) hands the app a merged copy of its own dict (``environ = defaults | scope``) and logs from the
  original, so it shows the peer whatever the app writes into ``REMOTE_ADDR``; its ``%(header{...})s`` atoms print
  raw request headers, which the client writes, so they are no substitute;
- Daphne logs its protocol object's own ``client_addr``, taken from the socket (or, with ``--proxy-headers``, from the
  leftmost X-Forwarded-For entry, which the client writes) before the app runs and never read back from the scope,
  so it shows the peer; run it without ``--proxy-headers``.

The tests pin these facts, so a server release that changes them fails here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import websockets.sync.client

from tests.frameworks import CONFIGS, PROTO_OPTIONS, config_index, configs_env, expected_port, scenario_path
from tests.scenarios import LOOPBACK_SCENARIOS, Scenario, assert_context
from tests.servers import Server, http_get, run_server

GRANIAN_LOG = 'access %(addr)s "%(method)s %(path)s" %(status)d'


@dataclass(frozen=True)
class Spec:
    """How to start a server with a probe app, and what its access log shows."""

    name: str
    argv: tuple[str, ...]
    kind: str  # "asgi" or "wsgi"
    ready_log: str | None
    #: Whether the access log shows realip's client (else the socket peer).
    logs_client: bool


def _granian(interface: str) -> Spec:
    argv = (sys.executable, "-m", "granian", "--interface", interface, "--host", "127.0.0.1", "--port", "{port}",
            "--workers", "1", "--runtime-threads", "1", "--blocking-threads", "1", "--access-log",
            "--access-log-fmt", GRANIAN_LOG, f"tests.server_apps:{interface}_probe")  # fmt: skip
    return Spec(f"granian-{interface}", argv, interface, "Listening at: http://127.0.0.1:{port}", interface == "asgi")


SPECS = (
    _granian("asgi"),
    _granian("wsgi"),
    Spec(
        "hypercorn",
        (
            sys.executable,
            "-m",
            "hypercorn",
            "--bind",
            "fd://{fd}",
            "--access-logfile",
            "-",
            "--access-logformat",
            'access %(h)s "%(r)s" %(s)s',
            "tests.server_apps:make_asgi_probe()",
        ),
        "asgi",
        None,
        True,
    ),
    Spec(
        "daphne",
        (sys.executable, "-m", "daphne", "--fd", "{fd}", "--access-log", "-", "tests.server_apps:asgi_probe"),
        "asgi",
        None,
        False,
    ),
)


@pytest.fixture(scope="module", params=SPECS, ids=lambda s: s.name)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Spec, Server]]:
    spec: Spec = request.param
    with run_server(spec.argv, env=configs_env(), ready_path="/0/ready", ready_log=spec.ready_log) as running:
        yield spec, running


def client_of(spec: Spec, answer: dict[str, Any]) -> str:
    client = answer["client"]
    return client if spec.kind == "wsgi" else client[0]


def access_line(running: Server, tag: str) -> str:
    log = running.wait_for_log(tag)
    lines = [line for line in log.splitlines() if tag in line]
    assert len(lines) == 1, log
    return lines[0]


def logged_host(spec: Spec, line: str) -> str:
    """The client field of an access-log line, without its port."""
    if spec.name == "daphne":  # '127.0.0.1:40000 - - [date] "GET /path" 200 12'
        field = line.split(" ", 1)[0]
    else:  # '[...prefix] access HOST[:PORT] "GET ..."'
        field = line.split("access ", 1)[1].split(" ", 1)[0]
    # hypercorn and Daphne write "host:port" (IPv6 unbracketed: "2001:db8::7:4711"); granian writes the host alone.
    return field if spec.name.startswith("granian") else field.rsplit(":", 1)[0]


@pytest.mark.parametrize("scenario", LOOPBACK_SCENARIOS, ids=lambda s: s.name)
def test_scenario(server: tuple[Spec, Server], scenario: Scenario) -> None:
    spec, running = server
    path, tag = scenario_path(scenario)
    reply = http_get(running, path, scenario.headers)
    assert reply.status == 200, reply.body
    answer = json.loads(reply.body)
    assert client_of(spec, answer) == scenario.client_ip
    result = answer["result"]
    # granian's ASGI scope carries the client port as a str ("51158"), which realip reads as the number; its WSGI
    # environ has no REMOTE_PORT, so under granian's WSGI interface the peer's port is unknown.
    peer_port = None if spec.name == "granian-wsgi" else reply.local_port
    assert (result["client_ip"], result["client_port"], result["source"], result["scheme"]) == (
        scenario.client_ip,
        expected_port(scenario, peer_port),
        scenario.source,
        scenario.scheme,
    )
    assert (result["peer"], result["peer_port"]) == ("127.0.0.1", peer_port)
    assert answer["scheme"] == (scenario.scheme or "http")
    assert_context(result, answer["url_root"], scenario)  # the root URL the app builds: Starlette's, or WSGI's
    host = logged_host(spec, access_line(running, tag))
    assert host == (scenario.client_ip if spec.logs_client else "127.0.0.1")


def test_forged_headers_from_an_untrusted_peer(server: tuple[Spec, Server]) -> None:
    spec, running = server
    untrusted = next(s for s in LOOPBACK_SCENARIOS if s.name == "untrusted peer: headers ignored")
    path, tag = scenario_path(untrusted)
    forged = [("X-Forwarded-For", "192.0.2.66"), ("X-Real-IP", "192.0.2.67"), ("Forwarded", "for=192.0.2.68")]
    reply = http_get(running, path, forged)
    assert client_of(spec, json.loads(reply.body)) == "127.0.0.1"
    assert logged_host(spec, access_line(running, tag)) == "127.0.0.1"


@pytest.mark.parametrize("server", [s for s in SPECS if s.kind == "asgi"], indirect=True, ids=lambda s: s.name)
def test_websocket(server: tuple[Spec, Server]) -> None:
    _, running = server
    path = f"/{config_index(PROTO_OPTIONS)}/ws"
    headers = [("X-Forwarded-For", "192.0.2.66, 198.51.100.7"), ("X-Forwarded-Proto", "https")]
    with websockets.sync.client.connect(
        running.url.replace("http", "ws") + path, additional_headers=headers, open_timeout=10
    ) as ws:
        answer = json.loads(ws.recv(timeout=10))
    assert (answer["client"][0], answer["scheme"]) == ("198.51.100.7", "wss")


# -- Channels under Daphne ---------------------------------------------------------------------------------------

CHANNELS_CONFIGS = [{"trusted_proxies": ["loopback"], "proto_header": "x-forwarded-proto"}]


def daphne(*extra: str) -> Any:
    argv = [sys.executable, "-m", "daphne", "--fd", "{fd}", "--access-log", "-", *extra]
    return run_server([*argv, "tests.server_apps:channels_probe"], env={"PROBE_CONFIGS": json.dumps(CHANNELS_CONFIGS)})


def ws_answer(running: Server, headers: list[tuple[str, str]]) -> dict[str, Any]:
    with websockets.sync.client.connect(
        running.url.replace("http", "ws") + "/ws/", additional_headers=headers, open_timeout=10
    ) as ws:
        return dict(json.loads(ws.recv(timeout=10)))


def test_channels_consumer_sees_the_client_under_daphne() -> None:
    with daphne() as running:
        answer = ws_answer(running, [("X-Forwarded-For", "192.0.2.66, 198.51.100.7"), ("X-Forwarded-Proto", "https")])
        assert (answer["client"][0], answer["scheme"]) == ("198.51.100.7", "wss")
        assert answer["result"]["source"] == "x-forwarded-for"
        reply = http_get(running, "/http", [("X-Forwarded-For", "198.51.100.7")])
        assert json.loads(reply.body)["client"][0] == "198.51.100.7"


def test_daphne_proxy_headers_must_be_off() -> None:
    """Why the docs say to run Daphne without --proxy-headers: it takes the leftmost entry, which the client writes,
    and puts it in the scope as the peer, so realip would start from a forgery."""
    with daphne("--proxy-headers") as running:
        answer = ws_answer(running, [("X-Forwarded-For", "192.0.2.66, 198.51.100.7")])
    assert answer["result"]["peer"] == "192.0.2.66"  # the forged entry arrives as the socket peer


def test_configs_are_what_the_probe_reads() -> None:
    assert json.loads(configs_env()["PROBE_CONFIGS"]) == CONFIGS
