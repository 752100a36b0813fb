"""End to end over a real kernel TCP path: client namespace -> emulated full-NAT load balancer -> server namespace.

The balancer (``lab_lb.py``) replaces the client's source with its SNAT address and inserts the TOA option per
virtual port (kind, length, which packets). Real servers (uvicorn and gunicorn, the runnable examples) resolve the
client through the adapters' ``toa=`` option and answer with it. The balancer's SNAT addresses are the only trusted
proxies. Needs root (namespaces, raw sockets): without it they are skipped, each naming why; CI runs as root.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.privileges import needs_root

from .lab import CLIENT4, CLIENT6, SERVER4, SERVER6, SNAT4, SNAT6, VIP4, VIP6, Lab, http_get, lab

TRUSTED = {"REALIP_LAYER4_PROXIES": f"{SNAT4},{SNAT6}"}
UVICORN_CAPTURE, UVICORN_SYN, GUNICORN_CAPTURE, GUNICORN_SYN = 8000, 8100, 8200, 8300
FORGED = "192.0.2.99"
FORGED_BY_LB = "192.0.2.66"  # what lab_lb.py's "forge" rules claim
APP = "examples.toa_gunicorn:app"

#: Virtual port -> (server port, TOA kind or None, packets that carry it, whether the balancer SNATs).
RULES: dict[int, dict[str, Any]] = {
    9000: {"server_port": UVICORN_CAPTURE, "kind": 254, "where": ["ack"]},
    9001: {"server_port": UVICORN_CAPTURE, "kind": 200, "where": ["ack"]},
    9002: {"server_port": UVICORN_CAPTURE, "kind": 254, "where": ["data"]},
    9003: {"server_port": UVICORN_CAPTURE, "kind": 253, "where": ["ack"]},
    9004: {"server_port": UVICORN_CAPTURE, "kind": 254, "where": ["ack"]},  # used over IPv6: 254/20
    9005: {"server_port": UVICORN_CAPTURE, "kind": 254, "where": ["syn", "ack"], "snat": False, "claim": FORGED},
    9006: {"server_port": UVICORN_CAPTURE},  # full NAT without TOA
    9007: {"server_port": UVICORN_CAPTURE, "kind": 254, "where": ["syn"]},
    9008: {"server_port": UVICORN_CAPTURE, "kind": 201, "where": ["ack"]},  # used over IPv6: 201/20 (JD)
    9009: {"server_port": UVICORN_CAPTURE, "kind": 202, "where": ["syn", "ack", "data"]},  # a kind not honoured
    # The balancer's own address and port forging a TOA (FORGED_BY_LB) right after the handshake ACK; each isolates
    # one capture rule (the first two carry no real TOA, so only their rule keeps the forgery out):
    9040: {"server_port": UVICORN_CAPTURE, "forge": "out_of_window"},
    9041: {"server_port": UVICORN_CAPTURE, "forge": "bad_checksum"},
    9042: {"server_port": UVICORN_CAPTURE, "kind": 254, "where": ["ack"], "forge": "override"},
    9043: {"server_port": UVICORN_CAPTURE, "kind": 254, "where": ["ack"], "forge": "syn_on_live"},
    9044: {"server_port": GUNICORN_CAPTURE, "kind": 254, "where": ["data"], "forge": "bad_checksum"},
    9010: {"server_port": UVICORN_SYN, "kind": 254, "where": ["syn"]},
    9011: {"server_port": UVICORN_SYN, "kind": 253, "where": ["syn"]},
    9012: {"server_port": UVICORN_SYN, "kind": 254, "where": ["ack"]},  # the SYN carries nothing
    9020: {"server_port": GUNICORN_CAPTURE, "kind": 254, "where": ["ack"]},
    9021: {"server_port": GUNICORN_CAPTURE, "kind": 200, "where": ["ack"]},
    9022: {"server_port": GUNICORN_CAPTURE, "kind": 253, "where": ["ack"]},  # the IPv6 formats, over IPv6
    9023: {"server_port": GUNICORN_CAPTURE, "kind": 254, "where": ["ack"]},
    9024: {"server_port": GUNICORN_CAPTURE, "kind": 201, "where": ["ack"]},
    9030: {"server_port": GUNICORN_SYN, "kind": 254, "where": ["syn"]},
    9031: {"server_port": GUNICORN_SYN, "kind": 254, "where": ["syn"], "snat": False, "claim": FORGED},
    9032: {"server_port": GUNICORN_SYN, "kind": 253, "where": ["syn"]},  # over IPv6
}


@pytest.fixture(scope="module")
@needs_root("network namespaces and raw sockets (the emulated full-NAT load balancer)")
def net() -> Iterator[Lab]:
    with lab(RULES) as built:
        uvicorn = [sys.executable, "examples/toa_uvicorn.py", "--host", SERVER4, "--host", SERVER6, "--port"]
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", "examples/toa_gunicorn_conf.py", "--bind"]
        both = [(SERVER4, 0), (SERVER6, 0)]
        for name, argv, port, env in [
            ("uvicorn-capture", [*uvicorn, str(UVICORN_CAPTURE)], UVICORN_CAPTURE, {"REALIP_LAYER4": "toa:capture"}),
            ("uvicorn-saved-syn", [*uvicorn, str(UVICORN_SYN)], UVICORN_SYN, {"REALIP_LAYER4": "toa:saved-syn"}),
            (
                "gunicorn-capture",
                [*gunicorn, f"{SERVER4}:{GUNICORN_CAPTURE}", "--bind", f"[{SERVER6}]:{GUNICORN_CAPTURE}", APP],
                GUNICORN_CAPTURE,
                {"REALIP_LAYER4": "toa:capture"},  # when_ready narrows the capture to the bound port
            ),
            (
                "gunicorn-saved-syn",
                [*gunicorn, f"{SERVER4}:{GUNICORN_SYN}", "--bind", f"[{SERVER6}]:{GUNICORN_SYN}", APP],
                GUNICORN_SYN,
                {"REALIP_LAYER4": "toa:saved-syn"},
            ),
        ]:
            hosts = [(h, port) for h, _ in both]
            # gunicorn: wait until both workers have started their TOA source (post_worker_init logs it)
            ready = None if name.startswith("uvicorn") else ("realip_toa: worker", 2)
            built.start_server(name, argv, hosts, {**TRUSTED, **env}, ready)
        yield built


def check_toa(answer: dict[str, Any], client: tuple[str, int], snat: str, mode: str) -> None:
    assert answer["mode"] == mode
    assert (answer["client_ip"], answer["client_port"]) == client, answer
    assert answer["source"] == "toa" and answer["peer"] == snat
    assert answer["toa"] == list(client)


@pytest.mark.parametrize(
    ("vport", "what"),
    [
        (9000, "254/8 on the handshake ACK"),
        (9001, "200/8 on the handshake ACK"),
        (9002, "254/8 on the first data segment only"),
        (9007, "254/8 on the SYN only"),
    ],
)
def test_uvicorn_capture_ipv4(net: Lab, vport: int, what: str) -> None:
    answers, client = http_get(net, VIP4, vport)
    check_toa(answers[0], client, SNAT4, "capture")
    assert client[0] == CLIENT4


@pytest.mark.parametrize(("vport", "kind"), [(9003, 253), (9004, 254), (9008, 201)])
def test_uvicorn_capture_ipv6_client(net: Lab, vport: int, kind: int) -> None:
    answers, client = http_get(net, VIP6, vport)
    check_toa(answers[0], client, SNAT6, "capture")
    assert client[0] == CLIENT6


def test_uvicorn_capture_keep_alive_keeps_the_client(net: Lab) -> None:
    answers, client = http_get(net, VIP4, 9000, requests=3)
    for answer in answers:
        check_toa(answer, client, SNAT4, "capture")


def test_forged_toa_from_an_untrusted_peer_is_ignored(net: Lab) -> None:
    answers, client = http_get(net, VIP4, 9005)
    answer = answers[0]
    assert answer["toa"] == [FORGED, client[1]]  # the option was there and was read...
    assert (answer["client_ip"], answer["source"], answer["peer"]) == (CLIENT4, "peer", CLIENT4)  # ...not believed


def test_without_toa_the_client_is_the_balancer(net: Lab) -> None:
    answers, client = http_get(net, VIP4, 9006)
    assert (answers[0]["client_ip"], answers[0]["source"], answers[0]["toa"]) == (SNAT4, "peer", None)
    assert client[0] == CLIENT4


def test_uvicorn_saved_syn_ipv4_over_keep_alive(net: Lab) -> None:
    answers, client = http_get(net, VIP4, 9010, requests=2)
    for answer in answers:  # the SYN is read once; the second request is answered from the registry
        check_toa(answer, client, SNAT4, "saved-syn")


def test_uvicorn_saved_syn_ipv6_client(net: Lab) -> None:
    answers, client = http_get(net, VIP6, 9011)
    check_toa(answers[0], client, SNAT6, "saved-syn")


def test_saved_syn_cannot_see_an_ack_only_toa(net: Lab) -> None:
    answers, _client = http_get(net, VIP4, 9012)
    assert (answers[0]["client_ip"], answers[0]["source"], answers[0]["toa"]) == (SNAT4, "peer", None)


@pytest.mark.parametrize("vport", [9020, 9021])
def test_gunicorn_capture(net: Lab, vport: int) -> None:
    for _ in range(3):  # two workers, each with its own capture started by post_worker_init
        answers, client = http_get(net, VIP4, vport)
        check_toa(answers[0], client, SNAT4, "capture")


@pytest.mark.parametrize(("vport", "kind"), [(9022, 253), (9023, 254), (9024, 201)])
def test_gunicorn_capture_ipv6_client(net: Lab, vport: int, kind: int) -> None:
    answers, client = http_get(net, VIP6, vport)
    check_toa(answers[0], client, SNAT6, "capture")
    assert client[0] == CLIENT6


def test_gunicorn_saved_syn(net: Lab) -> None:
    answers, client = http_get(net, VIP4, 9030)
    check_toa(answers[0], client, SNAT4, "saved-syn")


def test_gunicorn_saved_syn_ipv6_client(net: Lab) -> None:
    answers, client = http_get(net, VIP6, 9032)
    check_toa(answers[0], client, SNAT6, "saved-syn")


def test_gunicorn_forged_toa_is_ignored(net: Lab) -> None:
    answers, client = http_get(net, VIP4, 9031)
    assert answers[0]["toa"] == [FORGED, client[1]]
    assert (answers[0]["client_ip"], answers[0]["source"]) == (CLIENT4, "peer")


def test_gunicorn_hooks_started_a_narrow_capture_in_each_worker(net: Lab) -> None:
    log = (net.tmp / "gunicorn-capture.log").read_text()
    assert "realip_toa: capture mode ready in the master" in log
    assert log.count(f"capture mode on all interfaces, ports {GUNICORN_CAPTURE}, kinds") == 2
    assert "realip_toa: saved-syn mode ready in the master" in (net.tmp / "gunicorn-saved-syn.log").read_text()


def test_an_option_kind_that_is_not_honoured_is_ignored(net: Lab) -> None:
    """202/8 on every packet: not one of the honoured kinds, so the client is the balancer (a trusted proxy)."""
    answers, client = http_get(net, VIP4, 9009)
    assert (answers[0]["client_ip"], answers[0]["source"], answers[0]["toa"]) == (SNAT4, "peer", None)
    assert client[0] == CLIENT4


@pytest.mark.parametrize(
    ("vport", "forgery"),
    [
        (9040, "an out-of-window segment (checksum right)"),
        (9041, "a segment right in every field but its checksum"),
    ],
)
def test_capture_ignores_forged_segments_the_kernel_drops(net: Lab, vport: int, forgery: str) -> None:
    """The balancer sends no TOA of its own; a segment from its address and port carrying one, which the kernel
    drops, must not give the connection a client (before the fix any captured segment's option was believed)."""
    answers, client = http_get(net, VIP4, vport, requests=2)
    for answer in answers:
        assert (answer["client_ip"], answer["source"], answer["toa"]) == (SNAT4, "peer", None), forgery
    assert client[0] == CLIENT4


@pytest.mark.parametrize(
    ("vport", "forgery"),
    [
        (9042, "a duplicate ACK after the real one (in window, checksum right)"),
        (9043, "a SYN on the live connection and the ACK that would follow it"),
    ],
)
def test_capture_keeps_the_first_toa_against_later_segments(net: Lab, vport: int, forgery: str) -> None:
    """After the real TOA: segments trying to override it are ignored (before the fix the last option won)."""
    for _ in range(2):
        answers, client = http_get(net, VIP4, vport, requests=2)
        for answer in answers:
            check_toa(answer, client, SNAT4, "capture")


def test_gunicorn_capture_ignores_a_bad_checksum_before_a_data_only_toa(net: Lab) -> None:
    """The forged segment has the right sequence and acknowledgment numbers and comes first; the real TOA is on the
    first data segment only, so only the checksum rule stands between the forgery and the answer."""
    for _ in range(3):  # both workers
        answers, client = http_get(net, VIP4, 9044)
        check_toa(answers[0], client, SNAT4, "capture")
