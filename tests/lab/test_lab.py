"""The TKE lab (issue 5): every path of the seed article, through real nginx and iptables NAT, to the example apps.

Each case sends one request from a client address (two IPv4, one IPv6), honest or carrying forged X-Forwarded-For,
X-Real-IP, Forwarded, X-Forwarded-Proto and X-Original-Forwarded-For, and checks what the app answered (client,
peer, scheme) and the client its server wrote in the access log. The realip settings are the ConfigMaps of
examples/kubernetes/, placeholders mapped to the lab's ranges (topology.PLACEHOLDERS): the lab proves the docs.

The URL cases follow the CLB L7 -> ingress-nginx paths, the app served at /shop: the URL each app builds
for itself (Starlette's ``url_for``, Flask's ``url_for(_external=True)``, the probe's ``request.url``) for honest
clients over the CLB's HTTP and HTTPS listeners, for clients forging X-Forwarded-Host, -Prefix, -Port and -Proto
through the CLB, at the ingress's NodePort and at the pod, and for a host the ingress does not route.
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
        headers = dict(t.FORGED_HEADERS) if self.forged else {}
        route = ""
        if self.path is None:
            host, port = (t.POD6 if v6 else t.POD4), t.app_port(self.config, self.server)
        else:
            host, port = (t.VIP6 if v6 else t.VIP4), self.path.entry_port(self.server)
            route = self.path.route
            if self.path.public_host:  # ingress-nginx routes this host only
                headers["Host"] = f"{self.path.public_host}:{port}"
        return {"id": self.id, "source": self.client, "host": host, "port": port, "path": f"{route}/?rid={self.rid}",
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


# -- the URL an app builds behind CLB L7 -> ingress-nginx ----------------------------------------------------------
#: A host nobody serves, a prefix nobody strips and a port nobody listens on: what a client forges.
FORGED_HOST, FORGED_PREFIX, FORGED_PORT = "evil.example", "/evil", "1"
URL_KINDS = {
    "honest": "an honest request",
    "honest-default-port": "an honest request naming no port, as for a CLB listening on 443",
    "forged-via-clb": "through the CLB, forging X-Forwarded-Host, -Prefix, -Port, -Proto and -For",
    "direct-to-ingress": "at ingress-nginx's NodePort (Local: it sees the client), forging the same",
    "foreign-host": "at ingress-nginx's NodePort, for a host no Ingress rule routes",
    "direct-to-app": "at the app pod itself, forging the same",
}


@dataclass(frozen=True)
class UrlCase:
    """One request to a URL-building app around a CLB L7 -> ingress-nginx path, and the URL it must build."""

    path: t.Chain
    server: str
    kind: str  #: a key of URL_KINDS
    scheme: str = "http"  #: the CLB listener's ("https": TLS ends at the CLB); the direct kinds are http
    client: str = t.CLIENTS_V4[0]

    @property
    def id(self) -> str:
        return f"urls/{self.path.key}/{self.server}/{self.kind}/{self.scheme}/{self.client}"

    @property
    def rid(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", self.id)

    @property
    def target(self) -> tuple[str, int]:
        """Where the client connects."""
        v6 = ":" in self.client
        if self.kind == "direct-to-app":
            return (t.POD6 if v6 else t.POD4), t.app_port(self.path.config, self.server)
        if self.kind in ("direct-to-ingress", "foreign-host"):
            return (t.NODE6 if v6 else t.NODE4), self.path.node_port(self.server)
        port = self.path.https_port(self.server) if self.scheme == "https" else self.path.entry_port(self.server)
        return (t.VIP6 if v6 else t.VIP4), port

    @property
    def host(self) -> str:
        """The Host the client sends: the public host (with the port it connected to unless that is the default)."""
        if self.kind == "foreign-host":
            return FORGED_HOST
        assert self.path.public_host is not None
        if self.kind == "honest-default-port":
            return self.path.public_host
        return f"{self.path.public_host}:{self.target[1]}"

    def request(self) -> dict[str, Any]:
        host, port = self.target
        headers = {"Host": self.host}
        if self.kind in ("forged-via-clb", "direct-to-ingress", "direct-to-app"):
            headers |= {
                "X-Forwarded-Host": FORGED_HOST,
                "X-Forwarded-Prefix": FORGED_PREFIX,
                "X-Forwarded-Port": FORGED_PORT,
                "X-Forwarded-Proto": "http" if self.scheme == "https" else "https",  # the other one
                "X-Forwarded-For": t.FORGED_XFF,
            }
        route = "" if self.kind == "direct-to-app" else self.path.route
        return {"id": self.id, "source": self.client, "host": host, "port": port, "path": f"{route}/?rid={self.rid}",
                "headers": headers, "tls": self.scheme == "https"}  # fmt: skip

    @property
    def status(self) -> int:
        return 404 if self.kind == "foreign-host" else 200  # ingress-nginx's default backend: no rule for that host

    @property
    def url(self) -> str:
        """The URL the app must build for itself (the route it serves, ``/``)."""
        forwarded, prefix = self.path.ingress == "forwarded", self.path.prefix
        if self.kind == "direct-to-app":  # an untrusted peer: nothing believed, the client's own Host and no prefix
            return f"http://{self.host}/"
        if self.kind in ("honest", "honest-default-port") or (self.kind == "forged-via-clb" and not forwarded):
            # Defaults: ingress-nginx wrote its own view over every forgery (Host, its scheme, its port, the
            # annotation's prefix); the host then carries the client's port. Behind the HTTPS listener that view's
            # scheme is the CLB -> ingress hop's, http: what use-forwarded-headers is for.
            scheme = self.scheme if forwarded else "http"
            return f"{scheme}://{self.host}{prefix}/"
        if self.kind == "direct-to-ingress" and not forwarded:
            return f"http://{self.host}{prefix}/"  # the client's own URL: ingress-nginx wrote over every forgery
        # use-forwarded-headers: ingress-nginx took the client's X-Forwarded-Host (the CLB passes it). realip refuses
        # it (not in allowed_hosts), so the app keeps its own Host, upstream-vhost's in-cluster name. The scheme is the
        # CLB's through it; at the NodePort directly it is the client's forged one (the hazard: keep it CLB-only).
        scheme = self.scheme if self.kind == "forged-via-clb" else "https"
        rule = self.path.rule
        assert rule is not None and rule.upstream_vhost is not None
        return f"{scheme}://{rule.upstream_vhost}{prefix}/"

    @property
    def client_ip(self) -> str:
        return self.client

    @property
    def description(self) -> str:
        """The request in words, for the lab's document."""
        listener = "" if self.kind.startswith("direct") or self.kind == "foreign-host" else f"{self.scheme.upper()}: "
        source = f" (from `{self.client}`)" if self.client != t.CLIENTS_V4[0] else ""
        return f"{listener}{URL_KINDS[self.kind]}, `Host: {self.host}`{source}"


