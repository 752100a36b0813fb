"""``realip serve``, the real command (``python -m realip serve``) under uvicorn, read by HTTP clients and Chromium.

The browser tests need the Debian package ``chromium`` (``apt-get install chromium``); without it they fail.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from realip import Resolver
from realip.serve import run, startup_line
from tests.servers import Server, http_get, python, run_server

READY = "Uvicorn running on http://{host}:{port}"
FORGED = ("X-Forwarded-For", "192.0.2.66, 198.51.100.7")


@pytest.fixture(scope="module")
def serve_loopback() -> Iterator[Server]:
    """``realip serve --trust loopback``: our HTTP client on 127.0.0.1 acts as a trusted proxy."""
    with run_server(
        python("-m", "realip", "serve", "--port", "{port}", "--trust", "loopback"), ready_log=READY
    ) as server:
        yield server


@pytest.fixture(scope="module")
def serve_untrusted() -> Iterator[Server]:
    """``realip serve --trust 192.0.2.1``: 127.0.0.1 is not a proxy, so it is the client (as for a browser)."""
    argv = python(
        "-m", "realip", "serve", "--port", "{port}", "--trust", "192.0.2.1", "--proto-header", "x-forwarded-proto"
    )
    with run_server(argv, ready_log=READY) as server:
        yield server


def get(server: Server, path: str = "/", headers: Sequence[tuple[str, str]] = ()) -> tuple[int, dict[str, str], str]:
    reply = http_get(server, path, headers)
    return reply.status, reply.headers, reply.body.decode()


def get_json(server: Server, headers: Sequence[tuple[str, str]] = (), path: str = "/") -> dict[str, Any]:
    status, response_headers, body = get(server, path, [("Accept", "application/json"), *headers])
    assert status == 200
    assert response_headers["content-type"] == "application/json"
    return dict(json.loads(body))


# -- JSON ----------------------------------------------------------------------------------------------------------


def test_json_forged_entry_ignored(serve_loopback: Server) -> None:
    answer = get_json(serve_loopback, [FORGED, ("X-Real-IP", "203.0.113.9")])
    assert answer["client"]["client_ip"] == "198.51.100.7"
    assert answer["client"]["source"] == "x-forwarded-for"
    assert answer["client"]["reason"] == "untrusted-entry"
    assert answer["peer"]["ip"] == "127.0.0.1"
    assert isinstance(answer["peer"]["port"], int) and answer["peer"]["port"] > 0
    assert answer["headers"] == [["x-forwarded-for", FORGED[1]], ["x-real-ip", "203.0.113.9"]]
    # The walk: the peer (trusted), then the rightmost entry (the client); the forged one is never examined.
    assert [(s["position"], s["text"], s["verdict"]) for s in answer["steps"]] == [
        (0, "127.0.0.1", "trusted"),
        (1, "198.51.100.7", "untrusted"),
    ]
    assert "first address not in the trusted networks" in answer["why"]
    assert "127.0.0.0/8" in answer["config"]["trusted_proxies"]


def test_json_genuine_chain_and_access_log(serve_loopback: Server) -> None:
    answer = get_json(
        serve_loopback, [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "127.0.0.2")], path="/chain"
    )
    assert answer["client"]["client_ip"] == "198.51.100.7"
    assert answer["client"]["proxies"] == ["127.0.0.1", "127.0.0.2"]
    assert [s["verdict"] for s in answer["steps"]] == ["trusted", "trusted", "untrusted"]
    serve_loopback.wait_for_log('198.51.100.7:0 - "GET /chain HTTP/1.1" 200')


def test_json_untrusted_peer_headers_ignored(serve_untrusted: Server) -> None:
    """uvicorn trusts 127.0.0.1 by default and would say 198.51.100.7: the probe turns its proxy headers off."""
    answer = get_json(serve_untrusted, [FORGED, ("X-Forwarded-Proto", "https")])
    assert answer["client"]["client_ip"] == "127.0.0.1"
    assert answer["client"]["reason"] == "untrusted-peer"
    assert answer["client"]["scheme"] is None
    assert answer["scheme"] == "http"
    assert answer["steps"][0]["verdict"] == "untrusted"
    assert answer["config"]["proto_header"] == "x-forwarded-proto"


def test_a_local_request_without_header_logs_no_kubernetes_advice(serve_loopback: Server) -> None:
    """curl on the laptop: the peer is loopback and trusted, no header came; that is no SNAT, so no warning."""
    answer = get_json(serve_loopback, path="/local")
    assert (answer["client"]["client_ip"], answer["client"]["reason"]) == ("127.0.0.1", "no-header")
    log = serve_loopback.wait_for_log('"GET /local HTTP/1.1" 200')
    assert "sent no forwarding header" not in log and "externalTrafficPolicy" not in log


@pytest.mark.parametrize(
    ("path", "accept", "kind"),
    [
        ("/", None, "application/json"),  # curl, scripts: not a browser
        ("/", "*/*", "application/json"),
        ("/", "text/html,application/xhtml+xml,*/*;q=0.8", "text/html"),
        ("/?format=json", "text/html", "application/json"),
        ("/?format=html", "application/json", "text/html"),
        ("/", "application/json, text/html", "application/json"),
    ],
)
def test_content_negotiation(serve_loopback: Server, path: str, accept: str | None, kind: str) -> None:
    status, headers, _ = get(serve_loopback, path, [("Accept", accept)] if accept else [])
    assert status == 200
    assert headers["content-type"].split(";")[0] == kind


def test_startup_line_says_what_is_trusted(serve_untrusted: Server) -> None:
    assert "trusted proxies: 192.0.2.1" in serve_untrusted.log()
    assert "header: x-forwarded-for" in serve_untrusted.log()


def test_startup_line_hop_mode() -> None:
    line = startup_line(Resolver(trusted_proxies=("any",), trusted_hops=2), "127.0.0.1", 8000)
    assert "trusted proxies: 0.0.0.0/0, ::/0, unix" in line and "entry 2 from the right" in line


# -- HTML ----------------------------------------------------------------------------------------------------------


def test_html_escapes_header_values(serve_loopback: Server) -> None:
    attack = [
        ("X-Forwarded-For", "<script>alert(1)</script>, 198.51.100.7"),
        ("X-Real-IP", '"><img src=x onerror=alert(2)>'),
        ("Forwarded", "for=<b>bold</b>"),
    ]
    status, headers, body = get(serve_loopback, "/", [("Accept", "text/html"), *attack])
    assert status == 200
    assert "<script" not in body.lower() and "<img" not in body.lower() and "<b>bold" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in body
    assert '<span id="client">198.51.100.7</span>' in body
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none' forbids scripts
    assert "default-src 'none'" in headers["content-security-policy"]


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: run  apt-get update && apt-get install -y chromium")
    argv = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)


def test_browser_shows_resolved_client(serve_untrusted: Server, tmp_path: Path) -> None:
    done = chromium(tmp_path, "--dump-dom", serve_untrusted.url + "/")
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<span id="client">([^<]*)</span>', done.stdout)
    assert found is not None, done.stdout[:2000]
    assert found.group(1) == "127.0.0.1"
    assert '<b id="reason">untrusted-peer</b>' in done.stdout  # the browser got the HTML page, not JSON


def test_browser_screenshot(serve_untrusted: Server, tmp_path: Path) -> None:
    png = tmp_path / "page.png"
    done = chromium(tmp_path, f"--screenshot={png}", "--window-size=1000,800", serve_untrusted.url + "/")
    assert done.returncode == 0, done.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1000, 800)  # IHDR: the requested window size
    assert len(data) > 20_000, f"{len(data)} bytes: the page looks blank"


# -- errors --------------------------------------------------------------------------------------------------------


def test_missing_uvicorn_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` raise ImportError
    with pytest.raises(SystemExit, match=r"pip install 'realip\[serve\]'"):
        run(Resolver(), host="127.0.0.1", port=1)


def test_bad_trust_entry_fails_at_startup() -> None:
    done = subprocess.run(
        python("-m", "realip", "serve", "--port", "1", "--trust", "10.0.0.0/33"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "configuration error" in done.stderr and "10.0.0.0/33" in done.stderr


# -- Layer 4: the probe behind a PROXY protocol load balancer ------------------------------------------------------

BALANCER = "127.0.0.2"  # loopback too: a client socket bound to it reaches the probe as that peer


@pytest.fixture(scope="module")
def serve_proxy_protocol() -> Iterator[Server]:
    """``realip serve --proxy-protocol --layer4-proxy 127.0.0.2``: a header is required from 127.0.0.2 only."""
    argv = python("-m", "realip", "serve", "--port", "{port}", "--proxy-protocol", "--layer4-proxy", BALANCER,
                  "--trust", "192.0.2.1")  # fmt: skip
    with run_server(argv, ready_log=READY) as server:  # the readiness GET comes from 127.0.0.1: served plain
        yield server


def raw_request(server: Server, source: str, preamble: bytes) -> bytes:
    """Everything the probe answers to ``preamble`` + a JSON GET sent from ``source`` (b"" if it closes at once)."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10, source_address=(source, 0)) as sock:
        sock.sendall(preamble + b"GET / HTTP/1.1\r\nHost: probe\r\nAccept: application/json\r\n"
                     b"X-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n")  # fmt: skip
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_serve_proxy_protocol_shows_the_carried_client_and_header(serve_proxy_protocol: Server) -> None:
    header = f"PROXY TCP4 198.51.100.7 127.0.0.1 5555 {serve_proxy_protocol.port}\r\n".encode()
    reply = raw_request(serve_proxy_protocol, BALANCER, header)
    report = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    client = report["client"]
    assert (client["client_ip"], client["client_port"], client["source"], client["reason"]) == (
        "198.51.100.7", 5555, "proxy-protocol", "layer4")  # fmt: skip
    assert report["peer"]["ip"] == BALANCER and report["layer4"]["kind"] == "proxy-protocol"
    assert report["layer4"]["carried"]["source"] == ["198.51.100.7", 5555]
    assert report["config"]["layer4_proxies"] == [f"{BALANCER}/32"]


