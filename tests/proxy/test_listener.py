"""The listener policy (trust, required/refused, timeout, migrate window), its configuration errors, the blocking
reader the gunicorn workers use (on real loopback sockets), the uvicorn protocol classes (a real uvicorn on
loopback), and the source's lookups."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from realip_toa import TOAConfigError
from realip_toa._table import ConnTable, conn_key
from realip_toa._trust import Trust, TrustError, compile_trust
from realip_toa.proxy_listener import (
    HEADERS,
    STATE_KEY,
    Pass,
    ProxyProtocolPolicy,
    ProxyProtocolSource,
    Refuse,
    Wait,
    parse_deadline,
    read_header,
)
from realip_toa.proxy_protocol import ProxyHeader

from .vectors import REQUEST, V1_TCP4, V2_TCP4, WITH_TLVS

LB = "198.51.100.1"


class Clock:
    """A settable clock for the migrate window."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- trust --------------------------------------------------------------------------------------------------------


def test_trust_entries_and_named_sets() -> None:
    trust = Trust(["198.51.100.0/24", "2001:db8:5::1", "cgnat", "unix"])
    assert trust("198.51.100.9") and trust("::ffff:198.51.100.9")  # a dual-stack socket's view, folded to IPv4
    assert trust("2001:db8:5::1") and trust("100.64.3.4") and trust(None)
    assert not trust("203.0.113.1") and not trust("2001:db8:5::2") and not trust("not an address")
    assert trust("fe80::1%eth0") is False
    assert not Trust(["loopback"])(None)  # UNIX peers only with "unix"
    assert Trust(["private"])("10.1.2.3") and Trust(["link-local"])("fe80::1%eth0")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["198.51.100.1/33"], r"trusted\[0\]='198.51.100.1/33' is not an address, a CIDR network"),
        (["10.0.0.1/8"], r"trusted\[0\]='10.0.0.1/8' is not .* has host bits set"),
        (["ok.example"], r"trusted\[0\]='ok.example' is not an address"),
        (["::ffff:10.0.0.0/104"], r"trusted\[0\]='::ffff:10.0.0.0/104' is an IPv4-mapped IPv6 network: write the"),
    ],
)
def test_bad_trust_entries_name_the_entry(entries: list[str], message: str) -> None:
    with pytest.raises(TrustError, match=message):
        Trust(entries)


def test_an_empty_trust_list_is_refused_with_the_fix() -> None:
    with pytest.raises(TrustError, match=r"REALIP_X is empty: name the load balancers' addresses .* 100.64.0.0/10"):
        compile_trust(" , ", "REALIP_X")
    assert compile_trust(lambda peer: peer == LB, "trusted")(LB)  # a predicate is used as is


# -- the policy's verdicts ----------------------------------------------------------------------------------------


def feed(policy: ProxyProtocolPolicy, peer: str | None, *chunks: bytes) -> Wait | Pass | Refuse:
    reader = policy.reader(peer)
    verdict = reader.start()
    for chunk in chunks:
        verdict = reader.feed(chunk)
    return verdict


def test_trusted_peers_must_send_a_valid_header() -> None:
    policy = ProxyProtocolPolicy([LB])
    verdict = feed(policy, LB, V1_TCP4 + REQUEST)
    assert isinstance(verdict, Pass) and verdict.consumed == len(V1_TCP4)
    assert verdict.header is not None and verdict.header.source == ("192.0.2.10", 56324)
    assert feed(policy, LB, REQUEST) == Refuse(
        "a trusted peer (a load balancer) sent no PROXY protocol header", "missing"
    )
    assert feed(policy, LB, b"PROXY TCP4 1.2.3.4\n") == Refuse("v1: byte not allowed in the header line", "invalid")
    assert feed(policy, LB, V2_TCP4[:20]) == Wait(28)
    assert feed(policy, LB, b"PRO") == Wait(None)


def test_split_at_every_byte_the_header_and_request_come_out_whole() -> None:
    policy = ProxyProtocolPolicy([LB])
    data = WITH_TLVS + REQUEST
    for cut in range(1, len(data)):
        reader = policy.reader(LB)
        first = reader.feed(data[:cut])
        if isinstance(first, Pass):  # decided on the first chunk: the second goes straight to the server
            verdict, after = first, data[cut:]
        else:
            verdict, after = reader.feed(data[cut:]), b""
        assert isinstance(verdict, Pass) and verdict.consumed == len(WITH_TLVS), cut
        assert reader.buffer[verdict.consumed :] + after == REQUEST, cut


def test_a_header_over_the_listeners_limit_is_refused_before_it_arrives() -> None:
    policy = ProxyProtocolPolicy([LB], max_header=64)
    assert feed(policy, LB, b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x01\x00") == Refuse(
        "v2: header longer than the limit", "invalid"
    )


