"""Build the lab: five namespaces, their links, addresses and routes, the proxies, and the apps on the pod.

    client (198.51.100.7, 203.0.113.9, 2001:db8:c::7)
      │ veth
    clb    VIP 203.0.113.80 / 2001:db8:80::80 (layer-4 DNAT, layer-7 nginx), backend side 100.64.0.1 / 2001:db8:64::1
      │ veth
    node   192.0.2.10 / 2001:db8:10::10, bridge 100.100.0.1 / 2001:db8:100::1 (kube-proxy NodePort rules)
      │ veth                      │ veth
    pod    100.100.1.10           ingress 100.100.2.10 (ingress-nginx)

Only host routes and the lab's own prefixes are configured: no default route anywhere.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from . import proxies
from . import topology as t
from .netns import Host, Lab, LabError, Process, which

#: Environment every app gets: unbuffered logs, the repository importable, no inherited REALIP_* settings.
_BASE_ENV = {key: value for key, value in os.environ.items() if not key.startswith("REALIP_")}
_BASE_ENV["PYTHONUNBUFFERED"] = "1"
_BASE_ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(t.REPO), os.environ.get("PYTHONPATH", "")]))


@dataclass
class Running:
    """The built lab: its hosts and every server process, by name."""

    lab: Lab
    apps: dict[tuple[str, str], Process] = field(default_factory=dict)
    proxies: dict[str, Process] = field(default_factory=dict)

    def host(self, short: str) -> Host:
        return self.lab.hosts[short]

    def client(self, requests: list[dict[str, Any]], *, wait: bool = False, timeout: float = 60.0) -> list[Any]:
        """Run the lab client in the client namespace with these requests; return its answers."""
        argv = [sys.executable, "-m", "tests.lab.client", *(["--wait", "--timeout", "25"] if wait else [])]
        out = _in(self.host("client"), argv, json.dumps(requests), timeout)
        return list(json.loads(out))


def _in(host: Host, argv: list[str], stdin: str, timeout: float) -> str:
    return host.run("env", f"PYTHONPATH={_BASE_ENV['PYTHONPATH']}", *argv, input=stdin, timeout=timeout)


def _addresses(device: str, *addresses: str) -> list[str]:
    return [
        f"address add {a}/{128 if ':' in a else 32} dev {device}" + (" nodad" if ":" in a else "") for a in addresses
    ]


def network(lab: Lab) -> None:
    """Namespaces, veth pairs, addresses and routes."""
    client, clb = lab.host("client"), lab.host("clb", forwarding=True)
    node = lab.host("node", forwarding=True)
    pod, ingress = lab.host("pod"), lab.host("ingress")
    lab.link(client, "eth0", clb, "front")
    lab.link(clb, "back", node, "eth0")
    lab.link(node, "pod", pod, "eth0")
    lab.link(node, "ingress", ingress, "eth0")
    v6 = t.LAB_PREFIX_V6
    client.ip(
        [
            *_addresses("eth0", *t.CLIENTS),
            f"route add {t.VIP4}/32 dev eth0 src {t.CLIENTS_V4[0]}",
            f"route add 192.0.2.0/24 via {t.VIP4} dev eth0 src {t.CLIENTS_V4[0]}",
            f"route add 100.64.0.0/10 via {t.VIP4} dev eth0 src {t.CLIENTS_V4[0]}",
            f"route add {t.VIP6}/128 dev eth0 src {t.CLIENT_V6}",
            f"route add {v6} via {t.VIP6} dev eth0 src {t.CLIENT_V6}",
        ]
    )  # fmt: skip
    clb.ip(
        [
            *_addresses("front", t.VIP4, t.VIP6),
            *_addresses("back", t.CLB4, t.CLB6),
            *(f"route add {address}/32 dev front" for address in t.CLIENTS_V4),
            f"route add {t.CLIENT_V6}/128 dev front",
            f"route add {t.NODE4}/32 dev back src {t.CLB4}",
            f"route add 100.100.0.0/16 via {t.NODE4} dev back src {t.CLB4}",
            f"route add {t.NODE6}/128 dev back src {t.CLB6}",
            f"route add 2001:db8:100::/48 via {t.NODE6} dev back src {t.CLB6}",
        ]
    )
    node.ip(
        [
            *_addresses("eth0", t.NODE4, t.NODE6),
            *_addresses("pod", t.BRIDGE4, t.BRIDGE6),
            *_addresses("ingress", t.BRIDGE4, t.BRIDGE6),
            f"route add {t.CLB4}/32 dev eth0 src {t.NODE4}",
            f"route add 198.51.100.0/24 via {t.CLB4} dev eth0 src {t.NODE4}",
            f"route add 203.0.113.0/24 via {t.CLB4} dev eth0 src {t.NODE4}",
            f"route add {t.CLB6}/128 dev eth0 src {t.NODE6}",
            f"route add 2001:db8:c::/64 via {t.CLB6} dev eth0 src {t.NODE6}",
            f"route add {t.POD4}/32 dev pod src {t.BRIDGE4}",
            f"route add {t.POD6}/128 dev pod src {t.BRIDGE6}",
            f"route add {t.INGRESS4}/32 dev ingress src {t.BRIDGE4}",
            f"route add {t.INGRESS6}/128 dev ingress src {t.BRIDGE6}",
        ]
    )  # fmt: skip
    for host, own4, own6 in ((pod, t.POD4, t.POD6), (ingress, t.INGRESS4, t.INGRESS6)):
        host.ip(
            [
                *_addresses("eth0", own4, own6),
                f"route add {t.BRIDGE4}/32 dev eth0 src {own4}",
                *(f"route add {prefix} via {t.BRIDGE4} dev eth0 src {own4}" for prefix in t.LAB_PREFIXES_V4),
                f"route add {t.BRIDGE6}/128 dev eth0 src {own6}",
                f"route add {v6} via {t.BRIDGE6} dev eth0 src {own6}",
            ]
        )


def _certificate(lab: Lab) -> None:
    """The CLB's TLS certificate for its HTTPS listeners: self-signed, for the example's public host, beside the CLB's
    nginx.conf (proxies.CLB_CERTIFICATE, CLB_KEY). The lab's client does not verify it: TLS only has to end here."""
    hosts = sorted({path.public_host for path in t.CHAINS if path.https and path.public_host})
    lab.hosts["clb"].run(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", f"/CN={hosts[0]}", "-addext", "subjectAltName=" + ",".join(f"DNS:{host}" for host in hosts),
        "-keyout", str(lab.workdir / proxies.CLB_KEY), "-out", str(lab.workdir / proxies.CLB_CERTIFICATE),
    )  # fmt: skip


