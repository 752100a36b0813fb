"""Capture mode on loopback: the kernel filter, drain-before-miss, the handshake a TOA must belong to, and the
missing-capability error. A load balancer's segments (and the server's SYN-ACK) are injected with a raw socket
(root); real connections check the filter passes the kernel's own segments. The forgery rules are tested packet by
packet in test_capture_rules.py and end to end in test_e2e.py."""

from __future__ import annotations

import ipaddress
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from realip_toa import DEFAULT_KINDS, TOA, TOAConfigError, TOASource, pack_kinds
from realip_toa._table import conn_key
from realip_toa.capture import MAX_PORTS, Capture, build_filter
from tests.privileges import needs_root

from .vectors import MSS, NOP, TS, ipv4, tcp, toa, with_checksum

KINDS = pack_kinds(DEFAULT_KINDS)
REPO = Path(__file__).resolve().parent.parent.parent
CLIENT = ipaddress.ip_address("192.0.2.77").packed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def segment(
    src: str,
    sport: int,
    dport: int,
    options: bytes,
    flags: int = 0x10,
    proto: int = 6,
    *,
    dst: str = "127.0.0.1",
    seq: int = 1,
    ack: int = 2,
    checksum_delta: int = 0,
    payload: bytes = b"",
) -> bytes:
    """An IPv4 TCP segment src:sport -> dst:dport with a valid IP header (the kernel checks it) and a right TCP
    checksum (``checksum_delta`` makes it wrong)."""
    body = struct.pack("!HHII", sport, dport, seq, ack) + tcp(options, flags, payload)[12:]
    packet = bytearray(ipv4(body, proto=proto))
    packet[12:16] = socket.inet_aton(src)
    packet[16:20] = socket.inet_aton(dst)
    return with_checksum(bytes(packet), checksum_delta) if proto == 6 else bytes(packet)


SYN, SYN_ACK, ACK, PSH_ACK = 0x02, 0x12, 0x10, 0x18
ISN, SERVER_ISN = 0xFFFFFFFF, 7_000_000  # ISN + 1 wraps to 0: sequence arithmetic is modulo 2**32


def handshake(
    send: Callable[[bytes], None], src: str, sport: int, port: int, syn_options: bytes = MSS, isn: int = ISN
) -> None:
    """What a capture on the server sees of a handshake from a load balancer at ``src``: its SYN, and the server's
    SYN-ACK (injected here from the served port, so the capture sees it leave as the server's own would)."""
    send(segment(src, sport, port, syn_options, SYN, seq=isn, ack=0))
    send(segment("127.0.0.1", port, sport, MSS, SYN_ACK, dst=src, seq=SERVER_ISN, ack=(isn + 1) & 0xFFFFFFFF))


def after_syn(src: str, sport: int, port: int, options: bytes, flags: int = ACK, **kw: int) -> bytes:
    """The segment after the SYN (the handshake ACK, or the first data segment), unless ``kw`` changes it."""
    fields = {"seq": (ISN + 1) & 0xFFFFFFFF, "ack": SERVER_ISN + 1, **kw}
    return segment(src, sport, port, options, flags, **fields)


@pytest.fixture
@needs_root("CAP_NET_RAW: injects TCP segments with a raw socket")
def inject() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        yield raw


def send(raw: socket.socket, packet: bytes) -> None:
    raw.sendto(packet, ("127.0.0.1", 0))


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
@needs_root("CAP_NET_RAW: opens a packet capture on lo")
def capture(port: int) -> Iterator[Capture]:
    cap = Capture(KINDS, [port], interface="lo")
    cap.start(background=False)  # only lookups read: makes drain-before-miss observable
    yield cap
    cap.stop()


def key(src: str, sport: int, dport: int) -> tuple[bytes, int, bytes, int]:
    made = conn_key((src, sport), ("127.0.0.1", dport))
    assert made is not None
    return made


def test_a_queued_handshake_ack_is_found_by_the_first_lookup(
    capture: Capture, inject: socket.socket, port: int
) -> None:
    handshake(lambda p: send(inject, p), "127.0.0.2", 40001, port)
    send(inject, after_syn("127.0.0.2", 40001, port, NOP + NOP + TS + toa(254, 5555, CLIENT)))
    # No reader thread: only the drain a missed lookup does can have read them.
    assert capture.lookup_key(key("127.0.0.2", 40001, port)) == TOA(254, "192.0.2.77", 5555)
    assert capture.packets == 3 and capture.toas == 1


def test_the_filter_passes_optioned_segments_to_served_ports_and_their_syn_acks(
    capture: Capture, inject: socket.socket, port: int
) -> None:
    other = free_port()
    send(inject, segment("127.0.0.2", 40002, other, toa(254, 1, CLIENT)))  # another port
    send(inject, segment("127.0.0.2", 40003, port, b""))  # no options
    send(inject, segment("127.0.0.2", 40004, port, toa(200, 2, CLIENT), proto=17))  # not TCP
    send(inject, segment("127.0.0.1", other, 40005, MSS, SYN_ACK, dst="127.0.0.2"))  # a SYN-ACK from another port
    send(inject, segment("127.0.0.1", port, 40006, MSS, ACK, dst="127.0.0.2"))  # not a SYN-ACK, from our port
    handshake(lambda p: send(inject, p), "127.0.0.2", 40007, port)  # these two pass
    send(inject, after_syn("127.0.0.2", 40007, port, toa(200, 3, CLIENT)))  # and this one
    assert capture.lookup_key(key("127.0.0.2", 40007, port)) == TOA(200, "192.0.2.77", 3)
    assert capture.lookup_key(key("127.0.0.2", 40002, other)) is None
    assert capture.packets == 3  # the kernel filter dropped the other five
    received, dropped = capture.statistics()
    assert (received, dropped) == (3, 0)


