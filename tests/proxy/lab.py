"""A three-namespace lab for the PROXY protocol end-to-end tests: client -> load balancers -> servers.

    client ns  c0 -------- p0  proxy ns  p1 -------- s0  server ns
    203.0.113.10/24      203.0.113.1/24  198.51.100.1/24   198.51.100.20/24
    2001:db8:c::10/64  2001:db8:c::1/64  2001:db8:5::1/64  2001:db8:5::20/64

The proxy namespace runs real HAProxy (``send-proxy-v2`` with CRC32c, UNIQUE_ID and health checks that send
``LOCAL``; a TLS frontend adds the SSL, AUTHORITY and ALPN TLVs) and real nginx (stream module, ``proxy_protocol
on``: v1), and forwards IP packets, so a client can also reach the servers directly (an untrusted peer). Code run in
the proxy namespace stands in for a load balancer that sends a header of our own making (vendor TLVs, malformed,
truncated, silent). The servers (uvicorn h11 and httptools, gunicorn sync and gthread; two more with the pure-Python
parsers) trust only 198.51.100.1 and 2001:db8:5::1. Only documentation ranges, no default route; namespaces, their
processes and files are removed by :meth:`ProxyLab.close`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.lab.netns import Host, Lab, Process, remove_stale, which
from tests.toa.lab import in_netns

REPO = Path(__file__).resolve().parents[2]
CLIENT4, CLIENT6 = "203.0.113.10", "2001:db8:c::10"
FRONT4, FRONT6 = "203.0.113.1", "2001:db8:c::1"
LB4, LB6 = "198.51.100.1", "2001:db8:5::1"
SERVER4, SERVER6 = "198.51.100.20", "2001:db8:5::20"
TIMEOUT = 1.0  # the servers' header timeout, seconds
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


@dataclass(frozen=True)
class Server:
    """One server under test: its name, its port, and the front ports of HAProxy (v2) and nginx (v1) for it."""

    name: str
    port: int
    argv: tuple[str, ...]
    pure: bool = False

    @property
    def haproxy_port(self) -> int:
        return 9000 + self.port - 8000

    @property
    def nginx_port(self) -> int:
        return 9100 + self.port - 8000


def _uvicorn(http: str, port: int) -> tuple[str, ...]:
    cls = "ProxyProtocolH11" if http == "h11" else "ProxyProtocolHttpTools"
    return (sys.executable, "-m", "uvicorn", "--http", f"realip_toa.uvicorn_hooks:{cls}", "--host", SERVER4,
            "--port", str(port), "--lifespan", "off", "examples.proxy_protocol_app:asgi")  # fmt: skip


def _gunicorn(worker: str, port: int) -> tuple[str, ...]:
    cls = "ProxyProtocolSyncWorker" if worker == "sync" else "ProxyProtocolThreadWorker"
    # No --threads for the sync worker: gunicorn would run its gthread worker instead.
    workers = ("--workers", "2") if worker == "sync" else ("--workers", "1", "--threads", "4")
    return (sys.executable, "-m", "gunicorn", "--worker-class", f"realip_toa.gunicorn_workers.{cls}",
            *workers, "--no-control-socket",
            "--bind", f"{SERVER4}:{port}", "--bind", f"[{SERVER6}]:{port}", "--access-logfile", "-",
            "--access-logformat", 'ACCESS %(h)s %({REMOTE_PORT}e)s "%(r)s" %(s)s',
            "examples.proxy_protocol_app:wsgi")  # fmt: skip


SERVERS = (
    Server("uvicorn-h11", 8000, _uvicorn("h11", 8000)),
    Server("uvicorn-httptools", 8001, _uvicorn("httptools", 8001)),
    Server("gunicorn-sync", 8002, _gunicorn("sync", 8002)),
    Server("gunicorn-gthread", 8003, _gunicorn("gthread", 8003)),
    Server("uvicorn-h11-pure", 8004, _uvicorn("h11", 8004), pure=True),
    Server("gunicorn-gthread-pure", 8005, _gunicorn("gthread", 8005), pure=True),
)
TLS_PORT = 9443  # HAProxy terminating TLS in front of uvicorn-httptools
LOCAL_ONLY_PORT = 9200  # HAProxy's health checks alone


def requirements() -> None:
    """Fail (never skip) naming the Debian package of whatever the lab needs and lacks."""
    problems = []
    if os.geteuid() != 0:
        problems.append("root (network namespaces)")
    for tool, package in (("ip", "iproute2"), ("haproxy", "haproxy"), ("nginx", "nginx"), ("openssl", "openssl")):
        if which(tool) is None:
            problems.append(f"{tool}: apt-get install {package}")
    if not Path(STREAM_MODULE).exists():
        problems.append("nginx's stream module: apt-get install libnginx-mod-stream")
    if problems:
        pytest.fail("the PROXY protocol lab cannot run: " + "; ".join(problems), pytrace=False)


def haproxy_config(workdir: Path, pem: Path) -> str:
    """HAProxy: one v2 frontend per server (CRC32c, UNIQUE_ID, LOCAL health checks), and a TLS frontend."""
    sections = [
        f"""global
    log stderr format raw local0 info
    stats socket {workdir}/haproxy.sock mode 600 level admin
    pidfile {workdir}/haproxy.pid
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout check 5s
"""
    ]
    for server in SERVERS:
        sections.append(f"""frontend fe_{server.port}
    bind {FRONT4}:{server.haproxy_port}
    bind [{FRONT6}]:{server.haproxy_port}
    unique-id-format lab-%ci-%cp
    default_backend be_{server.port}