def test_untrusted_peers_are_direct_clients_and_their_headers_are_refused() -> None:
    policy = ProxyProtocolPolicy([LB])
    assert feed(policy, "203.0.113.10", REQUEST) == Pass(None, 0)
    assert feed(policy, "203.0.113.10", b"PROPFIND / HTTP/1.1\r\n") == Pass(None, 0)
    refused = Refuse("PROXY protocol header from an untrusted peer", "refused_untrusted")
    assert feed(policy, "203.0.113.10", V1_TCP4 + REQUEST) == refused
    assert feed(policy, "203.0.113.10", b"PRO", b"XY ") == refused
    assert feed(policy, "203.0.113.10", V2_TCP4[:12]) == refused
    assert feed(policy, "203.0.113.10", b"PRO") == Wait(None)  # could still become a signature
    assert feed(policy, None, V1_TCP4) == refused  # a UNIX peer is untrusted unless "unix" is listed


def test_untrusted_close_refuses_at_once() -> None:
    policy = ProxyProtocolPolicy([LB], untrusted="close")
    assert policy.reader("203.0.113.10").start() == Refuse("connection from an untrusted peer", "refused_untrusted")
    assert policy.reader(LB).start() == Wait(None)


def test_the_migrate_window_lets_trusted_peers_omit_the_header_until_it_ends() -> None:
    clock = Clock()
    policy = ProxyProtocolPolicy([LB], migrate_until=clock.now + 600, clock=clock)
    assert policy.migrating
    assert feed(policy, LB, REQUEST) == Pass(None, 0)
    assert isinstance(feed(policy, LB, V1_TCP4 + REQUEST), Pass)  # a header sent is still read
    assert feed(policy, LB, b"PROXY TCP4 x\r\n")[1] == "invalid"  # ... and must be valid
    assert feed(policy, "203.0.113.10", V1_TCP4) == Refuse(
        "PROXY protocol header from an untrusted peer", "refused_untrusted"
    )
    clock.now += 601  # the window closed by itself
    assert not policy.migrating
    assert feed(policy, LB, REQUEST)[1] == "missing"
    assert "migrate window" in policy.status()


def test_a_failing_predicate_is_a_refusal_not_a_crash() -> None:
    def broken(peer: str | None) -> bool:
        raise RuntimeError("boom")

    assert feed(ProxyProtocolPolicy(broken), LB, V1_TCP4) == Refuse(
        "PROXY protocol header from an untrusted peer", "refused_untrusted"
    )


def test_timeouts_and_closes_are_refusals() -> None:
    reader = ProxyProtocolPolicy([LB], timeout=2.5).reader(LB)
    assert reader.end("timeout") == Refuse("no complete PROXY protocol header within 2.5s", "timeout")
    assert reader.end("closed") == Refuse("connection closed before a complete PROXY protocol header", "closed")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": 0}, r"timeout=0: expected seconds, more than 0 and at most 300"),
        ({"timeout": True}, r"timeout=True"),
        ({"max_header": 27}, r"max_header=27: expected bytes, 28 \(an IPv4 header\) to 65551"),
        ({"max_header": 70000}, r"max_header=70000"),
        ({"untrusted": "allow"}, r"untrusted='allow': expected 'serve' \(direct clients\) or 'close'"),
        ({"migrate_until": time.time() + 8 * 24 * 3600}, r"migrate_until: a migrate window ends within 7 days"),
    ],
)
def test_bad_policy_values_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TOAConfigError, match=message):
        ProxyProtocolPolicy([LB], **kwargs)