_URL_PATHS = [path for path in t.CHAINS if path.https and path.ingress != "none"]
URL_CASES = [
    *(
        UrlCase(path, server, kind, scheme, client)
        for path in _URL_PATHS
        for server in t.SERVERS
        for kind, scheme, client in (
            ("honest", "http", t.CLIENTS_V4[0]),
            ("honest", "https", t.CLIENTS_V4[0]),
            ("honest", "https", t.CLIENT_V6),
            ("honest-default-port", "https", t.CLIENTS_V4[1]),
            ("forged-via-clb", "http", t.CLIENTS_V4[0]),
            ("forged-via-clb", "https", t.CLIENTS_V4[0]),
            ("direct-to-ingress", "http", t.CLIENTS_V4[0]),
            ("foreign-host", "http", t.CLIENTS_V4[0]),
        )
    ),
    *(UrlCase(_URL_PATHS[0], server, "direct-to-app") for server in t.SERVERS),
]


def answer_of(server: str, body: Any) -> dict[str, Any]:
    """The client, peer, scheme and own URL an app answered (each example shapes its JSON a little differently)."""
    assert isinstance(body, dict), body
    if server == "probe":
        return {"client": body["client"]["client_ip"], "peer": body["peer"]["ip"], "scheme": body["scheme"],
                "headers": body["headers"], "url": body["request"]["url"]}  # fmt: skip
    answer = {"client": body["client"], "peer": body["peer"], "scheme": body["scheme"], "url": body["url"]}
    if server == "gunicorn":
        assert body["remote_addr"] == body["client"], body  # Flask's request.remote_addr agrees
    return answer


