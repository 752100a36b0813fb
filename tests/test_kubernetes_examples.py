"""The Kubernetes examples (``examples/kubernetes``) are right: they parse, each app takes its realip settings from its
own ConfigMap, and those settings resolve the true client -- never a forged one -- for the traffic each TKE method
really delivers (peer and headers as the CLB, kube-proxy and ingress-nginx send them; see the README there).
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from realip import Resolver
from realip.cli import build_parser
from tests.servers import REPO, python, run_server

ROOT = REPO / "examples" / "kubernetes"
#: One directory per method (the seed's four TKE methods; ingress-nginx in three variants), each `kubectl apply`-able.
METHODS = (
    "01-service-local",
    "02-clb-direct-to-pod",
    "03-tke-ingress",
    "04-ingress-nginx/a-defaults",
    "04-ingress-nginx/b-full-forwarded-for",
    "04-ingress-nginx/c-behind-clb-l7",
    "05-toa",
)
#: What every app container takes from its ConfigMap, at least (each ConfigMap spells them out, empty ones too).
VARIABLES = ("REALIP_TRUSTED_PROXIES", "REALIP_HEADER", "REALIP_TRUSTED_HOPS", "REALIP_PROTO_HEADER")
#: The only addresses the manifests may name: documentation, shared (CGNAT), private, loopback and "any" ranges.
ALLOWED_V4 = tuple(
    ipaddress.ip_network(net)
    for net in (
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "100.64.0.0/10",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "0.0.0.0/32",
    )
)
PLACEHOLDER = "# replace with your"


# -- loading ------------------------------------------------------------------------------------------------------


def yaml_files(method: str) -> list[Path]:
    return sorted((ROOT / method).glob("*.yaml"))


def documents(method: str) -> list[dict[str, Any]]:
    """Every object in the method's directory, in file order."""
    return [doc for path in yaml_files(method) for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc]


def objects(method: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents(method) if doc["kind"] == kind]


def the_deployment(method: str) -> dict[str, Any]:
    (deployment,) = objects(method, "Deployment")
    return deployment


def container_env(method: str) -> dict[str, str]:
    """The REALIP_* environment the app container really gets: its configMapKeyRef entries, looked up."""
    maps = {doc["metadata"]["name"]: doc.get("data") or {} for doc in objects(method, "ConfigMap")}
    (container,) = the_deployment(method)["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for entry in container.get("env") or ():
        ref = entry["valueFrom"]["configMapKeyRef"]
        env[entry["name"]] = maps[ref["name"]][ref["key"]]
    return env


def resolver(method: str, **overrides: object) -> Resolver:
    return Resolver.from_env(container_env(method), **overrides)


# -- the manifests are well formed ---------------------------------------------------------------------------------


def test_every_method_directory_is_listed() -> None:
    found = {str(path.parent.relative_to(ROOT)) for path in ROOT.rglob("*.yaml")}
    assert found == set(METHODS)


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.yaml")), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_document_is_a_named_kubernetes_object(path: Path) -> None:
    docs = list(yaml.safe_load_all(path.read_text("utf-8")))
    assert docs and all(docs), "no empty documents"
    for doc in docs:
        assert isinstance(doc, dict)
        assert isinstance(doc["apiVersion"], str) and doc["apiVersion"]
        assert doc["kind"] in {"ConfigMap", "Deployment", "Service", "Ingress"}
        assert isinstance(doc["metadata"]["name"], str) and doc["metadata"]["name"]


@pytest.mark.parametrize("method", METHODS)
def test_the_app_takes_every_realip_variable_from_its_configmap(method: str) -> None:
    maps = {doc["metadata"]["name"]: doc.get("data") or {} for doc in objects(method, "ConfigMap")}
    (container,) = the_deployment(method)["spec"]["template"]["spec"]["containers"]
    refs = {entry["name"]: entry["valueFrom"]["configMapKeyRef"] for entry in container["env"]}
    (settings,) = [data for data in maps.values() if any(key.startswith("REALIP_") for key in data)]
    # Every setting the ConfigMap spells out (commented-out ones aside) reaches the container, in the same order.
    assert tuple(refs) == tuple(settings) and tuple(refs)[: len(VARIABLES)] == VARIABLES
    for name, ref in refs.items():
        assert ref["key"] == name and "optional" not in ref
        assert isinstance(maps[ref["name"]][name], str), f"{name} must be a string in the ConfigMap"
    # The settings are valid for the real resolver (a bad entry raises ConfigError naming it).
    assert isinstance(resolver(method), Resolver)


@pytest.mark.parametrize("method", METHODS)
def test_the_app_runs_the_realip_probe(method: str) -> None:
    (container,) = the_deployment(method)["spec"]["template"]["spec"]["containers"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    assert container["command"] == ["realip"] and "realip" in scripts
    args = build_parser().parse_args(container["args"])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8000)
    assert {port["name"]: port["containerPort"] for port in container["ports"]} == {"http": 8000}


@pytest.mark.parametrize("method", METHODS)
def test_services_and_ingresses_reach_the_app(method: str) -> None:
    pod_labels = the_deployment(method)["spec"]["template"]["metadata"]["labels"]
    app_services = [s for s in objects(method, "Service") if "namespace" not in s["metadata"]]
    assert app_services
    for service in app_services:
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]
    names = {service["metadata"]["name"] for service in app_services}
    controllers = {s["metadata"]["name"] for s in objects(method, "Service") if "namespace" in s["metadata"]}
    for ingress in objects(method, "Ingress"):
        # An Ingress in the ingress-nginx namespace (the CLB's layer 7 in front of ingress-nginx, 04c) reaches the
        # controller; every other one reaches the app.
        targets = controllers if ingress["metadata"].get("namespace") == "ingress-nginx" else names
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] in targets
    # The ingress-nginx controller objects (namespace ingress-nginx) select the controller installed separately.
    for service in objects(method, "Service"):
        if service["metadata"].get("namespace") == "ingress-nginx":
            assert service["spec"]["selector"]["app.kubernetes.io/component"] == "controller"


