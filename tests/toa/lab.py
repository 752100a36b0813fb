"""A three-namespace lab for the end-to-end TOA tests: client -> emulated full-NAT load balancer -> server.

    client ns  c0 ---- l0  LB ns  l1 ---- s0  server ns
    203.0.113.10/24     (no addresses)      198.51.100.20/24
    2001:db8:c::10/64                       2001:db8:5::20/64

The client reaches the VIP 203.0.113.1 / 2001:db8:c::1 and the server replies to the SNAT address 198.51.100.1 /
2001:db8:5::1: all four exist only in the emulator (``lab_lb.py``), reached through static neighbour entries.
Only documentation ranges, no default route, nothing leaves the namespaces. Names carry the pid; ``Lab.close``
(always called by the fixture) kills every process started here and deletes the namespaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
T = TypeVar("T")

CLIENT4, CLIENT6 = "203.0.113.10", "2001:db8:c::10"
VIP4, VIP6 = "203.0.113.1", "2001:db8:c::1"
SNAT4, SNAT6 = "198.51.100.1", "2001:db8:5::1"
SERVER4, SERVER6 = "198.51.100.20", "2001:db8:5::20"
LB_MACS = {
    "lb_client": "02:00:00:00:0a:01",
    "lb_server": "02:00:00:00:0b:01",
    "client": "02:00:00:00:0a:02",
    "server": "02:00:00:00:0b:02",
}
CLONE_NEWNET = 0x40000000


def sh(*argv: str) -> str:
    """Run a command; fail with its output if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done.stdout


def probe(host: str, port: int) -> None:
    """Connect to ``host:port`` and hang up (raises OSError if nothing listens)."""
    socket.create_connection((host, port), timeout=1).close()


def in_netns(ns: str, fn: Callable[[], T], timeout: float = 20.0) -> T:
    """Run ``fn`` in a fresh thread that has joined network namespace ``ns`` (setns is per thread)."""
    box: dict[str, Any] = {}

    def runner() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                box["error"] = OSError(ctypes.get_errno(), f"setns {ns}")
                return
        finally:
            os.close(fd)
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=runner, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{fn!r} in netns {ns} did not finish within {timeout}s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


