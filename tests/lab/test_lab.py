"""The TKE lab (issue 5): every path of the seed article, through real nginx and iptables NAT, to the example apps.

Each case sends one request from a client address (two IPv4, one IPv6), honest or carrying forged X-Forwarded-For,
X-Real-IP, Forwarded, X-Forwarded-Proto and X-Original-Forwarded-For, and checks what the app answered (client,
peer, scheme) and the client its server wrote in the access log. The realip settings are the ConfigMaps of
examples/kubernetes/, placeholders mapped to the lab's ranges (topology.PLACEHOLDERS): the lab proves the docs.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

from . import doc
from . import topology as t
from .build import Running
from .netns import which


@dataclass(frozen=True)
class Case:
    """One request: along ``path`` (or straight to the pod when ``path`` is None) to one server of ``config``."""

    path: t.Chain | None
    config: str
    server: str
    client: str
    forged: bool

    @property
    def id(self) -> str:
        where = self.path.key if self.path is not None else f"direct-to-pod-{self.config}"
        return f"{where}/{self.server}/{self.client}/{'forged' if self.forged else 'honest'}"

    @property
    def rid(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", self.id)

    def request(self) -> dict[str, Any]:
        v6 = ":" in self.client
        if self.path is None:
            host, port = (t.POD6 if v6 else t.POD4), t.app_port(self.config, self.server)
        else:
            host, port = (t.VIP6 if v6 else t.VIP4), self.path.entry_port(self.server)
        headers = t.FORGED_HEADERS if self.forged else {}
        return {"id": self.id, "source": self.client, "host": host, "port": port, "path": f"/?rid={self.rid}",
                "headers": headers}  # fmt: skip

    @property
    def client_ip(self) -> str:
        if self.path is None:
            return self.client
        return t.expected_client(self.path, self.client, forged=self.forged)

    @property
    def peer(self) -> str:
        return self.client if self.path is None else self.path.peer(self.client)

    @property
    def scheme(self) -> str:
        hazard = self.path is not None and self.path.key == "1-cluster-trusting-nodes" and self.forged
        return "https" if hazard else "http"


PATH_CASES = [
    Case(path, path.config, server, client, forged)
    for path in t.CHAINS
    if path.config != "off"
    for server in t.servers_for(path.config)
    for client in t.CLIENTS
    for forged in (False, True)
]
DIRECT_CASES = [
    Case(None, config, server, client, True)
    for config in t.EXAMPLE_DIRS
    for server in t.servers_for(config)
    for client in t.CLIENTS
]
CASES = PATH_CASES + DIRECT_CASES


def answer_of(server: str, body: Any) -> dict[str, Any]:
    """The client, peer and scheme an app answered (each example shapes its JSON a little differently)."""
    assert isinstance(body, dict), body
    if server == "probe":
        return {"client": body["client"]["client_ip"], "peer": body["peer"]["ip"], "scheme": body["scheme"],
                "headers": body["headers"]}  # fmt: skip
    answer = {"client": body["client"], "peer": body["peer"], "scheme": body["scheme"]}
    if server == "gunicorn":
        assert body["remote_addr"] == body["client"], body  # Flask's request.remote_addr agrees
    return answer


def logged_client(log: str, server: str, rid: str) -> str:
    """The client address the server's access log gives for the request ``rid``."""
    request = re.escape(f'"GET /?rid={rid} HTTP/1.1"')
    pattern = rf"^(\S+) - - \[[^\]]*\] {request}" if server == "gunicorn" else rf"^INFO:\s+(\S+):\d+ - {request}"
    found = re.findall(pattern, log, re.MULTILINE)
    assert len(found) == 1, f"{len(found)} access-log lines for {rid}:\n{log[-3000:]}"
    return str(found[0])


@pytest.fixture(scope="module")
def exchanges(lab: Running) -> dict[str, dict[str, Any]]:
    """Send every case's request once (one client process), and wait until every server has logged its lines."""
    answers = {answer["id"]: answer for answer in lab.client([case.request() for case in CASES])}
    deadline = time.monotonic() + 10
    for case in CASES:
        process = lab.apps[case.config, case.server]
        while f"rid={case.rid} " not in process.log() and time.monotonic() < deadline:
            time.sleep(0.05)
    return answers


def _check(lab: Running, exchanges: dict[str, dict[str, Any]], case: Case) -> dict[str, Any]:
    got = exchanges[case.id]
    assert got["error"] is None and got["status"] == 200, got
    answer = answer_of(case.server, got["body"])
    assert answer["client"] == case.client_ip, answer
    assert answer["peer"] == case.peer, answer
    assert answer["scheme"] == case.scheme, answer
    log = lab.apps[case.config, case.server].log()
    assert logged_client(log, case.server, case.rid) == case.client_ip
    return answer