def logged_client(log: str, server: str, rid: str) -> str:
    """The client address the server's access log gives for the request ``rid`` (whatever path prefix the line shows:
    gunicorn logs the request line as it arrived, uvicorn the scope's path, which realip gave back its prefix)."""
    request = '"GET \\S*' + re.escape(f'/?rid={rid} HTTP/1.1"')
    pattern = rf"^(\S+) - - \[[^\]]*\] {request}" if server == "gunicorn" else rf"^INFO:\s+(\S+):\d+ - {request}"
    found = re.findall(pattern, log, re.MULTILINE)
    assert len(found) == 1, f"{len(found)} access-log lines for {rid}:\n{log[-3000:]}"
    return str(found[0])


@pytest.fixture(scope="module")
def exchanges(lab: Running) -> dict[str, dict[str, Any]]:
    """Send every case's request once (one client process), and wait until every server has logged its lines."""
    requests = [case.request() for case in CASES] + [case.request() for case in URL_CASES]
    answers = {answer["id"]: answer for answer in lab.client(requests)}
    deadline = time.monotonic() + 10
    logged = [(case.config, case.server, case.rid) for case in CASES]
    logged += [(case.path.config, case.server, case.rid) for case in URL_CASES if case.status == 200]
    for config, server, rid in logged:
        process = lab.apps[config, server]
        while f"rid={rid} " not in process.log() and time.monotonic() < deadline:
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


@pytest.mark.parametrize("case", URL_CASES, ids=lambda case: case.id)
def test_url_behind_clb_l7_and_ingress_nginx(lab: Running, exchanges: dict[str, dict[str, Any]], case: UrlCase) -> None:
    """The URL each app builds for itself (scheme, host, port, prefix) is the one the client used; no forged
    host or prefix ever reaches it; where a path cannot carry the client's scheme, the lab pins what it carries."""
    got = exchanges[case.id]
    assert got["error"] is None and got["status"] == case.status, got
    if case.status != 200:
        return
    answer = answer_of(case.server, got["body"])
    assert answer["url"] == case.url, answer
    assert answer["client"] == case.client_ip, answer
    assert FORGED_HOST not in answer["url"] and FORGED_PREFIX not in answer["url"]
    log = lab.apps[case.path.config, case.server].log()
    assert logged_client(log, case.server, case.rid) == case.client_ip


def test_what_ingress_nginx_writes_behind_the_clb(exchanges: dict[str, dict[str, Any]]) -> None:
    """The forwarding headers that reach the app on the CLB L7 -> ingress-nginx paths (the probe's X-Lab-Received):
    the facts 04c's settings rest on. X-Forwarded-Port is ingress-nginx's own port behind the HTTPS listener (or what
    the client sent, with use-forwarded-headers), which is why 04c leaves REALIP_PORT_HEADER unset."""

    def received(path: str, kind: str, scheme: str) -> dict[str, str]:
        case = UrlCase(t.CHAIN[path], "probe", kind, scheme)
        pairs = exchanges[case.id]["received"]
        assert len({name.lower() for name, _ in pairs}) == len(pairs), pairs  # one line each
        return {name.lower(): value for name, value in pairs}

    defaults, forwarded = "7-clb-l7-ingress-nginx-defaults", "8-clb-l7-ingress-nginx-forwarded"
    vhost = "realip-demo-nginx-l7.default.svc.cluster.local"
    client = t.CLIENTS_V4[0]
    for path in (defaults, forwarded):
        chain = t.CHAIN[path]
        http, https, own = chain.entry_port("probe"), chain.https_port("probe"), str(chain.ingress_port("probe"))
        honest = received(path, "honest", "https")
        assert honest["host"] == vhost  # upstream-vhost
        assert honest["x-forwarded-host"] == f"shop.example.com:{https}"  # the Host the client sent the CLB
        assert honest["x-forwarded-port"] == own != str(https)  # ingress-nginx's own port, not the client's
        assert honest["x-forwarded-prefix"] == "/shop"
        assert honest["x-client-proto"] == "https"  # the CLB's own header, passed on untouched
        assert honest["x-forwarded-proto"] == ("https" if path == forwarded else "http")
        assert received(path, "honest", "http")["x-forwarded-port"] == own == str(http)
        forged = received(path, "forged-via-clb", "https")
        assert forged["x-forwarded-prefix"] == "/shop"  # the annotation's, over the client's
        assert forged["x-forwarded-proto"] == ("https" if path == forwarded else "http")  # the CLB overwrote it
        if path == defaults:  # ingress-nginx wrote its own view over every forgery
            assert (forged["x-forwarded-host"], forged["x-forwarded-port"]) == (f"shop.example.com:{https}", own)
            assert forged["x-forwarded-for"] == t.CLB4 and forged["x-original-forwarded-for"].endswith(client)
        else:  # use-forwarded-headers: the client's host and port, passed by the CLB, taken by ingress-nginx
            assert (forged["x-forwarded-host"], forged["x-forwarded-port"]) == (FORGED_HOST, FORGED_PORT)
            assert forged["x-forwarded-for"] == f"{t.FORGED_XFF}, {client}, {t.CLB4}"  # compute-full-forwarded-for
        direct = received(path, "direct-to-ingress", "http")
        expected_host = f"shop.example.com:{chain.node_port('probe')}" if path == defaults else FORGED_HOST
        assert direct["x-forwarded-host"] == expected_host
        assert direct["x-forwarded-proto"] == ("https" if path == forwarded else "http")  # forwarded: the client's


