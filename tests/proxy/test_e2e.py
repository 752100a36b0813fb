"""PROXY protocol end to end, in network namespaces: real HAProxy (v2: CRC32c, UNIQUE_ID, TLS TLVs, LOCAL health
checks) and real nginx (stream, v1) in front of uvicorn (h11, httptools) and gunicorn (sync, gthread), two of them
with the pure-Python parsers (``REALIP_TOA_PURE=1``). The app is realip's middleware with ``toa=`` a
``ProxyProtocolSource``; what it resolves is checked in its answer and in the server's access log. A stand-in
balancer in the proxy namespace sends vendor TLVs and every broken header; a client reaches the servers directly as an
untrusted peer. Every refusal ends the connection with nothing served, no forged address reaches the app or the log,
and the server keeps serving. Needs root, haproxy, nginx with its stream module, openssl: never skips.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.privileges import needs_root

from .lab import (
    CLIENT4,
    CLIENT6,
    FRONT4,
    FRONT6,
    LB4,
    SERVER4,
    SERVERS,
    TIMEOUT,
    TLS_PORT,
    ProxyLab,
    Server,
    exchange,
    get,
    proxy_lab,
)
from .vectors import ALIBABA, AWS, AZURE, GCP, crc32c_bitwise, tlv

FORGED = "192.0.2.66"
REQUEST = b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
IDS = [s.name for s in SERVERS]


@pytest.fixture(scope="module")
@needs_root("network namespaces (the PROXY protocol lab: HAProxy and nginx in front of the servers)")
def lab() -> Iterator[ProxyLab]:
    with proxy_lab() as built:
        yield built


def v2_header(tlvs: bytes = b"", *, crc: bool = True, claim: str = FORGED) -> bytes:
    """A v2 PROXY header for TCP over IPv4 from ``claim``:50000 to the server, with ``tlvs`` (and CRC32c)."""
    body = bytes(map(int, claim.split("."))) + bytes(map(int, SERVER4.split("."))) + struct.pack("!HH", 50000, 80)
    body += tlvs + (tlv(0x03, bytes(4)) if crc else b"")
    header = SIG + b"\x21\x11" + struct.pack("!H", len(body)) + body
    return header[:-4] + struct.pack("!I", crc32c_bitwise(header)) if crc else header


def access_line(server: Server, ip: str, port: int, path: str = "/") -> str:
    if server.name.startswith("uvicorn"):
        return f'{ip}:{port} - "GET {path} HTTP/1.1" 200'
    return f'ACCESS {ip} {port} "GET {path} HTTP/1.1" 200'


def check_client(server: Server, answer: dict[str, Any], client: tuple[str, int], version: int) -> None:
    assert (answer["client_ip"], answer["client_port"]) == client, answer
    assert answer["source"] == "proxy-protocol" and answer["peer"] == LB4  # the header took the peer's place
    assert answer["layer4"]["version"] == version and answer["layer4"]["source"] == list(client)
    assert answer["parser"] == ("python" if server.pure else "c")


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
@pytest.mark.parametrize("front", [FRONT4, FRONT6], ids=["ipv4", "ipv6"])
def test_haproxy_v2(lab: ProxyLab, server: Server, front: str) -> None:
    keep_alive = not server.name.endswith("-sync")  # gunicorn's sync worker closes after each response
    answers, client = get(lab, front, server.haproxy_port, requests=2 if keep_alive else 1)
    assert client[0] == (CLIENT4 if front == FRONT4 else CLIENT6)
    for answer in answers:  # keep-alive: the connection's header stays with it
        check_client(server, answer, client, 2)
        assert answer["layer4"]["crc32c_checked"] is True
        assert answer["layer4"]["tlvs"]["unique_id"] == f"lab-{client[0]}-{client[1]}"
    line = access_line(server, *client)
    assert line in lab.wait_log(server.name, line)


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
@pytest.mark.parametrize("front", [FRONT4, FRONT6], ids=["ipv4", "ipv6"])
def test_nginx_stream_v1(lab: ProxyLab, server: Server, front: str) -> None:
    answers, client = get(lab, front, server.nginx_port)
    check_client(server, answers[0], client, 1)
    assert answers[0]["layer4"]["tlvs"] == {}
    line = access_line(server, *client)
    assert line in lab.wait_log(server.name, line)


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
def test_haproxy_health_checks_arrive_as_local(lab: ProxyLab, server: Server) -> None:
    """HAProxy's checks send a LOCAL header (``check-send-proxy``): served, with the balancer as the client."""
    wanted = (f"be_{server.port}", "be_local")  # be_local: a backend whose only traffic is health checks
    deadline = time.monotonic() + 5
    while any((states := lab.server_states())[name] != "UP" for name in wanted) and time.monotonic() < deadline:
        time.sleep(0.1)  # "UP 1/3" until the first checks have passed (or after one slowed by a busy machine)
    assert all(states[name] == "UP" for name in wanted), states
    log = lab.log(server.name)
    health = [line for line in log.splitlines() if "GET /health HTTP/1.0" in line]
    assert health and all(LB4 in line for line in health), log[-2000:]