backend be_{server.port}
    option httpchk GET /health
    http-check expect status 200
    server s {SERVER4}:{server.port} send-proxy-v2 proxy-v2-options crc32c,unique-id check check-send-proxy inter 300
""")
    sections.append(f"""frontend fe_tls
    bind {FRONT4}:{TLS_PORT} ssl crt {pem} alpn http/1.1
    default_backend be_tls
backend be_tls
    server s {SERVER4}:8001 send-proxy-v2 proxy-v2-options ssl,ssl-cipher,cert-sig,cert-key,authority,crc32c
frontend fe_local
    bind {FRONT4}:{LOCAL_ONLY_PORT}
    default_backend be_local
backend be_local
    option httpchk GET /health
    http-check expect status 200
    server s {SERVER4}:8000 send-proxy-v2 check check-send-proxy inter 300
""")
    return "".join(sections)


def nginx_config(workdir: Path) -> str:
    """nginx stream: one v1 (``proxy_protocol on``) listener per server."""
    servers = "".join(
        f"""    server {{
        listen {FRONT4}:{s.nginx_port};
        listen [{FRONT6}]:{s.nginx_port};
        proxy_pass {SERVER4}:{s.port};
        proxy_protocol on;
    }}
"""
        for s in SERVERS
    )
    return f"""load_module {STREAM_MODULE};
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log info;
events {{ worker_connections 256; }}
stream {{
{servers}}}
"""


class ProxyLab:
    """The namespaces, HAProxy, nginx and the six servers."""

    def __init__(self) -> None:
        requirements()
        remove_stale()
        self.net = Lab()
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        net = self.net
        self.client, self.proxy, self.server = net.host("ppc"), net.host("ppp", forwarding=True), net.host("pps")
        net.link(self.client, "c0", self.proxy, "p0")
        net.link(self.proxy, "p1", self.server, "s0")
        self.client.ip([f"addr add {CLIENT4}/24 dev c0", f"addr add {CLIENT6}/64 dev c0 nodad",
                        f"route add 198.51.100.0/24 via {FRONT4}",
                        f"route add 2001:db8:5::/64 via {FRONT6}"])  # fmt: skip
        self.proxy.ip([f"addr add {FRONT4}/24 dev p0", f"addr add {FRONT6}/64 dev p0 nodad",
                       f"addr add {LB4}/24 dev p1", f"addr add {LB6}/64 dev p1 nodad"])  # fmt: skip
        self.server.ip([f"addr add {SERVER4}/24 dev s0", f"addr add {SERVER6}/64 dev s0 nodad",
                        f"route add 203.0.113.0/24 via {LB4}", f"route add 2001:db8:c::/64 via {LB6}"])  # fmt: skip
        workdir = net.workdir
        env = {k: v for k, v in os.environ.items() if not k.startswith("REALIP_")}
        env.update(
            {
                "PYTHONPATH": str(REPO),
                "REALIP_LAYER4_PROXIES": f"{LB4},{LB6}",
                "REALIP_PROXY_PROTOCOL_TIMEOUT": str(TIMEOUT),
            }
        )
        self.processes: dict[str, Process] = {}
        for server in SERVERS:
            server_env = {**env, "REALIP_TOA_PURE": "1"} if server.pure else env
            self.processes[server.name] = self.server.spawn(server.name, server.argv, env=server_env, cwd=REPO)
        pem = workdir / "lab.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(workdir / "key.pem"),
             "-out", str(workdir / "cert.pem"), "-subj", "/CN=lab.example", "-days", "2"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        pem.write_bytes((workdir / "cert.pem").read_bytes() + (workdir / "key.pem").read_bytes())
        (workdir / "haproxy.cfg").write_text(haproxy_config(workdir, pem))
        (workdir / "nginx.conf").write_text(nginx_config(workdir))
        for server in SERVERS:
            self.wait_listening(self.server, SERVER4, server.port, self.processes[server.name])
        self.processes["haproxy"] = self.proxy.spawn("haproxy", ["haproxy", "-db", "-f", str(workdir / "haproxy.cfg")])
        self.processes["nginx"] = self.proxy.spawn("nginx", ["nginx", "-c", str(workdir / "nginx.conf")])
        for port in [s.haproxy_port for s in SERVERS] + [s.nginx_port for s in SERVERS] + [TLS_PORT]:
            owner = self.processes["haproxy" if port < 9100 or port == TLS_PORT else "nginx"]
            self.wait_listening(self.proxy, FRONT4, port, owner)

    @staticmethod
    def wait_listening(host: Host, address: str, port: int, process: Process) -> None:
        deadline = time.monotonic() + 20
        while True:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited:\n{process.log()}")
            try:
                in_netns(host.name, functools.partial(_probe, address, port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{process.name} never listened on {address}:{port}:\n{process.log()}") from None
                time.sleep(0.05)

    def log(self, name: str) -> str:
        return self.processes[name].log()

    def wait_log(self, name: str, text: str, timeout: float = 3.0) -> str:
        """The process's log once it contains ``text`` (servers write access lines after the response)."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log(name)) and time.monotonic() < deadline:
            time.sleep(0.02)
        return log

    def server_states(self) -> dict[str, str]:
        """HAProxy's view of each backend server (``UP``, ``DOWN``, ...), from ``show stat``."""
        states = {}
        for line in self.haproxy("show stat").splitlines():
            fields = line.split(",")
            if len(fields) > 17 and fields[1] == "s":
                states[fields[0]] = fields[17]
        return states

    def haproxy(self, command: str) -> str:
        """A command on HAProxy's stats socket."""

        def run() -> str:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(self.net.workdir / "haproxy.sock"))
                sock.sendall(command.encode() + b"\n")
                return b"".join(iter(lambda: sock.recv(65536), b"")).decode()

        return run()

    def close(self) -> None:
        self.net.close()


