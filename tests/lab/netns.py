"""Network namespaces for the lab: create them, join them with veth pairs, run commands and servers inside, remove all.

Every namespace is named ``realip-lab-<pid>-<host>`` so parallel runs never clash, and veth pairs are created
directly inside their namespaces (never in the host's), so interface names can be short and fixed. :meth:`Lab.close`
stops every process started here, kills whatever is still inside a lab namespace, and deletes the namespaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TOOLS", "Host", "Lab", "LabError", "Process", "missing_requirements", "remove_stale", "which"]

PREFIX = "realip-lab"

#: Each tool the lab runs, and the Debian package that provides it.
TOOLS = {
    "ip": "iproute2",
    "iptables-restore": "iptables",
    "ip6tables-restore": "iptables",
    "nginx": "nginx",
    "openssl": "openssl",
    "wrk": "wrk",
}

_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


class LabError(AssertionError):
    """A lab command failed; the message carries the command and its output."""


def which(tool: str) -> str | None:
    """The tool's path, also looking in the sbin directories a non-login CHAIN may lack."""
    return shutil.which(tool) or shutil.which(tool, path=_SBIN)


def missing_requirements() -> list[str]:
    """Why the lab cannot run here (not root, tools missing), as messages naming the fix; empty when it can."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the TKE lab needs root (it creates network namespaces, veth pairs and NAT rules)")
    for tool, package in TOOLS.items():
        if which(tool) is None:
            problems.append(f"{tool!r} not found: apt-get install {package}")
    return problems


def _run(argv: Sequence[str], *, input: str | None = None, timeout: float = 30.0) -> str:
    """Run a command to completion; raise :class:`LabError` with its output if it fails."""
    done = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}\ninput:\n{input or ''}")
    return done.stdout


@dataclass
class Process:
    """A long-running process inside a namespace, with its merged stdout/stderr in ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def rss_kib(self) -> int:
        """Resident set size (VmRSS) of the process itself, in KiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match is None:
            raise LabError(f"no VmRSS for {self.name} (pid {self.pid}):\n{status}")
        return int(match.group(1))

    def stop(self) -> None:
        """SIGTERM to its process group, then SIGKILL if it has not gone within 5 seconds."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)


@dataclass
class Host:
    """One namespace of the lab."""

    lab: Lab
    short: str
    name: str

    def run(self, *argv: str, input: str | None = None, timeout: float = 30.0) -> str:
        """Run a command inside this namespace and return its stdout."""
        return _run(["ip", "netns", "exec", self.name, *argv], input=input, timeout=timeout)

    def ip(self, commands: Iterable[str]) -> None:
        """Apply ``ip`` commands (one per line, without the leading ``ip``) in one batch."""
        _run(["ip", "-n", self.name, "-batch", "-"], input="\n".join(commands) + "\n")

    def sysctl(self, settings: Mapping[str, str]) -> None:
        """Write /proc/sys values as seen from inside the namespace (``net.ipv4.ip_forward`` style keys)."""
        script = "".join(f"echo {value} > /proc/sys/{key.replace('.', '/')}\n" for key, value in settings.items())
        self.run("sh", "-ec", script)

    def iptables(self, ruleset4: str, ruleset6: str) -> None:
        """Load complete IPv4 and IPv6 rulesets (iptables-restore format)."""
        self.run("iptables-restore", input=ruleset4)
        self.run("ip6tables-restore", input=ruleset6)

    def spawn(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Process:
        """Start a long-running process here, in its own process group; the lab stops it on close."""
        log_path = self.lab.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", self.name, *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        process = Process(name, popen, log_path)
        self.lab.processes.append(process)
        return process


@dataclass
class Lab:
    """A set of namespaces and the processes running in them; :meth:`close` removes everything."""

    tag: str = field(default_factory=lambda: f"{PREFIX}-{os.getpid()}")
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="realip-lab-")))
    hosts: dict[str, Host] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def host(self, short: str, *, forwarding: bool = False) -> Host:
        """Create a namespace with loopback up, reverse-path filtering off, and IP forwarding as asked."""
        host = Host(self, short, f"{self.tag}-{short}")
        _run(["ip", "netns", "add", host.name])
        self.hosts[short] = host
        host.ip(["link set lo up"])
        flag = "1" if forwarding else "0"
        host.sysctl(
            {
                "net.ipv4.ip_forward": flag,
                "net.ipv6.conf.all.forwarding": flag,
                "net.ipv4.conf.all.rp_filter": "0",
                "net.ipv4.conf.default.rp_filter": "0",
            }
        )
        return host

    def link(self, a: Host, a_name: str, b: Host, b_name: str) -> None:
        """A veth pair with one end (``a_name``) in ``a`` and the other (``b_name``) in ``b``, both up."""
        _run(f"ip link add name {a_name} netns {a.name} type veth peer name {b_name} netns {b.name}".split())
        a.ip([f"link set {a_name} up"])
        b.ip([f"link set {b_name} up"])

    def close(self) -> None:
        """Stop our processes, kill anything left in our namespaces, delete the namespaces and the work dir."""
        for process in reversed(self.processes):
            process.stop()
        for host in self.hosts.values():
            _kill_inside(host.name)
            subprocess.run(["ip", "netns", "del", host.name], capture_output=True, check=False)
        self.hosts.clear()
        if os.environ.get("REALIP_LAB_KEEP") is None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _kill_inside(namespace: str) -> None:
    """SIGKILL every process still in one of our namespaces (all were started by this lab)."""
    listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False)
    for word in listed.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(word), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False)
        if not listed.stdout.split():
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def remove_stale() -> None:
    """Delete lab namespaces left by an earlier run whose process is gone (a crash or SIGKILL skipped its close)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for line in listed.stdout.splitlines():
        match = re.match(rf"({PREFIX}-(\d+)-\S+)", line)
        if match is None:
            continue
        pid = int(match.group(2))
        if pid == os.getpid() or _alive(pid):
            continue
        _kill_inside(match.group(1))
        subprocess.run(["ip", "netns", "del", match.group(1)], capture_output=True, check=False)