def test_from_env() -> None:
    policy = ProxyProtocolPolicy.from_env(
        {
            "REALIP_TRUSTED_PROXIES": "203.0.113.0/24",  # the header-writing proxies: not the balancers
            "REALIP_LAYER4_PROXIES": f"{LB}, cgnat",
            "REALIP_PROXY_PROTOCOL_TIMEOUT": "2",
            "REALIP_PROXY_PROTOCOL_MAX_HEADER": "512",
            "REALIP_PROXY_PROTOCOL_MIGRATE_UNTIL": "900",
            "REALIP_PROXY_PROTOCOL_UNTRUSTED": "close",
        }
    )
    assert policy.is_trusted(LB) and policy.is_trusted("100.64.0.1") and not policy.is_trusted("203.0.113.1")
    assert (policy.timeout, policy.max_header, policy.untrusted, policy.migrating) == (2.0, 512, "close", True)
    defaults = ProxyProtocolPolicy.from_env({"REALIP_LAYER4_PROXIES": LB})
    assert defaults.is_trusted(LB) and defaults.migrate_until is None and defaults.untrusted == "serve"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, r"PROXY protocol needs the load balancers' addresses: set REALIP_LAYER4_PROXIES"),
        ({"REALIP_TRUSTED_PROXIES": LB}, r"set REALIP_LAYER4_PROXIES"),  # the header proxies are not the balancers
        ({"REALIP_LAYER4_PROXIES": "10.0.0.1/8"}, r"REALIP_LAYER4_PROXIES\[0\]='10.0.0.1/8'"),
        (
            {"REALIP_LAYER4_PROXIES": LB, "REALIP_PROXY_PROTOCOL_TIMEOUT": "soon"},
            r"_TIMEOUT='soon': expected a number",
        ),
        ({"REALIP_LAYER4_PROXIES": LB, "REALIP_PROXY_PROTOCOL_TIMEOUT": "0"}, r"REALIP_PROXY_PROTOCOL_\*: timeout=0"),
        ({"REALIP_LAYER4_PROXIES": LB, "REALIP_PROXY_PROTOCOL_UNTRUSTED": "x"}, r"_UNTRUSTED='x': expected 'serve'"),
        ({"REALIP_LAYER4_PROXIES": LB, "REALIP_PROXY_PROTOCOL_MIGRATE_UNTIL": "tomorrow"}, r"expected seconds from"),
    ],
)
def test_from_env_errors_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(TOAConfigError, match=message):
        ProxyProtocolPolicy.from_env(environ)


def test_migrate_deadlines() -> None:
    now = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    assert parse_deadline("", "M", now) is None and parse_deadline("off", "M", now) is None
    assert parse_deadline("900", "M", now) == now + 900
    assert parse_deadline("2027-01-16T08:00:00Z", "M", now) == now + 86400
    assert parse_deadline("2027-01-16T09:00:00+01:00", "M", now) == now + 86400
    for bad, message in [
        ("-5", r"M='-5': the window must be a positive number of seconds"),
        ("nan", "positive number"),
        ("2027-01-16T08:00:00", r"M='2027-01-16T08:00:00': give the time zone"),
        ("700000", "ends within 7 days"),
        ("2027-02-16T08:00:00Z", "ends within 7 days"),
    ]:
        with pytest.raises(TOAConfigError, match=message):
            parse_deadline(bad, "M", now)


# -- the blocking reader (gunicorn's workers) on real sockets ------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        with client, accepted:
            yield client, accepted


def test_read_header_consumes_exactly_the_header(pair: tuple[socket.socket, socket.socket]) -> None:
    client, accepted = pair
    client.sendall(WITH_TLVS + REQUEST)
    verdict = read_header(accepted, "127.0.0.1", ProxyProtocolPolicy(["127.0.0.1"]))
    assert isinstance(verdict, Pass) and verdict.consumed == len(WITH_TLVS)
    assert accepted.recv(1000) == REQUEST  # what the server's own parser reads next
    assert accepted.gettimeout() is None  # blocking again, as the server left it


def test_read_header_waits_for_a_trickle(pair: tuple[socket.socket, socket.socket]) -> None:
    client, accepted = pair
    data = V1_TCP4 + REQUEST

    def trickle() -> None:
        for index in range(len(data)):
            client.send(data[index : index + 1])
            time.sleep(0.002)

    sender = threading.Thread(target=trickle)
    sender.start()
    verdict = read_header(accepted, "127.0.0.1", ProxyProtocolPolicy(["127.0.0.1"]))
    sender.join()
    assert isinstance(verdict, Pass) and verdict.consumed == len(V1_TCP4)


def test_read_header_times_out_on_silence_and_on_a_partial_header(pair: tuple[socket.socket, socket.socket]) -> None:
    client, accepted = pair
    policy = ProxyProtocolPolicy(["127.0.0.1"], timeout=0.3)
    start = time.monotonic()
    assert read_header(accepted, "127.0.0.1", policy)[1] == "timeout"
    client.sendall(V2_TCP4[:20])
    assert read_header(accepted, "127.0.0.1", policy)[1] == "timeout"
    assert 0.5 < time.monotonic() - start < 2.0


def test_read_header_sees_the_peer_close(pair: tuple[socket.socket, socket.socket]) -> None:
    client, accepted = pair
    client.sendall(V2_TCP4[:20])
    client.shutdown(socket.SHUT_WR)
    start = time.monotonic()
    assert read_header(accepted, "127.0.0.1", ProxyProtocolPolicy(["127.0.0.1"]))[1] == "closed"
    assert time.monotonic() - start < 1.0


def test_read_header_leaves_an_untrusted_request_unread(pair: tuple[socket.socket, socket.socket]) -> None:
    client, accepted = pair
    client.sendall(REQUEST)
    assert read_header(accepted, "127.0.0.1", ProxyProtocolPolicy(["192.0.2.1"])) == Pass(None, 0)
    assert accepted.recv(1000) == REQUEST


# -- the source ---------------------------------------------------------------------------------------------------