def annotations_of(doc: dict[str, Any]) -> dict[str, str]:
    return dict(doc["metadata"].get("annotations") or {})


def test_method_specific_settings() -> None:
    (local,) = objects("01-service-local", "Service")
    assert (local["spec"]["type"], local["spec"]["externalTrafficPolicy"]) == ("LoadBalancer", "Local")

    direct = {doc["metadata"]["name"]: doc for doc in documents("02-clb-direct-to-pod")}
    assert annotations_of(direct["realip-demo-direct-l4"])["service.cloud.tencent.com/direct-access"] == "true"
    assert direct["realip-demo-direct-l4"]["spec"]["type"] == "LoadBalancer"
    (direct_ingress,) = objects("02-clb-direct-to-pod", "Ingress")
    assert annotations_of(direct_ingress)["ingress.cloud.tencent.com/direct-access"] == "true"
    assert annotations_of(direct_ingress)["kubernetes.io/ingress.class"] == "qcloud"

    (tke_ingress,) = objects("03-tke-ingress", "Ingress")
    assert annotations_of(tke_ingress)["kubernetes.io/ingress.class"] == "qcloud"
    assert "ingress.cloud.tencent.com/direct-access" not in annotations_of(tke_ingress)
    (node_port,) = objects("03-tke-ingress", "Service")
    assert (node_port["spec"]["type"], node_port["spec"]["externalTrafficPolicy"]) == ("NodePort", "Cluster")

    expected = {
        "04-ingress-nginx/a-defaults": {"use-forwarded-headers": "false", "compute-full-forwarded-for": "false"},
        "04-ingress-nginx/b-full-forwarded-for": {
            "use-forwarded-headers": "true",
            "compute-full-forwarded-for": "true",
            "proxy-real-ip-cidr": "10.0.0.0/16",
        },
        "04-ingress-nginx/c-behind-clb-l7": {
            "use-forwarded-headers": "true",
            "compute-full-forwarded-for": "true",
            "proxy-real-ip-cidr": "100.64.0.0/10",
        },
    }
    for method, settings in expected.items():
        controller = {doc["kind"]: doc for doc in documents(method) if doc["metadata"].get("namespace")}
        assert controller["ConfigMap"]["metadata"]["name"] == "ingress-nginx-controller"
        assert controller["ConfigMap"]["data"] == settings
        assert controller["Service"]["spec"]["externalTrafficPolicy"] == "Local"
        (ingress,) = [doc for doc in objects(method, "Ingress") if "namespace" not in doc["metadata"]]
        assert ingress["spec"]["ingressClassName"] == "nginx"

    # 04c: a TKE Ingress (the CLB's layer 7, with the certificate) in front of the controller's NodePort, and the app
    # at /shop with the prefix annotation (only written with a rewrite-target) and its in-cluster name as Host.
    behind = "04-ingress-nginx/c-behind-clb-l7"
    ingresses = {doc["metadata"]["name"]: doc for doc in objects(behind, "Ingress")}
    clb = ingresses["ingress-nginx-via-clb"]
    assert annotations_of(clb)["kubernetes.io/ingress.class"] == "qcloud"
    assert clb["metadata"]["namespace"] == "ingress-nginx" and clb["spec"]["tls"][0]["hosts"] == ["shop.example.com"]
    controller_service = next(doc for doc in objects(behind, "Service") if doc["metadata"].get("namespace"))
    assert controller_service["spec"]["type"] == "NodePort"
    app_ingress = ingresses["realip-demo-nginx-l7"]
    assert {key: value for key, value in annotations_of(app_ingress).items() if key.startswith("nginx.")} == {
        "nginx.ingress.kubernetes.io/use-regex": "true",
        "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
        "nginx.ingress.kubernetes.io/x-forwarded-prefix": "/shop",
        "nginx.ingress.kubernetes.io/upstream-vhost": "realip-demo-nginx-l7.default.svc.cluster.local",
    }
    ((path,),) = [rule["http"]["paths"] for rule in app_ingress["spec"]["rules"]]
    assert (path["path"], path["pathType"]) == ("/shop(/|$)(.*)", "ImplementationSpecific")
    behind_env = container_env(behind)
    assert behind_env["REALIP_PORT_HEADER"] == "", "ingress-nginx's X-Forwarded-Port is its own port: never read"
    assert behind_env["REALIP_ALLOWED_HOSTS"] == "shop.example.com"

    (toa_map,) = objects("05-toa", "ConfigMap")
    assert "REALIP_LAYER4" not in toa_map["data"], "kernel mode by default: the user-space lines stay commented out"
    text = (ROOT / "05-toa" / "realip-demo.yaml").read_text("utf-8")
    assert re.search(r'^\s+# REALIP_LAYER4: "toa:capture"$', text, re.MULTILINE)
    assert re.search(r'^\s+# REALIP_LAYER4_PROXIES: "100.64.0.0/10"', text, re.MULTILINE)
    assert "planned" not in text and "REALIP_LAYER4_PROXIES (not to REALIP_TRUSTED_PROXIES" in text
    (toa_service,) = objects("05-toa", "Service")
    assert toa_service["spec"]["externalTrafficPolicy"] == "Local"


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.yaml")), ids=lambda p: str(p.relative_to(ROOT)))
def test_addresses_are_placeholders_and_marked(path: Path) -> None:
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        for literal in re.findall(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])", line):
            address = ipaddress.ip_address(literal)
            assert any(address in net for net in ALLOWED_V4), f"line {number}: {literal} is not a placeholder range"
        code = line.split("#", 1)[0]
        if re.search(r"\d{1,3}(?:\.\d{1,3}){3}/\d", code):
            assert PLACEHOLDER in line, f"line {number}: a CIDR in a setting needs '{PLACEHOLDER} ...'"