def test_serve_proxy_protocol_refuses_what_it_must(serve_proxy_protocol: Server) -> None:
    """No header from the balancer, or a header from anyone else: closed, nothing believed; plain clients served."""
    assert raw_request(serve_proxy_protocol, BALANCER, b"") == b""
    header = f"PROXY TCP4 6.6.6.6 127.0.0.1 5555 {serve_proxy_protocol.port}\r\n".encode()
    assert raw_request(serve_proxy_protocol, "127.0.0.1", header) == b""
    plain = json.loads(raw_request(serve_proxy_protocol, "127.0.0.1", b"").split(b"\r\n\r\n", 1)[1])
    assert (plain["client"]["client_ip"], plain["client"]["reason"], plain["layer4"]["carried"]) == (
        "127.0.0.1", "untrusted-peer", None)  # fmt: skip
    assert "6.6.6.6" not in serve_proxy_protocol.log()


def test_serve_layer4_needs_the_balancers() -> None:
    out = subprocess.run([sys.executable, "-m", "realip", "serve", "--toa", "saved-syn"], capture_output=True,
                         text=True, timeout=60, env={k: v for k, v in __import__("os").environ.items()
                                                     if not k.startswith("REALIP_")})  # fmt: skip
    assert out.returncode == 2
    assert "layer4='toa:saved-syn' needs layer4_proxies" in out.stderr


