"""The proxies' configurations, generated from the paths: the CLB (layer 4 as DNAT, layer 7 as nginx), kube-proxy's
NodePort rules on the node (iptables, its chain layout), and ingress-nginx (nginx, the header handling of its
template ``rootfs/etc/nginx/template/nginx.tmpl`` and of ``rootfs/etc/nginx/lua/lua_ingress.lua``, driven by the
example's controller ConfigMap and the app's Ingress annotations).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from . import topology as t

_KUBE_MARK = "0x4000/0x4000"  # kube-proxy's masquerade mark


def _target(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _next_hop(path: t.Chain, server: str, v6: bool) -> str:
    """Where the CLB sends a connection of this path: the NodePort, or the ingress / app pod directly."""
    if path.service != "none":
        return _target(t.NODE6 if v6 else t.NODE4, path.node_port(server))
    if path.ingress != "none":
        return _target(t.INGRESS6 if v6 else t.INGRESS4, path.ingress_port(server))
    return _target(t.POD6 if v6 else t.POD4, t.app_port(path.config, server))


def _pairs() -> list[tuple[t.Chain, str]]:
    return [(path, server) for path in t.CHAINS for server in t.servers_for(path.config)]


# -- CLB --------------------------------------------------------------------------------------------------------
def clb_layer4(v6: bool) -> str:
    """The CLB's layer-4 listeners: DNAT from the VIP to the backend, source address untouched (passthrough)."""
    vip = t.VIP6 if v6 else t.VIP4
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
             ":POSTROUTING ACCEPT [0:0]"]  # fmt: skip
    for path, server in _pairs():
        if path.clb == "l4":
            lines.append(
                f"-A PREROUTING -d {vip} -p tcp -m tcp --dport {path.entry_port(server)} "
                f"-j DNAT --to-destination {_next_hop(path, server, v6)}"
            )
    return "\n".join([*lines, "COMMIT", ""])


#: The CLB's certificate and key (written by build.py), relative to the nginx.conf beside them.
CLB_CERTIFICATE, CLB_KEY = "clb-cert.pem", "clb-key.pem"


def clb_layer7_server(path: t.Chain, server: str) -> str:
    """One layer-7 listener of the CLB, as nginx: appends to X-Forwarded-For, sets X-Real-IP, X-Forwarded-Proto,
    X-Client-Proto (and X-Stgw-Time, X-Client-Proto-Ver), passes every other header (Host, X-Forwarded-Host,
    X-Forwarded-Port) as it came, and connects to the backend from the CLB's address. An ``https`` path has an HTTPS
    listener too, which ends TLS here and forwards plain HTTP to the same backend."""
    port = path.entry_port(server)
    tls = ""
    if path.https:
        secure = path.https_port(server)
        tls = (f"    listen {t.VIP4}:{secure} ssl;\n    listen [{t.VIP6}]:{secure} ssl;\n"
               f"    ssl_certificate {CLB_CERTIFICATE};\n    ssl_certificate_key {CLB_KEY};\n")  # fmt: skip
    return f"""upstream {path.key}-{server} {{ server {_next_hop(path, server, False)}; keepalive 16; }}
server {{
    listen {t.VIP4}:{port};
    listen [{t.VIP6}]:{port};
{tls}    location / {{
        proxy_pass http://{path.key}-{server};
        proxy_bind {t.CLB4};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Client-Proto $scheme;
        proxy_set_header X-Client-Proto-Ver $server_protocol;
        proxy_set_header X-Stgw-Time $msec;
    }}
}}
"""


def clb_layer7(workdir: Path) -> str:
    """The CLB's nginx.conf: every layer-7 listener of every path."""
    return _nginx(workdir, "clb", "".join(clb_layer7_server(p, s) for p, s in _pairs() if p.clb == "l7"))


# -- node (kube-proxy) ------------------------------------------------------------------------------------------
def kube_proxy(v6: bool) -> str:
    """kube-proxy's iptables NodePort rules: DNAT to the endpoint; with externalTrafficPolicy: Cluster also the
    masquerade mark, so POSTROUTING SNATs to the node's address on the way to the pod (Local: no mark, no SNAT)."""
    lines = [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-MARK-MASQ - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        "-A PREROUTING -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
        "-A POSTROUTING -j KUBE-POSTROUTING",
        "-A KUBE-MARK-MASQ -j MARK --set-xmark " + _KUBE_MARK,
        "-A KUBE-POSTROUTING -m mark ! --mark " + _KUBE_MARK + " -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
        "-A KUBE-POSTROUTING -j MASQUERADE",
    ]
    for path, server in _pairs():
        if path.service == "none":
            continue
        if path.ingress != "none":
            endpoint = _target(t.INGRESS6 if v6 else t.INGRESS4, path.ingress_port(server))
        else:
            endpoint = _target(t.POD6 if v6 else t.POD4, t.app_port(path.config, server))
        match = f"-A KUBE-NODEPORTS -p tcp -m tcp --dport {path.node_port(server)}"
        if path.service == "cluster":
            lines.append(f"{match} -j KUBE-MARK-MASQ")
        lines.append(f"{match} -j DNAT --to-destination {endpoint}")
    return "\n".join([*lines, "COMMIT", ""])


# -- ingress-nginx ----------------------------------------------------------------------------------------------
INGRESS_MAPS = """map $http_x_request_id $req_id { default $http_x_request_id; "" $request_id; }
# "We can't use $proxy_add_x_forwarded_for because the realip module replaces the remote_addr too soon"
map $http_x_forwarded_for $full_x_forwarded_for {
    default "$http_x_forwarded_for, $realip_remote_addr";
    '' "$realip_remote_addr";
}
"""