def _nginx(lab: Lab, host: Host, name: str, config: str) -> Process:
    path = lab.workdir / f"{name}-nginx.conf"
    path.write_text(config, encoding="utf-8")
    nginx = which("nginx")
    assert nginx is not None
    host.run(nginx, "-t", "-q", "-c", str(path), "-p", str(lab.workdir))
    return host.spawn(f"{name}-nginx", [nginx, "-c", str(path), "-p", str(lab.workdir), "-g", "daemon off;"])


def _app_argv(config: str, server: str) -> list[str]:
    port = str(t.app_port(config, server))
    if server in ("uvicorn", "probe"):
        module = {"uvicorn": "examples.starlette_app:app", "probe": "tests.lab.probe_app:app"}[server]
        if config == "off":
            module = "tests.lab.plain_app:app"
        return [sys.executable, "-m", "tests.lab.dualstack", port, sys.executable, "-m", "uvicorn", module,
                "--fd", "{fd}", "--no-proxy-headers", "--log-level", "info"]  # fmt: skip
    # Recent gunicorn opens a control socket at a fixed path under $HOME, shared by every run: keep it closed.
    control = ["--no-control-socket"] if "control_socket_disable" in gunicorn_settings() else []
    return [sys.executable, "-m", "gunicorn", "examples.flask_app:app", "--bind", f"[::]:{port}", "--workers", "1",
            *control, "--access-logfile", "-", "--error-logfile", "-"]  # fmt: skip


def gunicorn_settings() -> set[str]:
    """The names of the settings the installed gunicorn knows."""
    from gunicorn.config import KNOWN_SETTINGS

    return {setting.name for setting in KNOWN_SETTINGS}


def build(lab: Lab) -> Running:
    """Wire the network, load the NAT rules, start nginx twice and every app; return once all of them answer."""
    network(lab)
    running = Running(lab)
    clb, node, pod, ingress = (lab.hosts[name] for name in ("clb", "node", "pod", "ingress"))
    clb.iptables(proxies.clb_layer4(v6=False), proxies.clb_layer4(v6=True))
    node.iptables(proxies.kube_proxy(v6=False), proxies.kube_proxy(v6=True))
    for config in t.APP_CONFIGS:
        env = dict(_BASE_ENV)
        if config != "off":
            env.update(t.realip_env(config))
        for server in t.servers_for(config):
            running.apps[config, server] = pod.spawn(f"app-{config}-{server}", _app_argv(config, server), env=env,
                                                     cwd=t.REPO)  # fmt: skip
    _certificate(lab)
    running.proxies["clb"] = _nginx(lab, clb, "clb", proxies.clb_layer7(lab.workdir))
    running.proxies["ingress"] = _nginx(lab, ingress, "ingress", proxies.ingress_nginx(lab.workdir))
    targets = [{"host": t.POD4, "port": t.app_port(config, server)} for config, server in running.apps]
    pending = running.client(targets, wait=True)
    dead = [p for p in [*running.apps.values(), *running.proxies.values()] if not p.alive()]
    if pending or dead:
        logs = "\n".join(
            f"--- {p.name}\n{p.log()[-2000:]}" for p in [*running.apps.values(), *running.proxies.values()]
        )
        raise LabError(f"not answering: {pending}; exited: {[p.name for p in dead]}\n{logs}")
    return running