def test_a_syn_toa_counts_once_the_server_answers_it(capture: Capture, inject: socket.socket, port: int) -> None:
    send(inject, segment("127.0.0.3", 40010, port, MSS + toa(254, 7, CLIENT), SYN, seq=ISN, ack=0))
    assert capture.lookup_key(key("127.0.0.3", 40010, port)) is None  # no SYN-ACK yet: not a connection
    send(
        inject, segment("127.0.0.1", port, 40010, MSS, SYN_ACK, dst="127.0.0.3", seq=SERVER_ISN, ack=0)
    )  # ISN + 1, wrapped
    assert capture.lookup_key(key("127.0.0.3", 40010, port)) == TOA(254, "192.0.2.77", 7)


def test_background_thread_and_asgi_lookup(inject: socket.socket, port: int) -> None:
    source = TOASource("capture", ports=[port], interface="lo")
    source.start()
    try:
        handshake(lambda p: send(inject, p), "127.0.0.4", 40020, port)
        send(inject, after_syn("127.0.0.4", 40020, port, toa(253, 9, ipaddress.ip_address("2001:db8::9").packed)))
        assert source.capture is not None
        deadline = time.monotonic() + 5
        while source.capture.toas < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert source.capture.toas == 1  # read by the thread, not by a lookup
        scope = {"client": ("::ffff:127.0.0.4", 40020), "server": ("127.0.0.1", port)}
        assert source.lookup_asgi(scope) == ("2001:db8::9", 9)
        assert source.lookup_asgi({"client": ("127.0.0.4", 40021), "server": ("127.0.0.1", port)}) is None
    finally:
        source.stop()
    assert not source.capture.running


def test_real_connections_pass_the_filter_and_have_no_toa(capture: Capture, port: int) -> None:
    with socket.create_server(("127.0.0.1", port)) as server, socket.create_connection(("127.0.0.1", port)) as c:
        accepted, peer = server.accept()
        c.sendall(b"hello")
        accepted.recv(5)
        assert capture.lookup_key(key(peer[0], peer[1], port)) is None
        accepted.close()
    # SYN, the server's SYN-ACK, ACK, data: all carry options; the other outgoing copies are filtered out.
    assert capture.packets >= 4
    assert capture.ignored == {"unconfirmed": 0, "window": 0, "checksum": 0, "later": 0}


def test_filter_limits() -> None:
    assert build_filter([])[-1] == (0x06, 0, 0, 0)
    with pytest.raises(TOAConfigError, match="at most"):
        build_filter(list(range(1, MAX_PORTS + 2)))
    for bad in (70000, 0, "80", True):
        with pytest.raises(TOAConfigError, match=repr(bad)):
            Capture(KINDS, [bad])  # type: ignore[list-item]


@pytest.mark.root("CAP_NET_RAW: opens a packet capture, to be told the interface does not exist")
def test_an_unknown_interface_is_named() -> None:
    with pytest.raises(TOAConfigError, match="nosuchif0"):
        Capture(KINDS, [80], interface="nosuchif0").start()


def test_without_cap_net_raw_the_error_names_it_and_the_alternatives() -> None:
    code = (
        "from realip_toa import TOASource, TOAConfigError\n"
        "try:\n    TOASource('capture', ports=[8000]).start()\n"
        "except TOAConfigError as exc:\n    print(exc)\n"
        "late = TOASource('capture', ports=[8000])  # never started: the first lookup tries, logs, gives None\n"
        "print([late.lookup(('192.0.2.1', 1), ('127.0.0.1', 8000)) for _ in range(3)])\n"
    )
    # Drop CAP_NET_RAW from the bounding set before exec: even root then lacks it (as in an unprivileged container).
    argv = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", sys.executable, "-c", code]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "CAP_NET_RAW" in out.stdout and "saved-syn" in out.stdout and "kernel" in out.stdout
    assert out.stdout.splitlines()[-1] == "[None, None, None]"
    assert out.stderr.count("capture mode needs the CAP_NET_RAW") == 1  # logged once, not per request


@pytest.mark.root("CAP_NET_RAW: a packet capture and a raw socket in a forked child")
def test_a_forked_child_restarts_its_own_capture(port: int) -> None:
    """As a gunicorn worker forked after the app made its source: the child gets a working capture of its own."""
    code = f"""
import os, socket, sys, time
from tests.toa.test_capture import after_syn, handshake
from tests.toa.vectors import toa
from realip_toa import TOASource
source = TOASource("capture", ports=[{port}], interface="lo")
source.start()
pid = os.fork()
if pid == 0:
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    client = socket.inet_aton("192.0.2.8")
    first = source.lookup(("127.0.0.9", 40100), ("127.0.0.1", {port}))  # restarts the capture in the child
    handshake(lambda p: raw.sendto(p, ("127.0.0.1", 0)), "127.0.0.9", 40101, {port})
    raw.sendto(after_syn("127.0.0.9", 40101, {port}, toa(200, 77, client)), ("127.0.0.1", 0))
    found = source.lookup(("127.0.0.9", 40101), ("127.0.0.1", {port}))
    ok = first is None and found == ("192.0.2.8", 77) and source.capture.running
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), "parent running", source.capture.running)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=REPO)
    assert out.stdout.strip() == "child 0 parent running True", out.stdout + out.stderr