def _probe(host: str, port: int) -> None:
    socket.create_connection((host, port), timeout=1).close()


def get(
    lab: ProxyLab, host: str, port: int, *, path: str = "/", requests: int = 1, tls: bool = False
) -> tuple[list[dict[str, Any]], tuple[str, int]]:
    """``requests`` GETs over one connection from the client namespace: the JSON answers and the client's own
    (ip, port)."""

    def run() -> tuple[list[dict[str, Any]], tuple[str, int]]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        answers = []
        raw = socket.socket(family, socket.SOCK_STREAM)
        raw.settimeout(5)
        raw.connect((host, port))
        local = raw.getsockname()[:2]
        sock: socket.socket = raw
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["http/1.1"])
            sock = context.wrap_socket(raw, server_hostname="lab.example")
        with sock:
            reader = sock.makefile("rb")
            for index in range(requests):
                close = "close" if index == requests - 1 else "keep-alive"
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: {close}\r\n\r\n".encode())
                answers.append(_read_response(reader))
        return answers, (local[0], local[1])

    return in_netns(lab.client.name, run, timeout=15)


def _read_response(reader: Any) -> dict[str, Any]:
    status = reader.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        raise AssertionError(f"unexpected answer: {status!r}")
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    body = reader.read(length)
    return json.loads(body) if body.startswith(b"{") else {"text": body.decode()}


def exchange(
    lab: ProxyLab, where: Host, port: int, data: bytes, *, host: str = SERVER4, wait: float = 5.0, close: bool = False
) -> tuple[bytes, float]:
    """Connect from ``where`` straight to a server, send ``data`` (then half-close if ``close``), and read until the
    server closes: ``(everything it sent, seconds until it closed)``."""

    def run() -> tuple[bytes, float]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(wait)
            sock.connect((host, port))
            start = time.monotonic()
            if data:
                sock.sendall(data)
            if close:
                with contextlib.suppress(OSError):  # the server may have closed already
                    sock.shutdown(socket.SHUT_WR)
            received = b""
            try:
                while chunk := sock.recv(65536):
                    received += chunk
            except ConnectionResetError:
                pass
            return received, time.monotonic() - start

    return in_netns(where.name, run, timeout=wait + 5)


@contextlib.contextmanager
def proxy_lab() -> Iterator[ProxyLab]:
    built = ProxyLab()
    try:
        yield built
    finally:
        built.close()


__all__ = ["SERVERS", "ProxyLab", "exchange", "get", "proxy_lab"]