def header() -> ProxyHeader:
    return ProxyHeader(2, "PROXY", "INET", "STREAM", ("192.0.2.10", 56324), ("198.51.100.20", 443))


def test_source_lookups_by_connection() -> None:
    table: ConnTable[ProxyHeader] = ConnTable(max_entries=2, ttl=float("inf"))
    source = ProxyProtocolSource(ProxyProtocolPolicy([LB]), table)
    key = conn_key((LB, 41000), ("198.51.100.20", 8000))
    assert source.record(key, header())
    scope = {"client": (LB, 41000), "server": ("198.51.100.20", 8000)}
    assert source.lookup_asgi(scope) == ("192.0.2.10", 56324)
    assert source.header_asgi(scope) == header()
    environ = {"REMOTE_ADDR": LB, "REMOTE_PORT": "41000", "SERVER_ADDR": "198.51.100.20", "SERVER_PORT": "8000"}
    assert source.lookup_wsgi(environ) == ("192.0.2.10", 56324)
    assert source.lookup_wsgi({"REMOTE_ADDR": LB}) is None  # never raises on what it cannot use
    assert source.lookup_asgi({"client": None}) is None and source.lookup_asgi({"client": ("x", "y")}) is None
    source.forget(key)
    assert source.lookup_asgi(scope) is None
    other = header()._replace(source=("192.0.2.99", 1))
    assert source.lookup_asgi({**scope, "state": {STATE_KEY: other}}) == ("192.0.2.99", 1)  # the hook's hand-over
    assert source.lookup_asgi({**scope, "state": {STATE_KEY: "forged"}}) is None  # only a ProxyHeader counts


def test_a_full_table_refuses_rather_than_evicts() -> None:
    table: ConnTable[ProxyHeader] = ConnTable(max_entries=1, ttl=float("inf"))
    source = ProxyProtocolSource(ProxyProtocolPolicy([LB]), table)
    first, second = conn_key((LB, 1), ("198.51.100.20", 8000)), conn_key((LB, 2), ("198.51.100.20", 8000))
    assert source.record(first, header()) and not source.record(second, header())
    assert source.record(first, header())  # the same connection again is fine
    assert source.header((LB, 1), ("198.51.100.20", 8000)) == header()


def test_the_toa_option_accepts_a_proxy_protocol_source() -> None:
    from realip_toa import TOASource

    source = ProxyProtocolSource(ProxyProtocolPolicy([LB]))
    assert TOASource.coerce(source) is source  # type: ignore[arg-type]
    with pytest.raises(TOAConfigError, match=r"42: expected a realip_toa\.TOASource"):
        TOASource.coerce(42)  # type: ignore[arg-type]


# -- uvicorn, in process ------------------------------------------------------------------------------------------


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    found = HEADERS.get(conn_key(scope["client"], scope["server"]) or (b"", 0, b"", 0))
    assert scope["state"].get(STATE_KEY) is found  # the same header, handed over in the scope's state
    body = repr(found.source if found else None).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def _exchange(port: int, data: bytes, wait: float = 3.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(wait)
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(4096):
                out += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return out


@pytest.mark.parametrize("base", ["h11", "httptools"])
def test_uvicorn_protocols(base: str) -> None:
    import uvicorn

    from realip_toa.uvicorn_hooks import proxy_protocol

    clock = Clock(time.time())
    policy = ProxyProtocolPolicy(["127.0.0.1"], timeout=0.5, migrate_until=clock.now + 60, clock=clock)
    protocol = proxy_protocol(ProxyProtocolSource(policy), base)
    assert protocol.__name__.startswith("ProxyProtocol")
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
        config = uvicorn.Config(_app, http=protocol, lifespan="off", log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
        thread.start()
        try:
            while not server.started:
                time.sleep(0.01)
            close = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            assert _exchange(port, V1_TCP4 + close).endswith(b"('192.0.2.10', 56324)")
            assert _exchange(port, close).endswith(b"None")  # the migrate window: served without a header
            clock.now += 61
            assert _exchange(port, close) == b""  # the window closed: a trusted peer must send one
            start = time.monotonic()
            assert _exchange(port, b"") == b"" and 0.4 < time.monotonic() - start < 2
            assert _exchange(port, b"PROXY TCP4 999.1.1.1 1.1.1.1 1 1\r\n" + close) == b""
            assert _exchange(port, V1_TCP4 + close).endswith(b"('192.0.2.10', 56324)")  # still serving
            assert {"header": 2, "migrate_plain": 1, "missing": 1, "timeout": 1, "invalid": 1}.items() <= {
                k: v for k, v in policy.counts.items()
            }.items()
            assert len(HEADERS) == 0  # every closed connection's entry is gone
        finally:
            server.should_exit = True
            thread.join(5)