# -- the configurations resolve the true client --------------------------------------------------------------------

FORGED = "198.51.100.66"  # what a client writes into its own X-Forwarded-For


class Case(NamedTuple):
    """One request as the method delivers it to the app pod, and what realip must make of it."""

    method: str
    delivery: str
    peer: str  # the pod's socket peer
    headers: tuple[tuple[str, str], ...]  # as the last hop sends them
    client: str  # must resolve to this
    scheme: str | None  # and report this scheme
    forged: str | None  # the forged address that reaches the pod, if any (never the answer)


XFF, XRI, XFP, XOFF = "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "X-Original-Forwarded-For"

CASES = (
    # 1. L4 CLB + externalTrafficPolicy Local: no SNAT, no proxy headers; everything in a header is the client's.
    Case(
        "01-service-local",
        "Local: peer is the client, its XFF/X-Real-IP/proto are forged",
        "203.0.113.10",
        ((XFF, FORGED), (XRI, FORGED), (XFP, "https")),
        "203.0.113.10",
        None,
        FORGED,
    ),
    Case(
        "01-service-local",
        "Local, IPv6 client: peer is the client",
        "2001:db8::10",
        ((XFF, FORGED),),
        "2001:db8::10",
        None,
        FORGED,
    ),
    # 2. CLB direct to pod: L4 peer is the client; L7 peer is the CLB (or the client), headers from the CLB.
    Case(
        "02-clb-direct-to-pod",
        "L4 direct: peer is the client, its XFF is forged",
        "203.0.113.20",
        ((XFF, FORGED), (XFP, "https")),
        "203.0.113.20",
        None,
        FORGED,
    ),
    Case(
        "02-clb-direct-to-pod",
        "L7 direct: the CLB appends the client to the client's own XFF",
        "100.64.3.4",
        ((XFF, f"{FORGED}, 203.0.113.21"), (XRI, "203.0.113.21"), (XFP, "https")),
        "203.0.113.21",
        "https",
        FORGED,
    ),
    Case(
        "02-clb-direct-to-pod",
        "L7 direct: forged entries naming the CLB range stay left of the client",
        "100.64.3.4",
        ((XFF, f"100.64.9.9, {FORGED}, 203.0.113.24"), (XRI, "203.0.113.24"), (XFP, "https")),
        "203.0.113.24",
        "https",
        "100.64.9.9",
    ),
    Case(
        "02-clb-direct-to-pod",
        "L7 direct: the CLB replaced XFF with the client",
        "100.64.3.4",
        ((XFF, "203.0.113.22"), (XRI, "203.0.113.22"), (XFP, "http")),
        "203.0.113.22",
        "http",
        None,
    ),
    Case(
        "02-clb-direct-to-pod",
        "L7 direct, short backend connection: peer is the client itself",
        "203.0.113.23",
        ((XFF, f"{FORGED}, 203.0.113.23"), (XRI, "203.0.113.23"), (XFP, "https")),
        "203.0.113.23",
        None,
        FORGED,
    ),
    # 3. TKE Ingress -> NodePort: kube-proxy SNATs to a node address; XFF from the CLB.
    Case(
        "03-tke-ingress",
        "CLB L7 -> NodePort, pod on another node: peer is that node's VPC address",
        "10.0.1.17",
        ((XFF, f"{FORGED}, 203.0.113.30"), (XRI, "203.0.113.30"), (XFP, "https")),
        "203.0.113.30",
        "https",
        FORGED,
    ),
    Case(
        "03-tke-ingress",
        "CLB L7 -> NodePort, pod on the same node: peer is the node's bridge address",
        "172.16.0.1",
        ((XFF, f"{FORGED}, 203.0.113.31"), (XRI, "203.0.113.31"), (XFP, "http")),
        "203.0.113.31",
        "http",
        FORGED,
    ),
    # 4a. ingress-nginx defaults: XFF replaced by its peer (the client), the client's XFF moved to X-Original-...
    Case(
        "04-ingress-nginx/a-defaults",
        "defaults: XFF = client, the client's XFF moved to X-Original-Forwarded-For",
        "172.16.3.7",
        ((XRI, "203.0.113.40"), (XFF, "203.0.113.40"), (XFP, "https"), (XOFF, FORGED)),
        "203.0.113.40",
        "https",
        FORGED,
    ),
    Case(
        "04-ingress-nginx/a-defaults",
        "defaults: a forged multi-entry XFF, plain http",
        "172.16.3.7",
        ((XRI, "203.0.113.41"), (XFF, "203.0.113.41"), (XFP, "http"), (XOFF, f"{FORGED}, 192.0.2.9")),
        "203.0.113.41",
        "http",
        FORGED,
    ),
    Case(
        "04-ingress-nginx/a-defaults",
        "defaults: the client sent no XFF, so no X-Original-Forwarded-For",
        "172.16.3.7",
        ((XRI, "203.0.113.42"), (XFF, "203.0.113.42"), (XFP, "https")),
        "203.0.113.42",
        "https",
        None,
    ),
    # 4b. use-forwarded-headers + compute-full-forwarded-for: XFF = the client's XFF + ", " + the client.
    Case(
        "04-ingress-nginx/b-full-forwarded-for",
        "full XFF: the client's own XFF, then the client; proto is forged",
        "172.16.3.7",
        ((XRI, "203.0.113.50"), (XFF, f"{FORGED}, 203.0.113.50"), (XFP, "https")),
        "203.0.113.50",
        None,
        FORGED,
    ),
    Case(
        "04-ingress-nginx/b-full-forwarded-for",
        "full XFF: a forged multi-entry XFF",
        "172.16.3.7",
        ((XRI, "203.0.113.51"), (XFF, f"{FORGED}, 192.0.2.9, 203.0.113.51")),
        "203.0.113.51",
        None,
        FORGED,
    ),
    Case(
        "04-ingress-nginx/b-full-forwarded-for",
        "full XFF: the client sent no XFF",
        "172.16.3.7",
        ((XRI, "203.0.113.52"), (XFF, "203.0.113.52")),
        "203.0.113.52",
        None,
        None,
    ),
    # 4c. ingress-nginx behind the CLB's layer 7: use-forwarded-headers + compute-full-forwarded-for appends the CLB
    # to the CLB's X-Forwarded-For; X-Original-Forwarded-For is the CLB's as it arrived; the proto is the CLB's.
    Case(
        "04-ingress-nginx/c-behind-clb-l7",
        "behind CLB L7: XFF = the client's XFF, the client, the CLB; X-Original-Forwarded-For = the CLB's XFF",
        "172.16.3.7",
        (
            (XRI, "203.0.113.70"),
            (XFF, f"{FORGED}, 203.0.113.70, 100.64.3.4"),
            (XFP, "https"),
            (XOFF, f"{FORGED}, 203.0.113.70"),
        ),
        "203.0.113.70",
        "https",
        FORGED,
    ),
    Case(
        "04-ingress-nginx/c-behind-clb-l7",
        "behind CLB L7, the controller at its defaults: XFF = the CLB, the client only in X-Original-Forwarded-For",
        "172.16.3.7",
        ((XRI, "100.64.3.4"), (XFF, "100.64.3.4"), (XFP, "http"), (XOFF, f"{FORGED}, 203.0.113.71")),
        "203.0.113.71",
        "http",
        FORGED,
    ),
    Case(
        "04-ingress-nginx/c-behind-clb-l7",
        "a client at the controller's NodePort: ingress-nginx's peer is the client itself, its XFF forged",
        "172.16.3.7",
        ((XRI, "203.0.113.72"), (XFF, f"{FORGED}, 100.64.3.4, 203.0.113.72"), (XOFF, f"{FORGED}, 100.64.3.4")),
        "203.0.113.72",
        None,
        FORGED,
    ),
    # 5. TOA: with toa.ko on the node getpeername() is the client; without it, the LB's NAT address.
    Case(
        "05-toa",
        "toa.ko on the node: peer is the client, its XFF is forged",
        "203.0.113.60",
        ((XFF, FORGED),),
        "203.0.113.60",
        None,
        FORGED,
    ),
    Case(
        "05-toa",
        "no toa.ko: peer is the LB's NAT address, reported as is (the limit without TOA)",
        "100.64.5.6",
        ((XFF, FORGED),),
        "100.64.5.6",
        None,
        FORGED,
    ),
)