def ingress_server(path: t.Chain, server: str) -> str:
    """One ingress-nginx server, with the header handling its template generates for the controller's ConfigMap and
    the location its Ingress annotations make.

    - ``use-forwarded-headers`` (lua_ingress.lua's rewrite phase): the scheme is the incoming X-Forwarded-Proto, the
      port the incoming X-Forwarded-Port and the host the first entry of the incoming X-Forwarded-Host, whoever sent
      them; without it, nginx's own ``$scheme``, ``$server_port`` and ``$http_host``. The host goes out as
      X-Forwarded-Host and as Host, unless ``upstream-vhost`` names the Host;
    - ``rewrite-target`` (with a regex path) rewrites the path, and only then ``x-forwarded-prefix`` adds
      X-Forwarded-Prefix (template.go's buildProxyPass), replacing any the client sent;
    - a rule with a host is a ``server_name``: other hosts get the default backend's 404, as every unrouted path does.
    """
    cfg = t.ingress_nginx_settings(path.controller_config)
    rule = t.ingress_rule(path.config)
    forwarded = cfg.get("use-forwarded-headers") == "true"
    full = forwarded and cfg.get("compute-full-forwarded-for") == "true"
    name = f"{path.key}-{server}"
    suffix = f"{path.index}{t.SERVERS.index(server)}"
    realip = maps = ""
    scheme, port_out, host_out = "$scheme", "$server_port", "$http_host"
    if forwarded:
        cidrs = [c.strip() for c in cfg.get("proxy-real-ip-cidr", "0.0.0.0/0").split(",") if c.strip()]
        realip = "".join(f"    set_real_ip_from {cidr};\n" for cidr in cidrs)
        realip += "    real_ip_header X-Forwarded-For;\n    real_ip_recursive on;\n"
        scheme, port_out, host_out = (
            f"${var}_{suffix}" for var in ("pass_access_scheme", "pass_port", "best_http_host")
        )
        maps = (
            f"map $http_x_forwarded_proto {scheme} {{ default $http_x_forwarded_proto; '' $scheme; }}\n"
            f"map $http_x_forwarded_port {port_out} {{ default $http_x_forwarded_port; '' $server_port; }}\n"
            f"map $http_x_forwarded_host {host_out} {{ '' $http_host; \"~^(?<first_host_{suffix}>[^,]*)\" "
            f"$first_host_{suffix}; }}\n"
        )
    xff = "$full_x_forwarded_for" if full else "$remote_addr"
    host = f'"{rule.upstream_vhost}"' if rule.upstream_vhost else host_out
    location, rewrite = rule.path, ""
    if rule.regex:
        location = f'~* "^{rule.path}"'
        rewrite = f'        rewrite "(?i){rule.path}" {rule.rewrite_target} break;\n'
        if rule.x_forwarded_prefix:
            rewrite += f'        proxy_set_header X-Forwarded-Prefix "{rule.x_forwarded_prefix}";\n'
    port = path.ingress_port(server)
    routed, unrouted = f"    listen {port};\n    listen [::]:{port};\n", ""
    if rule.host:
        routed += f"    server_name {rule.host};\n"
        unrouted = (f"server {{\n    listen {port} default_server;\n    listen [::]:{port} default_server;\n"
                    "    location / { return 404; }\n}\n")  # fmt: skip
    unrouted_location = "    location / { return 404; }\n" if location != "/" else ""
    return f"""{maps}upstream {name} {{ server {t.POD4}:{t.app_port(path.config, server)}; keepalive 32; }}
{unrouted}server {{
{routed}{realip}{unrouted_location}    location {location} {{
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host {host};
        proxy_set_header X-Request-ID $req_id;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For {xff};
        proxy_set_header X-Forwarded-Host {host_out};
        proxy_set_header X-Forwarded-Port {port_out};
        proxy_set_header X-Forwarded-Proto {scheme};
        proxy_set_header X-Forwarded-Scheme {scheme};
        proxy_set_header X-Scheme {scheme};
        proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;
        proxy_set_header Proxy "";
{rewrite}        proxy_pass http://{name};
    }}
}}
"""


def ingress_nginx(workdir: Path) -> str:
    """The ingress's nginx.conf: one server per path through ingress-nginx, in the mode its example sets."""
    servers = "".join(ingress_server(p, s) for p, s in _pairs() if p.ingress != "none")
    return _nginx(workdir, "ingress", INGRESS_MAPS + servers)


def _nginx(workdir: Path, name: str, body: str) -> str:
    """A complete nginx.conf: foreground, one worker, everything (pid, logs, temp files) under ``workdir``."""
    return f"""# generated by tests/lab/proxies.py
user root;
worker_processes 1;
pid {workdir}/{name}-nginx.pid;
error_log {workdir}/{name}-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {workdir}/{name}-access.log;
    client_body_temp_path {workdir}/{name}-body;
    proxy_temp_path {workdir}/{name}-proxy;
    fastcgi_temp_path {workdir}/{name}-fastcgi;
    uwsgi_temp_path {workdir}/{name}-uwsgi;
    scgi_temp_path {workdir}/{name}-scgi;
    proxy_connect_timeout 5s;
    proxy_read_timeout 10s;
{textwrap.indent(body, "    ")}
}}
"""