def test_refused_hosts_are_logged(lab: Running, exchanges: dict[str, dict[str, Any]]) -> None:
    """The forged X-Forwarded-Host that use-forwarded-headers let through is refused by allowed_hosts, and each app
    says so in its log (rate-limited: once a minute per process)."""
    for server in t.SERVERS:
        log = lab.apps["nginx-l7", server].log()
        assert f"realip: the forwarded host '{FORGED_HOST}' (through peer {t.INGRESS4}) is not in allowed_hosts" in log


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
        # Behind the CLB's layer 7: at its defaults ingress-nginx names its own peer, the CLB, and the client is only
        # in X-Original-Forwarded-For; with use-forwarded-headers its realip module finds the client in the CLB's
        # X-Forwarded-For, and compute-full-forwarded-for appends the CLB.
        "7-clb-l7-ingress-nginx-defaults": {"x-forwarded-for": t.CLB4, "x-real-ip": t.CLB4, "x-forwarded-proto": "http",
                                            "x-original-forwarded-for": client},
        "8-clb-l7-ingress-nginx-forwarded": {"x-forwarded-for": f"{client}, {t.CLB4}", "x-real-ip": client,
                                             "x-forwarded-proto": "http", "x-original-forwarded-for": client},
    }  # fmt: skip
    for key, headers in expected.items():
        case = Case(t.CHAIN[key], t.CHAIN[key].config, "probe", client, False)
        got = answer_of("probe", exchanges[case.id]["body"])
        assert dict(got["headers"]) == headers, (key, got["headers"])
    forged = {
        "3-clb-l7-direct": f"{t.FORGED_XFF}, {client}",  # the CLB appends
        "4-tke-ingress": f"{t.FORGED_XFF}, {client}",
        "5-ingress-nginx-defaults": client,  # ingress-nginx replaces; the original moves to X-Original-Forwarded-For
        "6-ingress-nginx-fullxff": f"{t.FORGED_XFF}, {client}",  # compute-full-forwarded-for appends
        "7-clb-l7-ingress-nginx-defaults": t.CLB4,
        "8-clb-l7-ingress-nginx-forwarded": f"{t.FORGED_XFF}, {client}, {t.CLB4}",
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
    for config in ("local", "direct", "nginx-defaults", "nginx-fullxff", "nginx-l7"):  # untrusted, or a header came
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
            kind: exchanges[Case(path, path.config, "probe", client, kind == "forged").id]
            for kind in ("honest", "forged")
        }
        for path in t.CHAINS
        if path.config != "off"
    }
    urls: list[doc.UrlRow] = [
        (case.path.key, case.description, exchanges[case.id])
        for case in sorted(URL_CASES, key=lambda case: case.path.index)  # by path, then in URL_CASES's order
        if case.server == "probe"
    ]
    text = doc.render(observed, urls)
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
