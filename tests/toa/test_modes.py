"""Saved-SYN and kernel-module modes on real loopback sockets, the connection table, and TOASource configuration
and lookups (which never raise on bad request data)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from realip_toa import DEFAULT_KINDS, TOA, TOAConfigError, TOASource, kernel, pack_kinds, parse, savedsyn
from realip_toa._table import ConnTable, conn_key
from realip_toa.servers import forget_connection, listen
from realip_toa.source import REGISTRY

KINDS = pack_kinds(DEFAULT_KINDS)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_saved_syn_is_the_connections_syn_and_is_read_once(host: str) -> None:
    with listen(host, 0, save_syn=True) as server:
        assert savedsyn.is_enabled(server)
        port = server.getsockname()[1]
        with socket.create_connection((host, port)) as client:
            accepted, peer = server.accept()
            with accepted:
                syn = savedsyn.read_saved_syn(accepted)
                parsed = parse(syn, KINDS)
                assert parsed is not None
                assert (parsed.src, parsed.sport, parsed.dst, parsed.dport) == (host, peer[1], host, port)
                assert parsed.flags == 0x02 and parsed.toa is None  # a plain SYN: no load balancer here
                assert client.getsockname()[1] == peer[1]
                assert savedsyn.read_saved_syn(accepted) == b""  # one-shot


def test_without_save_syn_nothing_is_saved() -> None:
    with listen("127.0.0.1", 0) as server, socket.create_connection(server.getsockname()) as _client:
        accepted, _ = server.accept()
        with accepted:
            assert not savedsyn.is_enabled(server)
            assert savedsyn.read_saved_syn(accepted) == b""
            assert savedsyn.toa_from_socket(accepted, KINDS) is None


def test_saved_syn_source_remembers_the_connection_for_later_requests() -> None:
    source = TOASource("saved-syn")
    with listen("127.0.0.1", 0, save_syn=True) as server, socket.create_connection(server.getsockname()) as client:
        accepted, peer = server.accept()
        with accepted:
            key = conn_key(peer, accepted.getsockname())
            assert key is not None
            assert source.lookup(None, None, accepted) is None  # a plain SYN carries no TOA
            REGISTRY.put(key, TOA(254, "192.0.2.5", 4242))  # as if the SYN had carried one
            environ = {"gunicorn.socket": accepted, "REMOTE_ADDR": "127.0.0.1"}
            assert source.lookup_wsgi(environ) == ("192.0.2.5", 4242)  # later request: from the registry
            scope = {"client": peer, "server": accepted.getsockname()}
            assert source.lookup_asgi(scope) == ("192.0.2.5", 4242)
            forget_connection(accepted)
            assert source.lookup_asgi(scope) is None
        assert client.fileno() >= 0


def test_a_new_connections_own_syn_wins_over_a_reused_4_tuple() -> None:
    source = TOASource("saved-syn")
    with listen("127.0.0.1", 0, save_syn=True) as server, socket.create_connection(server.getsockname()):
        accepted, peer = server.accept()
        with accepted:
            key = conn_key(peer, accepted.getsockname())
            assert key is not None
            REGISTRY.put(key, TOA(254, "192.0.2.6", 1))  # left by an earlier connection with the same 4-tuple
            assert source.lookup(None, None, accepted) is None  # this connection's SYN has no TOA
            assert REGISTRY.get(key) is None


def test_kernel_module_detection(tmp_path: Path) -> None:
    assert kernel.loaded_module(str(tmp_path)) is None
    (tmp_path / "toa").mkdir()
    assert kernel.loaded_module(str(tmp_path)) == "toa"
    assert kernel.loaded_module("/sys/module") in (None, "toa", "vtoa")


def test_status_says_what_each_mode_sees(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="realip_toa")
    source = TOASource("kernel")
    if source.module is None:
        assert "no TOA kernel module is loaded" in source.status()
        source.start()
        assert caplog.records[-1].levelname == "WARNING" and "/sys/module/toa" in caplog.records[-1].getMessage()
    source.module = "toa"
    assert "getpeername() already returns the client" in source.status() and "4096" in source.status()
    assert "SYN only" in TOASource("saved-syn", kinds=[(200, 8)]).status()
    capture = TOASource("capture", ports=[8000], interface="lo")
    assert capture.status() == "capture mode on lo, ports 8000, kinds 254/8,254/20,253/20,200/8,201/20: not started"


def test_nat64_lookup() -> None:
    raw = bytes.fromhex("20010db8000000000000000000000009") + (8080).to_bytes(2, "big") + b"\0\0"
    assert kernel.decode_nat64_peer(raw) == TOA(0, "2001:db8::9", 8080)
    assert kernel.decode_nat64_peer(bytes(20)) is None
    assert kernel.decode_nat64_peer(b"\x20\x01") is None
    with listen("127.0.0.1", 0) as server, socket.create_connection(server.getsockname()) as _client:
        accepted, _ = server.accept()
        with accepted:
            assert kernel.nat64_lookup(accepted) is None  # no module: ENOPROTOOPT, quietly None
            assert TOASource("kernel").lookup(None, None, accepted) is None


def test_table_is_bounded_and_expires() -> None:
    now = [0.0]
    table = ConnTable(max_entries=2, ttl=10, clock=lambda: now[0])
    a, b, c = ((bytes(4), port, bytes(4), 80) for port in (1, 2, 3))
    first = TOA(254, "192.0.2.1", 1)
    table.put(a, first)
    table.put(b, first)
    table.put(c, first)
    assert len(table) == 2 and table.get(a) is None  # the oldest went
    now[0] = 9.0
    assert table.get(b) == first  # reading refreshes
    now[0] = 15.0
    assert table.get(b) == first and table.get(c) is None  # c was last touched at 0
    now[0] = 30.0
    assert table.expire() == 1 and len(table) == 0
    with pytest.raises(ValueError):
        ConnTable(max_entries=0)


def test_conn_key_normalizes_and_rejects() -> None:
    assert conn_key(("::ffff:192.0.2.1", 5), ("[::1]", 80)) == (
        bytes([192, 0, 2, 1]),
        5,
        socket.inet_pton(socket.AF_INET6, "::1"),
        80,
    )
    assert conn_key(("fe80::1%eth0", 5), ("fe80::2", 80)) is not None
    bad = [
        (None, ("127.0.0.1", 80)),
        (("testclient", 50000), ("testserver", 80)),
        (("1.2.3.4",), ("x", 1)),
        ((b"1.2.3.4", 1), ("127.0.0.1", 80)),
        (("1.2.3.4", "x"), ("127.0.0.1", 80)),
    ]
    for peer, local in bad:
        assert conn_key(peer, local) is None


def test_lookups_never_raise_on_bad_request_data() -> None:
    source = TOASource("saved-syn")
    for scope in [
        {},
        {"client": None, "server": None},
        {"client": ("testclient", 123), "server": ("testserver", 80)},
        {"client": ["1.2.3.4"], "server": 5},
        {"client": object(), "server": ("127.0.0.1", 80)},
    ]:
        assert source.lookup_asgi(scope) is None  # type: ignore[arg-type]
    for environ in [
        {},
        {"REMOTE_ADDR": "1.2.3.4", "REMOTE_PORT": "x"},
        {"gunicorn.socket": "nope"},
        {"REMOTE_ADDR": "1.2.3.4", "REMOTE_PORT": "5", "SERVER_ADDR": "::1", "SERVER_PORT": "80"},
    ]:
        assert source.lookup_wsgi(environ) is None
    closed = socket.socket()
    closed.close()
    assert source.lookup(None, None, closed) is None


def test_configuration() -> None:
    assert TOASource.from_env({}) is None
    assert TOASource.from_env({"REALIP_LAYER4": "proxy-protocol"}) is None  # another kind: not a TOA source
    source = TOASource.from_env(
        {
            "REALIP_LAYER4": "toa:capture",
            "REALIP_TOA_PORTS": "8000, 8443",
            "REALIP_TOA_KINDS": "254/8,200/8",
            "REALIP_TOA_INTERFACE": "lo",
        }
    )
    assert source is not None and source.mode == "capture" and source.capture is not None
    assert source.capture.ports == (8000, 8443) and source.capture.interface == "lo"
    assert source.kinds == ((254, 8), (200, 8))
    assert TOASource("SavedSyn").mode == "saved-syn"
    assert TOASource.coerce("kernel").mode == "kernel"  # type: ignore[union-attr]
    assert TOASource.coerce(source) is source and TOASource.coerce(None) is None
    assert "capture" in repr(source)
    for bad, fragment in [
        ({"REALIP_LAYER4": "toa:magic"}, "magic"),
        ({"REALIP_LAYER4": "toa:capture", "REALIP_TOA_PORTS": "80,http"}, "http"),
        ({"REALIP_LAYER4": "toa:capture", "REALIP_TOA_PORTS": "0"}, "0"),
        ({"REALIP_LAYER4": "toa:saved-syn", "REALIP_TOA_KINDS": "254/7"}, "254/7"),
    ]:
        with pytest.raises(TOAConfigError, match=fragment):
            TOASource.from_env(bad)
    with pytest.raises(TOAConfigError, match=r"42: expected a realip_toa\.TOASource"):
        TOASource.coerce(42)  # type: ignore[arg-type]