def test_tls_frontend_tlvs(lab: ProxyLab) -> None:
    """HAProxy terminating TLS: ALPN, AUTHORITY (the SNI) and the SSL TLV with its sub-TLVs reach the app."""
    answers, client = get(lab, FRONT4, TLS_PORT, tls=True)
    layer4 = answers[0]["layer4"]
    assert (answers[0]["client_ip"], answers[0]["client_port"]) == client
    assert layer4["tlvs"]["alpn"] == "http/1.1" and layer4["tlvs"]["authority"] == "lab.example"
    ssl_tlv = layer4["tlvs"]["ssl"]
    assert ssl_tlv["client"] & 1 and ssl_tlv["version"].startswith("TLSv1") and ssl_tlv["cipher"]
    assert layer4["crc32c_checked"] is True


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
def test_vendor_tlvs_from_a_balancer(lab: ProxyLab, server: Server) -> None:
    """The cloud balancers' TLVs (sent here by a stand-in: HAProxy 2.6 has no ``set-proxy-v2-tlv-fmt``)."""
    header = v2_header(AWS + AZURE + GCP + ALIBABA, claim="203.0.113.77")
    reply, _ = exchange(lab, lab.proxy, server.port, header + REQUEST)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    answer = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert (answer["client_ip"], answer["client_port"], answer["source"]) == ("203.0.113.77", 50000, "proxy-protocol")
    tlvs = answer["layer4"]["tlvs"]
    assert tlvs["aws_vpce_id"] == "vpce-08d2bf15fac5001c9" and tlvs["azure_link_id"] == 0x12345678
    assert tlvs["gcp_psc_connection_id"] == 0x0102030405060708 and tlvs["alibaba_vpc_id"] == "vpc-abc"


# -- refusals ---------------------------------------------------------------------------------------------------

V1_FORGED = f"PROXY TCP4 {FORGED} {SERVER4} 50000 80\r\n".encode()
MALFORMED = {
    "v1 port out of range": f"PROXY TCP4 {FORGED} {SERVER4} 99999 80\r\n".encode() + REQUEST,
    "v1 line without CRLF in 107 bytes": b"PROXY UNKNOWN " + b"x" * 120,
    "v2 TLV length past the header": v2_header(tlv(0xEA, b"\x01vpce", length=300), crc=False) + REQUEST,
    "v2 CRC32c mismatch": v2_header(AWS)[:-1] + b"\x00" + REQUEST,
    "v2 unknown command": SIG + b"\x2f\x11\x00\x0c" + bytes(12) + REQUEST,
    "v2 longer than the server's limit": SIG + b"\x21\x11\xff\xff" + bytes(64),
}


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
def test_a_header_from_an_untrusted_peer_ends_the_connection(lab: ProxyLab, server: Server) -> None:
    reply, _ = exchange(lab, lab.client, server.port, V1_FORGED + REQUEST)
    assert reply == b""


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
def test_an_untrusted_peer_without_a_header_is_a_direct_client(lab: ProxyLab, server: Server) -> None:
    reply, _ = exchange(lab, lab.client, server.port, REQUEST)
    assert reply.startswith(b"HTTP/1.1 200") and f'"client_ip": "{CLIENT4}"'.encode() in reply
    assert b'"source": "peer"' in reply and b'"layer4": null' in reply


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
def test_a_trusted_peer_without_a_header_is_refused(lab: ProxyLab, server: Server) -> None:
    reply, _ = exchange(lab, lab.proxy, server.port, REQUEST)
    assert reply == b""


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
@pytest.mark.parametrize("shape", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_header_is_refused(lab: ProxyLab, server: Server, shape: str) -> None:
    reply, elapsed = exchange(lab, lab.proxy, server.port, MALFORMED[shape])
    assert reply == b"" and elapsed < TIMEOUT, (reply[:100], elapsed)  # refused at once, not by the timeout


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
def test_a_truncated_header_is_refused(lab: ProxyLab, server: Server) -> None:
    header = v2_header(AWS)
    reply, elapsed = exchange(lab, lab.proxy, server.port, header[:25], close=True)  # then FIN
    assert reply == b"" and elapsed < TIMEOUT
    reply, elapsed = exchange(lab, lab.proxy, server.port, header[:25])  # then silence
    assert reply == b"" and TIMEOUT * 0.8 < elapsed < TIMEOUT + 2


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
def test_a_silent_peer_is_cut_at_the_timeout(lab: ProxyLab, server: Server) -> None:
    reply, elapsed = exchange(lab, lab.proxy, server.port, b"")
    assert reply == b"" and TIMEOUT * 0.8 < elapsed < TIMEOUT + 2, elapsed


@pytest.mark.parametrize("server", SERVERS, ids=IDS)
def test_after_every_refusal_the_server_serves_and_nothing_forged_got_through(lab: ProxyLab, server: Server) -> None:
    answers, client = get(lab, FRONT4, server.haproxy_port)
    check_client(server, answers[0], client, 2)
    assert lab.processes[server.name].alive()
    log = lab.log(server.name)
    assert FORGED not in log, [line for line in log.splitlines() if FORGED in line]