@pytest.mark.parametrize("case", PATH_CASES, ids=lambda case: case.id)
def test_path(lab: Running, exchanges: dict[str, dict[str, Any]], case: Case) -> None:
    """Scenarios 1-8: each path, each server, IPv4 and IPv6, honest and forged: the client the docs promise."""
    answer = _check(lab, exchanges, case)
    assert case.path is not None
    if case.forged and case.path.key != "1-cluster-trusting-nodes":
        assert answer["client"] not in (t.FORGED_CLIENT, "2001:db8:bad::1")
    if case.server == "probe" and case.forged:
        # The forgeries are live: they reached the app through every proxy, and realip still did not take them.
        arrived = " ".join(value for _, value in answer["headers"])
        assert t.FORGED_CLIENT in arrived, answer["headers"]


@pytest.mark.parametrize("case", DIRECT_CASES, ids=lambda case: case.id)
def test_direct_to_pod_with_forged_headers(lab: Running, exchanges: dict[str, dict[str, Any]], case: Case) -> None:
    """Scenario 7: a client reaching the pod itself, forging every header, is reported as itself by every config."""
    _check(lab, exchanges, case)


def test_what_each_proxy_writes(exchanges: dict[str, dict[str, Any]]) -> None:
    """The headers each path delivers to the app (the probe echoes them): the facts the examples' configs rely on."""
    client = t.CLIENTS_V4[0]
    expected = {
        "1-cluster": {},
        "2-local": {},
        "3-clb-l4-direct": {},
        "3-clb-l7-direct": {"x-forwarded-for": client, "x-real-ip": client, "x-forwarded-proto": "http"},
        "4-tke-ingress": {"x-forwarded-for": client, "x-real-ip": client, "x-forwarded-proto": "http"},
        "5-ingress-nginx-defaults": {"x-forwarded-for": client, "x-real-ip": client, "x-forwarded-proto": "http"},
        "6-ingress-nginx-fullxff": {"x-forwarded-for": client, "x-real-ip": client, "x-forwarded-proto": "http"},
    }
    for key, headers in expected.items():
        case = Case(t.CHAIN[key], t.CHAIN[key].config, "probe", client, False)
        got = answer_of("probe", exchanges[case.id]["body"])
        assert dict(got["headers"]) == headers, (key, got["headers"])
    forged = {
        "3-clb-l7-direct": f"{t.FORGED_XFF}, {client}",  # the CLB appends
        "4-tke-ingress": f"{t.FORGED_XFF}, {client}",
        "5-ingress-nginx-defaults": client,  # ingress-nginx replaces; the original moves to X-Original-Forwarded-For
        "6-ingress-nginx-fullxff": f"{t.FORGED_XFF}, {client}",  # compute-full-forwarded-for appends
        "2-local": t.FORGED_XFF,  # layer 4: untouched
    }
    for key, xff in forged.items():
        case = Case(t.CHAIN[key], t.CHAIN[key].config, "probe", client, True)
        got = dict(answer_of("probe", exchanges[case.id]["body"])["headers"])
        assert got["x-forwarded-for"] == xff, (key, got)
    defaults = Case(t.CHAIN["5-ingress-nginx-defaults"], "nginx-defaults", "probe", client, True)
    got = dict(answer_of("probe", exchanges[defaults.id]["body"])["headers"])
    assert got["x-original-forwarded-for"] == t.FORGED_XFF
    assert got["x-real-ip"] == client


@pytest.mark.parametrize("server", t.SERVERS)
def test_cluster_policy_warns_once(lab: Running, exchanges: dict[str, dict[str, Any]], server: str) -> None:
    """Scenario 1: a trusted node sending no header is logged once (rate-limited), naming the node and the fix."""
    log = lab.apps["tke-ingress", server].log()
    assert log.count("sent no forwarding header") == 1, log[-3000:]
    assert f"realip: trusted peer {t.BRIDGE4} sent no forwarding header" in log
    assert "externalTrafficPolicy: Local" in log
    for config in ("local", "direct", "nginx-defaults", "nginx-fullxff"):  # untrusted peers, or a header arrived
        assert "sent no forwarding header" not in lab.apps[config, server].log()


ALLOWED = [ipaddress.ip_network(n) for n in (*t.LAB_PREFIXES_V4, t.LAB_PREFIX_V6, "127.0.0.0/8", "::1/128")]


def test_lab_stays_inside_its_ranges(lab: Running) -> None:
    """No host has a default route, and every address is in a documentation range or 100.64.0.0/10."""
    for short, host in lab.lab.hosts.items():
        for family in ("-4", "-6"):
            routes = json.loads(host.run("ip", "-j", family, "route", "show", "table", "all"))
            assert not [r for r in routes if r.get("dst") == "default"], (short, routes)
        for link in json.loads(host.run("ip", "-j", "address", "show")):
            for info in link.get("addr_info", []):
                address = ipaddress.ip_address(info["local"])
                assert address.is_link_local or any(address in net for net in ALLOWED), (short, address)


