"""Capture mode's rules, packet by packet (no socket): an option is believed only from a segment that belongs to the
connection as the kernel would accept it, and the first one wins. Each forgery a review found gets its own test:
an out-of-window ACK, a wrong checksum, a later segment trying to override, a SYN forged onto a live connection.
The same forgeries run end to end, through a real kernel, in test_e2e.py."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from realip_toa import DEFAULT_KINDS, TOA, pack_kinds
from realip_toa.capture import TP_STATUS_CSUM_VALID, TP_STATUS_CSUMNOTREADY, Capture

from .test_capture import ACK, ISN, PSH_ACK, SERVER_ISN, SYN, SYN_ACK, segment
from .vectors import MSS, NOP, TS, ipv6, tcp, toa, with_checksum

LB, SERVER, PORT, LB_PORT = "198.51.100.1", "198.51.100.20", 8000, 41000
REAL, FORGED = ipaddress.ip_address("203.0.113.10").packed, ipaddress.ip_address("192.0.2.66").packed
REAL_TOA, FORGED_TOA = TOA(254, "203.0.113.10", 50000), TOA(254, "192.0.2.66", 6666)
KEY = (ipaddress.ip_address(LB).packed, LB_PORT, ipaddress.ip_address(SERVER).packed, PORT)


def from_lb(options: bytes, flags: int = ACK, payload: bytes = b"", **kw: int) -> bytes:
    fields = {"seq": (ISN + 1) & 0xFFFFFFFF, "ack": SERVER_ISN + 1, **kw}
    return segment(LB, LB_PORT, PORT, options, flags, dst=SERVER, payload=payload, **fields)


def syn(options: bytes = MSS, isn: int = ISN, **kw: int) -> bytes:
    return segment(LB, LB_PORT, PORT, options, SYN, dst=SERVER, seq=isn, ack=0, **kw)


def syn_ack(isn: int = ISN, server_isn: int = SERVER_ISN) -> bytes:
    return segment(SERVER, PORT, LB_PORT, MSS, SYN_ACK, dst=LB, seq=server_isn, ack=(isn + 1) & 0xFFFFFFFF)


REAL_ACK = from_lb(NOP + NOP + TS + toa(254, 50000, REAL))
FORGED_OPTION = NOP + NOP + TS + toa(254, 6666, FORGED)


@pytest.fixture
def capture() -> Capture:
    return Capture(pack_kinds(DEFAULT_KINDS), [PORT])


def run(capture: Capture, *packets: bytes | tuple[bytes, int]) -> TOA | None:
    for packet in packets:
        data, status = packet if isinstance(packet, tuple) else (packet, 0)
        capture.observe(data, status)
    entry = capture.table.get(KEY)
    return None if entry is None else entry.toa


def test_the_handshake_ack_after_the_answered_syn_is_believed(capture: Capture) -> None:
    assert run(capture, syn(), syn_ack(), REAL_ACK) == REAL_TOA
    assert capture.ignored == {"unconfirmed": 0, "window": 0, "checksum": 0, "later": 0}


def test_the_first_data_segment_is_believed_when_the_ack_had_none(capture: Capture) -> None:
    data = from_lb(NOP + NOP + TS + toa(254, 50000, REAL), PSH_ACK)
    assert run(capture, syn(), syn_ack(), from_lb(NOP + NOP + TS), data) == REAL_TOA


def test_an_out_of_window_ack_from_the_balancer_is_ignored(capture: Capture) -> None:
    forged = from_lb(FORGED_OPTION, seq=(ISN + 1 + 100_000) & 0xFFFFFFFF)  # right address, port and checksum
    assert run(capture, syn(), syn_ack(), forged, REAL_ACK) == REAL_TOA
    assert capture.ignored["window"] == 1


def test_a_wrong_acknowledgment_number_is_ignored(capture: Capture) -> None:
    forged = from_lb(FORGED_OPTION, ack=SERVER_ISN + 5000)  # the SYN's number guessed, not the server's
    assert run(capture, syn(), syn_ack(), forged, REAL_ACK) == REAL_TOA
    assert capture.ignored["window"] == 1


def test_a_wrong_checksum_is_ignored(capture: Capture) -> None:
    forged = from_lb(FORGED_OPTION, checksum_delta=1)  # everything else right: the kernel drops it
    assert run(capture, syn(), syn_ack(), forged, REAL_ACK) == REAL_TOA
    assert capture.ignored["checksum"] == 1


def test_a_wrong_checksum_on_the_syn_is_ignored(capture: Capture) -> None:
    assert run(capture, syn(MSS + toa(254, 6666, FORGED), checksum_delta=3), syn_ack()) is None
    assert capture.ignored["checksum"] == 1


def test_a_segment_cut_by_the_capture_needs_the_kernels_verdict(capture: Capture) -> None:
    data = from_lb(NOP + NOP + TS + toa(254, 50000, REAL), PSH_ACK, payload=b"GET / HTTP/1.1\r\n")
    cut = data[:-5]  # the IP header says more than the capture kept: no software check possible
    assert run(capture, syn(), syn_ack(), cut) is None
    assert capture.ignored["checksum"] == 1
    assert run(capture, (cut, TP_STATUS_CSUM_VALID)) == REAL_TOA  # the device verified it


def test_a_local_unchecksummed_segment_is_taken_as_the_kernel_will_checksum_it(capture: Capture) -> None:
    partial = from_lb(NOP + NOP + TS + toa(254, 50000, REAL), checksum_delta=9)  # as CHECKSUM_PARTIAL looks
    assert run(capture, syn(), syn_ack(), (partial, TP_STATUS_CSUMNOTREADY)) == REAL_TOA


def test_a_later_segment_cannot_override(capture: Capture) -> None:
    duplicate = from_lb(FORGED_OPTION)  # in window, right checksum: a duplicate ACK the kernel accepts
    later_data = from_lb(FORGED_OPTION, PSH_ACK, seq=(ISN + 200) & 0xFFFFFFFF)
    assert run(capture, syn(), syn_ack(), REAL_ACK, duplicate, later_data) == REAL_TOA
    assert capture.ignored == {"unconfirmed": 0, "window": 0, "checksum": 0, "later": 2}


def test_the_syns_toa_is_first_and_stays(capture: Capture) -> None:
    assert run(capture, syn(MSS + toa(254, 50000, REAL)), syn_ack(), from_lb(FORGED_OPTION)) == REAL_TOA
    assert capture.ignored["later"] == 1


def test_a_syn_forged_onto_a_live_connection_is_never_answered_so_never_believed(capture: Capture) -> None:
    assert run(capture, syn(), syn_ack(), REAL_ACK) == REAL_TOA
    # The forger's own SYN and the ACK that would follow it: the kernel answers such a SYN with a challenge ACK,
    # not a SYN-ACK, so no connection starts with it.
    forged_isn = 12345
    forged_syn = syn(MSS + toa(254, 6666, FORGED), isn=forged_isn)
    forged_ack = from_lb(FORGED_OPTION, seq=forged_isn + 1)
    challenge = segment(SERVER, PORT, LB_PORT, NOP + NOP + TS, ACK, dst=LB, seq=SERVER_ISN + 1, ack=ISN + 1 - 2**32)
    assert run(capture, forged_syn, challenge, forged_ack) == REAL_TOA


def test_a_syn_ack_for_another_syn_confirms_nothing(capture: Capture) -> None:
    assert run(capture, syn(MSS + toa(254, 6666, FORGED), isn=5), syn_ack(isn=77)) is None
    assert capture.table.get(KEY) is None


def test_a_reused_four_tuple_is_a_new_connection(capture: Capture) -> None:
    assert run(capture, syn(), syn_ack(), REAL_ACK) == REAL_TOA
    new_isn, new_server_isn = 900, 4_000_000
    again = segment(SERVER, PORT, LB_PORT, MSS, SYN_ACK, dst=LB, seq=new_server_isn, ack=new_isn + 1)
    second = from_lb(NOP + NOP + TS + toa(200, 1, FORGED), seq=new_isn + 1, ack=new_server_isn + 1)
    assert run(capture, syn(isn=new_isn), again) is None  # the kernel answered: the old entry is gone
    assert run(capture, second) == TOA(200, "192.0.2.66", 1)


def test_a_retransmitted_syn_keeps_its_number(capture: Capture) -> None:
    assert run(capture, syn(), syn(MSS + toa(254, 50000, REAL)), syn_ack()) == REAL_TOA


def test_without_a_handshake_nothing_is_believed(capture: Capture) -> None:
    assert run(capture, REAL_ACK) is None
    assert capture.ignored["unconfirmed"] == 1


def test_ipv6_follows_the_same_rules() -> None:
    capture = Capture(pack_kinds(DEFAULT_KINDS), [8000])
    lb6, server6 = ipaddress.ip_address("2001:db8:5::1").packed, ipaddress.ip_address("2001:db8:5::20").packed

    def v6(src: bytes, dst: bytes, sport: int, dport: int, options: bytes, flags: int, seq: int, ack: int) -> bytes:
        body = struct.pack("!HHII", sport, dport, seq, ack) + tcp(options, flags)[12:]
        packet = ipv6(body)
        return with_checksum(packet[:8] + src + dst + packet[40:])

    client = ipaddress.ip_address("2001:db8:c::10").packed
    capture.observe(v6(lb6, server6, 41000, 8000, MSS, SYN, 10, 0))
    capture.observe(v6(server6, lb6, 8000, 41000, MSS, SYN_ACK, 20, 11))
    capture.observe(v6(lb6, server6, 41000, 8000, toa(253, 1, FORGED * 4), ACK, 99, 21))  # out of window
    capture.observe(v6(lb6, server6, 41000, 8000, toa(253, 2, client), ACK, 11, 21))
    entry = capture.table.get((lb6, 41000, server6, 8000))
    assert entry is not None and entry.toa == TOA(253, "2001:db8:c::10", 2)
    assert capture.ignored["window"] == 1