def case_id(case: Case) -> str:
    return f"{case.method}: {case.delivery}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_configmap_resolves_the_true_client(case: Case) -> None:
    result = resolver(case.method).resolve(case.peer, case.headers)
    assert result.client_ip == case.client
    assert result.scheme == case.scheme
    assert result.client_ip != case.forged


@pytest.mark.parametrize("case", [case for case in CASES if case.forged], ids=case_id)
def test_the_forgery_is_live_a_resolver_trusting_everything_takes_it(case: Case) -> None:
    """The control: the same headers, but trust every address (the mistake the examples warn against)."""
    careless = resolver(case.method, trusted_proxies=("0.0.0.0/0", "::/0"))
    assert careless.resolve(case.peer, case.headers).client_ip == case.forged


def test_every_method_has_a_forged_case() -> None:
    assert {case.method for case in CASES if case.forged} == set(METHODS)


@pytest.mark.parametrize(
    ("headers", "host", "port", "prefix"),
    [
        pytest.param({"X-Forwarded-Host": "shop.example.com"}, "shop.example.com", None, "/shop", id="public host"),
        pytest.param({"X-Forwarded-Host": "shop.example.com:8443"}, "shop.example.com", 8443, "/shop", id="its port"),
        pytest.param({"X-Forwarded-Host": "evil.example"}, None, None, "/shop", id="a host not allowed: refused"),
        pytest.param({"X-Forwarded-Host": "shop.example.com", "X-Forwarded-Port": "80"}, "shop.example.com", None,
                     "/shop", id="X-Forwarded-Port never read"),
    ],
)  # fmt: skip
def test_behind_clb_l7_the_context_is_the_public_url(headers: dict[str, str], host: str | None, port: int | None,
                                                     prefix: str) -> None:  # fmt: skip
    """04c's settings believe the host (only an allowed one), the prefix and the CLB's scheme from ingress-nginx, and
    never its X-Forwarded-Port (its own listening port); an untrusted peer's are never read at all."""
    sent = {XFF: "203.0.113.70, 100.64.3.4", XOFF: "203.0.113.70", XFP: "https", "X-Forwarded-Prefix": "/shop"}
    sent |= headers
    result = resolver("04-ingress-nginx/c-behind-clb-l7").resolve("172.16.3.7", sent)
    assert (result.client_ip, result.scheme, result.host, result.server_port, result.prefix) == (
        "203.0.113.70", "https", host, port, prefix
    )  # fmt: skip
    direct = resolver("04-ingress-nginx/c-behind-clb-l7").resolve("203.0.113.70", sent)
    assert (direct.scheme, direct.host, direct.server_port, direct.prefix) == (None, None, None, None)