def test_lab_configs_doc_is_current(exchanges: dict[str, dict[str, Any]]) -> None:
    """examples/kubernetes/lab-configs.md is what this run observed (REALIP_LAB_WRITE_DOC=1 rewrites it)."""
    client = t.CLIENTS_V4[0]
    observed = {
        path.key: {
            kind: exchanges[Case(path, path.config, "probe", client, kind == "forged").id]["body"]
            for kind in ("honest", "forged")
        }
        for path in t.CHAINS
        if path.config != "off"
    }
    text = doc.render(observed)
    if os.environ.get("REALIP_LAB_WRITE_DOC"):
        doc.DOC.write_text(text, encoding="utf-8")
    current = doc.DOC.read_text(encoding="utf-8") if doc.DOC.exists() else ""
    assert current == text, f"{doc.DOC} is out of date: run  REALIP_LAB_WRITE_DOC=1 pytest tests/lab"


# -- load -------------------------------------------------------------------------------------------------------
def _wrk(lab: Running, url: str, expected: str, seconds: int, connections: int = 8) -> dict[str, float]:
    """A bounded wrk run from the client host; every response is checked (check.lua) for ``expected``."""
    wrk = which("wrk")
    assert wrk is not None
    script = t.REPO / "tests" / "lab" / "check.lua"
    out = lab.host("client").run(
        wrk, "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "3s", "-s", str(script), url,
        "--", expected, timeout=seconds + 30,
    )  # fmt: skip
    match = re.search(r"LAB ok=(\d+) bad=(\d+) requests=(\d+) errors=(\d+) duration_us=(\d+)", out)
    assert match is not None, out
    ok, bad, requests, errors, duration = (int(group) for group in match.groups())
    assert (bad, errors) == (0, 0), out
    assert ok == requests > 0, out
    return {"requests": requests, "rps": requests / (duration / 1e6)}


def test_load_through_the_tke_ingress_chain(lab: Running) -> None:
    """Bounded load through CLB layer 7 -> NodePort SNAT -> uvicorn: no errors, every answer names the client, RSS
    stable; then throughput with and without realip, through the chain and straight to the pod (printed only)."""
    path, app = t.CHAIN["4-tke-ingress"], lab.apps["tke-ingress", "uvicorn"]
    client = t.CLIENTS_V4[0]  # the client host's source address towards the VIP
    url = f"http://{t.VIP4}:{path.entry_port('uvicorn')}/"
    _wrk(lab, url, f'"client":"{client}"', seconds=2)  # warm-up: imports, caches, connection pools
    before = app.rss_kib()
    loaded = _wrk(lab, url, f'"client":"{client}"', seconds=6)
    after = app.rss_kib()
    assert after - before < 16 * 1024, f"RSS grew from {before} to {after} KiB over {loaded['requests']} requests"

    # Throughput, realip vs the same Starlette answer without it: alternated twice, best of each (no assertion on
    # speed: the numbers depend on the machine and on what else runs on it).
    chain_off = f"http://{t.VIP4}:{t.CHAIN['4-tke-ingress-no-realip'].entry_port('uvicorn')}/"
    runs = {
        "chain, realip": (url, f'"client":"{client}"'),
        "chain, without": (chain_off, f'"client":"::ffff:{t.BRIDGE4}"'),  # no realip: the app sees the node
        "direct, realip": (f"http://{t.POD4}:{t.app_port('tke-ingress', 'uvicorn')}/", f'"client":"{client}"'),
        "direct, without": (f"http://{t.POD4}:{t.app_port('off', 'uvicorn')}/", f'"client":"::ffff:{client}"'),
    }
    best = dict.fromkeys(runs, 0.0)
    for _ in range(2):
        for name, (target, expected) in runs.items():
            best[name] = max(best[name], _wrk(lab, target, expected, seconds=3)["rps"])
    print(
        f"\nTKE lab load (wrk -t2 -c8, uvicorn + Starlette, one worker): {loaded['requests']} requests in 6 s through"
        f" CLB L7 -> NodePort SNAT -> pod, all naming {client}; app RSS {before} -> {after} KiB\n"
        f"  CLB L7 -> NodePort SNAT -> pod: realip {best['chain, realip']:.0f} req/s, without"
        f" {best['chain, without']:.0f} req/s, ratio {best['chain, realip'] / best['chain, without']:.3f}\n"
        f"  client -> pod directly:         realip {best['direct, realip']:.0f} req/s, without"
        f" {best['direct, without']:.0f} req/s, ratio {best['direct, realip'] / best['direct, without']:.3f}"
    )
