"""The lab's address plan, the realip configuration of each path (read from examples/kubernetes), and the paths.

    client ──── clb ──── node ──┬── pod      (the app: uvicorn + Starlette, gunicorn + Flask)
                                └── ingress  (ingress-nginx emulation)

Ports follow the manifests' Services, where a port and its targetPort are the same number: the CLB's listener for a
path and the ingress-nginx port behind it are one number (entry_port), as the CLB's port 80 and ingress-nginx's
``http`` port 80 are, and a path's CLB HTTPS listener (TLS ends at the CLB) forwards to that same plain-HTTP port.

Addresses come only from documentation ranges and 100.64.0.0/10; every host routes only the lab's prefixes (no
default route), so nothing can leave the lab.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "kubernetes"

# -- addresses --------------------------------------------------------------------------------------------------
#: The clients' "public" addresses, all on the client host.
CLIENTS_V4 = ("198.51.100.7", "203.0.113.9")
CLIENT_V6 = "2001:db8:c::7"
CLIENTS = (*CLIENTS_V4, CLIENT_V6)
#: The CLB's virtual IP, where clients connect.
VIP4, VIP6 = "203.0.113.80", "2001:db8:80::80"
#: The CLB's own address towards its backends: the source of its layer-7 connections.
CLB4, CLB6 = "100.64.0.1", "2001:db8:64::1"
#: The node's VPC address (NodePort target), and its container-bridge address (cbr0: kube-proxy's SNAT source
#: towards a pod on the same node).
NODE4, NODE6 = "192.0.2.10", "2001:db8:10::10"
BRIDGE4, BRIDGE6 = "100.100.0.1", "2001:db8:100::1"
#: The app pod and the ingress-nginx pod, in the container CIDR.
POD4, POD6 = "100.100.1.10", "2001:db8:100:1::10"
INGRESS4, INGRESS6 = "100.100.2.10", "2001:db8:100:2::10"
#: Every prefix the lab uses: the only routes any host has.
LAB_PREFIXES_V4 = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10")
LAB_PREFIX_V6 = "2001:db8::/32"

#: The lab's stand-ins for the ranges the examples tell you to replace (`# replace with your ...`). Every CIDR in a
#: ConfigMap must be a key here, so a change to the examples cannot slip past the lab unmapped.
PLACEHOLDERS = {
    "100.64.0.0/10": ("100.64.0.0/24", "2001:db8:64::/64"),  # the CLB's layer-7 source range -> CLB4 / CLB6
    "10.0.0.0/16": ("192.0.2.0/24", "2001:db8:10::/64"),  # the VPC CIDR (node addresses) -> NODE4 / NODE6
    "172.16.0.0/16": ("100.100.0.0/16", "2001:db8:100::/48"),  # the container CIDR -> BRIDGE, POD, INGRESS
}

#: A client's forgeries: an invented client, then addresses that look like the lab's own proxies.
FORGED_CLIENT = "198.51.100.66"
FORGED_XFF = f"{FORGED_CLIENT}, {CLB4}, {BRIDGE4}"
FORGED_HEADERS = {
    "X-Forwarded-For": FORGED_XFF,
    "X-Real-IP": FORGED_CLIENT,
    "Forwarded": f'for={FORGED_CLIENT};proto=https, for="[2001:db8:bad::1]"',
    "X-Forwarded-Proto": "https",
    "X-Original-Forwarded-For": FORGED_CLIENT,
}


def lab_cidrs(value: str) -> str:
    """A ConfigMap's address list with each placeholder CIDR replaced by the lab's ranges (IPv4 and IPv6)."""
    out: list[str] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        if entry in PLACEHOLDERS:
            out.extend(PLACEHOLDERS[entry])
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            out.append(entry)  # a keyword such as "loopback"
            continue
        raise AssertionError(f"{entry!r} in an example ConfigMap has no lab mapping: add it to PLACEHOLDERS")
    return ", ".join(out)


# -- realip configuration from the examples ------------------------------------------------------------------------
#: App configuration name -> the example directory whose ConfigMap it uses.
EXAMPLE_DIRS = {
    "local": "01-service-local",
    "direct": "02-clb-direct-to-pod",
    "tke-ingress": "03-tke-ingress",
    "nginx-defaults": "04-ingress-nginx/a-defaults",
    "nginx-fullxff": "04-ingress-nginx/b-full-forwarded-for",
    "nginx-l7": "04-ingress-nginx/c-behind-clb-l7",
}


def _config_maps(directory: Path) -> dict[str, dict[str, str]]:
    maps: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == "ConfigMap":
                maps[document["metadata"]["name"]] = {str(k): str(v) for k, v in document["data"].items()}
    return maps


def realip_env(config: str) -> dict[str, str]:
    """The REALIP_* variables of an example's ConfigMap, placeholders replaced by the lab's ranges."""
    maps = _config_maps(EXAMPLES / EXAMPLE_DIRS[config])
    (data,) = [data for name, data in maps.items() if name.startswith("realip-demo")]
    env = {key: value for key, value in data.items() if key.startswith("REALIP_")}
    env["REALIP_TRUSTED_PROXIES"] = lab_cidrs(env["REALIP_TRUSTED_PROXIES"])
    return env


def ingress_nginx_settings(config: str) -> dict[str, str]:
    """The ingress-nginx controller ConfigMap of an example (placeholders in proxy-real-ip-cidr replaced)."""
    data = dict(_config_maps(EXAMPLES / EXAMPLE_DIRS[config])["ingress-nginx-controller"])
    if "proxy-real-ip-cidr" in data:
        data["proxy-real-ip-cidr"] = lab_cidrs(data["proxy-real-ip-cidr"])
    return data


_ANNOTATION = "nginx.ingress.kubernetes.io/"


@dataclass(frozen=True)
class IngressRule:
    """The one rule of an example's Ingress for ingress-nginx (class ``nginx``): host, path and the annotations the
    lab's ingress-nginx honours (``rewrite-target``, ``x-forwarded-prefix``, ``upstream-vhost``)."""

    host: str | None
    path: str
    rewrite_target: str | None = None
    x_forwarded_prefix: str | None = None
    upstream_vhost: str | None = None

    @property
    def regex(self) -> bool:
        """A ``rewrite-target`` other than the path (template.go's needsRewrite): the location is then a regex and the
        path is rewritten (``use-regex`` alone, which only makes the location a regex, is not modelled)."""
        return self.rewrite_target is not None and self.rewrite_target != self.path