# -- the container's own command line and environment start the real probe ----------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_the_probe_starts_with_the_manifest_settings(method: str) -> None:
    (container,) = the_deployment(method)["spec"]["template"]["spec"]["containers"]
    args = [str(arg) for arg in container["args"]]
    args[args.index("--host") + 1] = "{host}"  # 127.0.0.1 here, never 0.0.0.0
    args[args.index("--port") + 1] = "{port}"
    env = container_env(method)
    expected = Resolver.from_env(env)
    with run_server(python("-m", "realip", *args), env=env, ready_path="/?format=json") as server:
        with urllib.request.urlopen(f"{server.url}/?format=json", timeout=5) as response:
            report = json.loads(response.read())
        log = server.log()
    assert isinstance(report["config"]["presets"], list)
    wanted = {
        "trusted_proxies": list(expected.trusted_proxies),
        "header": list(expected.header),
        "trusted_hops": expected.trusted_hops,
        "max_hops": expected.max_hops,
        "proto_header": expected.proto_header,
        "host_header": expected.host_header,
        "port_header": expected.port_header,
        "prefix_header": expected.prefix_header,
        "allowed_hosts": None if expected.allowed_hosts is None else list(expected.allowed_hosts),
        "strip_untrusted": expected.strip_untrusted,
        "layer4_proxies": list(expected.layer4_proxies),
    }
    assert {key: report["config"].get(key) for key in wanted} == wanted
    assert report["client"]["client_ip"] == "127.0.0.1"
    assert f"trusted proxies: {', '.join(expected.trusted_proxies)};" in log