class Lab:
    """The namespaces, the veths, the emulated balancer, and the servers started in it."""

    def __init__(self, rules: dict[int, dict[str, Any]]) -> None:
        tag = f"{os.getpid() % 100000}{int(time.monotonic() * 1000) % 1000}"
        self.client, self.lb, self.server = f"toac{tag}", f"toal{tag}", f"toas{tag}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="realip-toa-lab-"))
        self.rules = rules
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        for ns in (self.client, self.lb, self.server):
            sh("ip", "netns", "add", ns)
        nsx = ("ip", "netns", "exec")
        # The balancer's two legs: l0 faces the client (c0), l1 the server (s0); fixed MACs for the raw-socket NAT.
        for leg, lb_mac, peer, peer_mac, peer_ns in (
            ("l0", LB_MACS["lb_client"], "c0", LB_MACS["client"], self.client),
            ("l1", LB_MACS["lb_server"], "s0", LB_MACS["server"], self.server),
        ):
            sh("ip", "-n", self.lb, "link", "add", leg, "address", lb_mac,
               "type", "veth", "peer", "name", peer, "address", peer_mac, "netns", peer_ns)  # fmt: skip
        sh(
            *nsx,
            self.lb,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=0",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        )
        for ns, dev, v4, v6, gw4, gw6, mac, far4, far6 in (
            (
                self.client,
                "c0",
                CLIENT4,
                CLIENT6,
                VIP4,
                VIP6,
                LB_MACS["lb_client"],
                "198.51.100.0/24",
                "2001:db8:5::/64",
            ),
            (
                self.server,
                "s0",
                SERVER4,
                SERVER6,
                SNAT4,
                SNAT6,
                LB_MACS["lb_server"],
                "203.0.113.0/24",
                "2001:db8:c::/64",
            ),
        ):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "mtu", "1400", "up")
            sh("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
            sh("ip", "-n", ns, "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "neigh", "replace", gw4, "lladdr", mac, "dev", dev, "nud", "permanent")
            sh("ip", "-n", ns, "-6", "neigh", "replace", gw6, "lladdr", mac, "dev", dev, "nud", "permanent")
            sh("ip", "-n", ns, "route", "add", far4, "via", gw4, "dev", dev)
            sh("ip", "-n", ns, "-6", "route", "add", far6, "via", gw6, "dev", dev)
        for dev in ("lo", "l0", "l1"):
            sh("ip", "-n", self.lb, "link", "set", dev, "up")
        config = {
            "client_if": "l0",
            "server_if": "l1",
            "macs": LB_MACS,
            "vip4": VIP4,
            "vip6": VIP6,
            "snat4": SNAT4,
            "snat6": SNAT6,
            "server4": SERVER4,
            "server6": SERVER6,
            "rules": {str(port): rule for port, rule in self.rules.items()},
        }
        path = self.tmp / "lb.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        log = self.tmp / "lb.log"
        proc = self.spawn(self.lb, [sys.executable, str(HERE / "lab_lb.py"), str(path)], log)
        deadline = time.monotonic() + 10
        while "ready" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulated load balancer did not start: {log.read_text()}")
            time.sleep(0.02)

    def spawn(
        self, ns: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in namespace ``ns`` (own process group, output to ``log``); stopped by :meth:`close`."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("REALIP_")}
        full_env.update(env or {})
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH", "")]))
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env=full_env,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def start_server(
        self,
        name: str,
        argv: Sequence[str],
        ports: Sequence[tuple[str, int]],
        env: dict[str, str],
        ready_line: tuple[str, int] | None = None,
    ) -> Path:
        """Start a server in the server namespace and wait (bounded) until every ``(host, port)`` accepts and, if
        given, ``ready_line = (text, count)`` appears ``count`` times in its log (e.g. once per worker)."""
        log = self.tmp / f"{name}.log"
        proc = self.spawn(self.server, argv, log, env)
        deadline = time.monotonic() + 20
        for host, port in ports:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server {name} exited: {log.read_text()}")
                try:
                    in_netns(self.server, functools.partial(probe, host, port))
                    break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"server {name} did not listen on {host}:{port}: {log.read_text()}") from exc
                    time.sleep(0.05)
        while ready_line is not None and log.read_text().count(ready_line[0]) < ready_line[1]:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server {name} never logged {ready_line}: {log.read_text()}")
            time.sleep(0.05)
        return log

    def close(self) -> None:
        """Stop every process and delete the namespaces (safe to call twice)."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                proc.wait(timeout=5)
        self.procs.clear()
        for ns in (self.client, self.lb, self.server):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def http_get(
    lab: Lab, host: str, port: int, requests: int = 1, timeout: float = 5.0
) -> tuple[list[dict[str, Any]], tuple[str, int]]:
    """``requests`` GETs over one connection from the client namespace: the JSON answers and the client socket's
    own (ip, port)."""

    def run() -> tuple[list[dict[str, Any]], tuple[str, int]]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        answers = []
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect((host, port))
            local = sock.getsockname()[:2]
            reader = sock.makefile("rb")
            for index in range(requests):
                close = "close" if index == requests - 1 else "keep-alive"
                sock.sendall(f"GET / HTTP/1.1\r\nHost: lab\r\nConnection: {close}\r\n\r\n".encode())
                status = reader.readline()
                if not status.startswith(b"HTTP/1.1 200"):
                    raise AssertionError(f"unexpected answer: {status!r}")
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                answers.append(json.loads(reader.read(length)))
        return answers, (local[0], local[1])

    return in_netns(lab.client, run, timeout=timeout + 5)


@contextlib.contextmanager
def lab(rules: dict[int, dict[str, Any]]) -> Iterator[Lab]:
    """A :class:`Lab` that is always torn down."""
    built = Lab(rules)
    try:
        yield built
    finally:
        built.close()