@functools.cache
def ingress_rule(config: str) -> IngressRule:
    """The example's Ingress of class ``nginx``, as the one rule and path it has."""
    documents = [
        document
        for path in sorted((EXAMPLES / EXAMPLE_DIRS[config]).glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and document.get("kind") == "Ingress"
    ]
    (ingress,) = [document for document in documents if document["spec"].get("ingressClassName") == "nginx"]
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    annotations = {
        key.removeprefix(_ANNOTATION): str(value)
        for key, value in (ingress["metadata"].get("annotations") or {}).items()
        if key.startswith(_ANNOTATION)
    }
    return IngressRule(
        host=rule.get("host"),
        path=path["path"],
        rewrite_target=annotations.get("rewrite-target"),
        x_forwarded_prefix=annotations.get("x-forwarded-prefix"),
        upstream_vhost=annotations.get("upstream-vhost"),
    )


# -- apps -------------------------------------------------------------------------------------------------------
#: The servers each app configuration runs under: the Starlette example under uvicorn, the Flask one under gunicorn,
#: and the ``realip serve`` probe the manifests deploy (it echoes the headers that arrived).
SERVERS = ("uvicorn", "gunicorn", "probe")
#: "off": a plain Starlette app without realip, the throughput baseline.
APP_CONFIGS = (*EXAMPLE_DIRS, "off")


def app_port(config: str, server: str) -> int:
    """The app's port on the pod (the pod is a namespace of its own: fixed ports cannot clash)."""
    return 9000 + 10 * APP_CONFIGS.index(config) + SERVERS.index(server)


# -- paths ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chain:
    """One way from the client to the app: which CLB listener, which Service policy, which ingress, which config."""

    key: str
    title: str  #: the hops, for people
    config: str  #: a key of EXAMPLE_DIRS (or "off")
    clb: str  #: "l4" (the CLB keeps the source: DNAT) or "l7" (nginx as a CLB layer-7 listener)
    service: str  #: "cluster" (NodePort, SNAT), "local" (NodePort, no SNAT) or "none" (direct to the pod)
    ingress: str = "none"  #: "defaults" / "fullxff" / "forwarded": an ingress-nginx hop in that mode
    #: The example whose ingress-nginx controller ConfigMap configures that hop (default: ``config``'s own).
    controller: str | None = None
    #: What realip must resolve for honest traffic: "client", or "peer" when the path hides the client.
    resolves: str = "client"
    #: The CLB layer 7 also has an HTTPS listener (TLS ends at the CLB; plain HTTP behind it).
    https: bool = False

    @property
    def index(self) -> int:
        return CHAINS.index(self)

    @property
    def controller_config(self) -> str:
        return self.controller or self.config

    def entry_port(self, server: str) -> int:
        """The CLB listener's port on the VIP (the HTTP one on layer 7)."""
        return 10000 + 10 * self.index + SERVERS.index(server)

    def https_port(self, server: str) -> int:
        """The CLB's HTTPS listener on the VIP (``https`` paths only)."""
        assert self.https, self.key
        return self.entry_port(server) + 5

    def node_port(self, server: str) -> int:
        return 30000 + 10 * self.index + SERVERS.index(server)

    def ingress_port(self, server: str) -> int:
        """ingress-nginx's listening port: the CLB listener's number (the Service's port is its targetPort)."""
        return self.entry_port(server)

    @property
    def rule(self) -> IngressRule | None:
        """The app's Ingress rule on an ingress-nginx path."""
        return ingress_rule(self.config) if self.ingress != "none" else None

    @property
    def route(self) -> str:
        """The path prefix ingress-nginx routes to the app and strips: the Ingress path's literal start (``"/shop"``
        of ``/shop(/|$)(.*)``), ``""`` when it passes paths as they are."""
        rule = self.rule
        if rule is None or not rule.regex:
            return ""
        return re.split(r"[(\[*+?$^|\\]", rule.path, maxsplit=1)[0].rstrip("/")

    @property
    def prefix(self) -> str:
        """The X-Forwarded-Prefix ingress-nginx writes on this path (``""`` for none)."""
        rule = self.rule
        return (rule.x_forwarded_prefix or "") if rule is not None and rule.regex else ""

    @property
    def public_host(self) -> str | None:
        """The host the Ingress rule routes (``None``: any host)."""
        rule = self.rule
        return None if rule is None else rule.host

    def peer(self, client: str) -> str:
        """The address the app's socket sees for a request from ``client`` on this path."""
        v6 = ":" in client
        if self.ingress != "none":
            return INGRESS4  # ingress-nginx proxies to the pod over IPv4
        if self.service == "cluster":
            return (BRIDGE6 if v6 else BRIDGE4) if self.clb == "l4" else BRIDGE4
        if self.clb == "l7":
            return CLB4
        return client


CHAINS = (
    # Scenario 1, with 01's config (nothing trusted) and with 03's (nodes trusted: realip warns that no header came).
    Chain("1-cluster", "client → CLB L4 → NodePort (Cluster: SNAT) → pod", "local", "l4", "cluster", resolves="peer"),
    Chain("1-cluster-trusting-nodes", "client → CLB L4 → NodePort (Cluster: SNAT) → pod", "tke-ingress", "l4",
          "cluster", resolves="peer"),
    Chain("2-local", "client → CLB L4 → NodePort (Local) → pod", "local", "l4", "local"),
    Chain("3-clb-l7-direct", "client → CLB L7 → pod (direct access, VPC-CNI)", "direct", "l7", "none"),
    Chain("3-clb-l4-direct", "client → CLB L4 → pod (direct access, VPC-CNI)", "direct", "l4", "none"),
    Chain("4-tke-ingress", "client → CLB L7 → NodePort (Cluster: SNAT) → pod", "tke-ingress", "l7", "cluster"),
    Chain("5-ingress-nginx-defaults", "client → CLB L4 → NodePort (Local) → ingress-nginx → pod", "nginx-defaults",
          "l4", "local", ingress="defaults"),
    Chain("6-ingress-nginx-fullxff", "client → CLB L4 → NodePort (Local) → ingress-nginx (full XFF) → pod",
          "nginx-fullxff", "l4", "local", ingress="fullxff"),
    # ingress-nginx behind the CLB's layer 7 (HTTP and HTTPS listeners), the app at /shop: 04c's app and Ingress, with
    # the controller at its defaults (04a's controller ConfigMap) and as 04c configures it (use-forwarded-headers).
    Chain("7-clb-l7-ingress-nginx-defaults",
          "client → CLB L7 (HTTP, HTTPS) → NodePort (Local) → ingress-nginx (defaults) → pod at /shop", "nginx-l7",
          "l7", "local", ingress="defaults", controller="nginx-defaults", https=True),
    Chain("8-clb-l7-ingress-nginx-forwarded",
          "client → CLB L7 (HTTP, HTTPS) → NodePort (Local) → ingress-nginx (use-forwarded-headers) → pod at /shop",
          "nginx-l7", "l7", "local", ingress="forwarded", https=True),
    # The throughput baseline: path 4 to the same Starlette answer without realip.
    Chain("4-tke-ingress-no-realip", "client → CLB L7 → NodePort (Cluster: SNAT) → plain app", "off", "l7",
          "cluster", resolves="peer"),
)  # fmt: skip

CHAIN = {path.key: path for path in CHAINS}


def servers_for(config: str) -> tuple[str, ...]:
    return ("uvicorn",) if config == "off" else SERVERS


def expected_client(path: Chain, client: str, *, forged: bool) -> str:
    """What realip must resolve for ``client`` on ``path``."""
    if path.resolves == "client":
        return client
    if forged and path.config == "tke-ingress":
        # The hazard examples/kubernetes/README.md names: trusting the node ranges lets whoever reaches a NodePort
        # without the CLB's layer 7 choose its X-Forwarded-For. The walk stops at the first untrusted entry.
        return CLB4
    return path.peer(client)