# -- the forwarded context -----------------------------------------------------------------------------------------

CONTEXT_FLAGS = (
    "--proto-header", "x-forwarded-proto", "--host-header", "x-forwarded-host", "--port-header", "x-forwarded-port",
    "--prefix-header", "x-forwarded-prefix", "--allowed-host", "app.example.com",
)  # fmt: skip
CONTEXT_HEADERS = [
    ("X-Forwarded-For", "198.51.100.7"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "app.example.com"),
    ("X-Forwarded-Port", "8443"),
    ("X-Forwarded-Prefix", "/shop"),
]


@pytest.fixture(scope="module")
def serve_context() -> Iterator[Server]:
    """``realip serve`` reading the forwarded host, port, prefix and scheme from loopback."""
    argv = python("-m", "realip", "serve", "--port", "{port}", "--trust", "loopback", *CONTEXT_FLAGS)
    with run_server(argv, ready_log=READY) as server:
        yield server


def test_serve_shows_the_forwarded_host_port_prefix_and_scheme(serve_context: Server) -> None:
    answer = get_json(serve_context, CONTEXT_HEADERS, path="/orders")
    client = answer["client"]
    assert (client["scheme"], client["host"], client["server_port"], client["prefix"]) == (
        "https",
        "app.example.com",
        8443,
        "/shop",
    )
    assert answer["request"] == {
        "scheme": "https",
        "host": "app.example.com:8443",
        "server_port": 8443,
        "root_path": "/shop",
        "path": "/shop/orders",
        "url": "https://app.example.com:8443/shop/orders",
    }
    config = answer["config"]
    assert (config["host_header"], config["allowed_hosts"], config["strip_untrusted"]) == (
        "x-forwarded-host",
        ["app.example.com"],
        False,
    )
    status, _, page = get(serve_context, "/orders", [("Accept", "text/html"), *CONTEXT_HEADERS])
    assert status == 200 and 'id="url">https://app.example.com:8443/shop/orders</code>' in page


def test_serve_refuses_a_forwarded_host_it_was_not_allowed(serve_context: Server) -> None:
    headers = [(name, "evil.example" if name == "X-Forwarded-Host" else value) for name, value in CONTEXT_HEADERS]
    answer = get_json(serve_context, headers)
    assert answer["client"]["host"] is None
    # Only the host is refused: the request keeps its own, with the port, scheme and prefix the proxy forwarded.
    assert answer["request"]["host"] == "127.0.0.1:8443"
    assert answer["request"]["url"] == "https://127.0.0.1:8443/shop/"
