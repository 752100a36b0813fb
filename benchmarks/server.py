"""Level 3, whole server: requests per second of a hello-world, bare vs realip vs the peer's middleware.

Every configuration runs as its own server process on 127.0.0.1 (a socket bound here on a free port and passed
down, so nothing can take the port), stopped at the end of its round whatever happens. A load generator in a
separate process (``wrk``, else ``python -m benchmarks.loadgen``) drives one server at a time for a fixed number of
seconds. Each round runs every wrapped configuration, in a shuffled order, right next to a run of its bare server,
so "share of bare" compares runs seconds apart and a busy machine's drift mostly cancels.

Three things keep the noise below the 2% the target is about:

- servers and the load generator are pinned to different CPUs (when there are two), so neither migrates;
- every round starts fresh server processes: CPython's type-attribute cache is indexed by string hashes, which are
  seeded per process, so one process can be a few percent slower than the next for no reason in its code; new
  processes each round spread that luck over every configuration instead of fixing it for the whole run;
- a middleware that does nothing (the control) is measured like the others: its share of bare shows the method's
  resolution.

Before timing, one request per server checks the client address it answers with.

The PROXY protocol configurations (:data:`PROXY_CONFIGS`: uvicorn behind realip_toa's listener hook, the client
sending a PROXY v2 header at the start of each connection) are counted at the instruction level only: ``wrk`` cannot
send a header before its requests.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .apps import SERVER_TRUSTED
from .proxy import v2_header
from .timing import Stats, stats

__all__ = [
    "CONFIGS",
    "CONTROL",
    "PROXY_CONFIGS",
    "PROXY_LISTENER",
    "PROXY_REALIP",
    "PROXY_SERVERS",
    "ServerConfig",
    "ServerRow",
    "ask",
    "measure_servers",
    "server_env",
    "start_server",
    "stop_server",
    "warm",
]

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
#: The request every configuration serves: S3 (CLB -> ingress -> app), seen from a trusted loopback peer.
XFF = "198.51.100.7, 100.64.3.4"
EXPECTED = "198.51.100.7"

# uvicorn binds the port itself: given a socket with --fd it wraps it as AF_UNIX, so asyncio never sets TCP_NODELAY
# on accepted connections and every response stalls ~40 ms on Nagle + delayed ACK (about 200 requests/s).
_UVICORN = [
    "-m",
    "uvicorn",
    "--host",
    HOST,
    "--port",
    "{port}",
    "--lifespan",
    "off",
    "--no-access-log",
    "--log-level",
    "warning",
]
# --timeout: the worker watchdog must not kill a worker that boots ~50 times slower under valgrind (level 3, counted).
_GUNICORN = ["-m", "gunicorn", "--bind", "fd://{fd}", "--workers", "1", "--timeout", "300", "--log-level", "warning"]


@dataclass(frozen=True)
class ServerConfig:
    """One server configuration: its name, the server, the middleware, the command line, and the client's side."""

    name: str
    server: str
    middleware: str
    argv: tuple[str, ...]
    #: The client address a right answer names.
    expected: str = EXPECTED
    #: What the client sends at the start of every connection, before its requests (a PROXY protocol header).
    preamble: bytes = b""
    #: Variables added to the server's environment (after ``server_env`` took realip's out).
    env: tuple[tuple[str, str], ...] = ()


#: The middleware name of the do-nothing control rows.
CONTROL = "pass-through (control)"

# uvicorn's two installs: the default (h11, asyncio) and uvicorn[standard] (httptools, uvloop), named explicitly so
# the run does not depend on what happens to be installed.
_H11 = [*_UVICORN, "--http", "h11", "--loop", "asyncio"]
_STANDARD = [*_UVICORN, "--http", "httptools", "--loop", "uvloop"]


def _uvicorn_configs(server: str, argv: list[str]) -> tuple[ServerConfig, ...]:
    """Bare, the control, realip and uvicorn's own proxy headers, on one uvicorn install."""
    return (
        ServerConfig(
            f"{server}-bare", server, "none", (*argv, "--no-proxy-headers", "benchmarks.apps:asgi_bare"), expected=HOST
        ),
        ServerConfig(
            f"{server}-control",
            server,
            CONTROL,
            (*argv, "--no-proxy-headers", "benchmarks.apps:asgi_passthrough"),
            expected=HOST,
        ),
        ServerConfig(
            f"{server}-realip", server, "realip.asgi", (*argv, "--no-proxy-headers", "benchmarks.apps:asgi_realip")
        ),
        ServerConfig(
            f"{server}-proxy-headers",
            server,
            "uvicorn --proxy-headers",
            (*argv, "--proxy-headers", "--forwarded-allow-ips", ",".join(SERVER_TRUSTED), "benchmarks.apps:asgi_bare"),
        ),
    )


CONFIGS: tuple[ServerConfig, ...] = (
    *_uvicorn_configs("uvicorn", _H11),
    ServerConfig(
        "uvicorn-hypercorn",
        "uvicorn",
        "hypercorn ProxyFix",
        (*_H11, "--no-proxy-headers", "benchmarks.apps:asgi_hypercorn"),
    ),
    *_uvicorn_configs("uvicorn-std", _STANDARD),
    ServerConfig("gunicorn-bare", "gunicorn", "none", (*_GUNICORN, "benchmarks.apps:wsgi_bare"), expected=HOST),
    ServerConfig(
        "gunicorn-control", "gunicorn", CONTROL, (*_GUNICORN, "benchmarks.apps:wsgi_passthrough"), expected=HOST
    ),
    ServerConfig("gunicorn-realip", "gunicorn", "realip.wsgi", (*_GUNICORN, "benchmarks.apps:wsgi_realip")),
    ServerConfig("gunicorn-werkzeug", "gunicorn", "werkzeug ProxyFix", (*_GUNICORN, "benchmarks.apps:wsgi_werkzeug")),
)
#: The servers, each measured bare, with the control, with realip and with its best-known peer.
SERVERS: tuple[str, ...] = ("uvicorn", "uvicorn-std", "gunicorn")
#: How each server is named in the report.
SERVER_LABELS = {
    "uvicorn": "uvicorn (h11, asyncio)",
    "uvicorn-std": "uvicorn[standard] (httptools, uvloop)",
    "gunicorn": "gunicorn (sync)",
}

#: The middleware names of the PROXY protocol rows: the bare app behind the listener hook (what the listener alone
#: costs), and realip reading the header the hook recorded (the whole Layer-4 path).
PROXY_LISTENER = "PROXY listener, bare app"
PROXY_REALIP = "PROXY listener + realip.asgi layer4=proxy-protocol"
#: What the client sends first on each connection, as a load balancer does: PROXY v2 naming 198.51.100.7, with the
#: AWS VPC endpoint TLV and a CRC32c TLV (which the listener checks).
_PROXY_HEADER = v2_header()
# The hook trusts the load generator's loopback as the balancer. The header timeout is raised from 5 s because a
# server under valgrind runs ~50 times slower (the timer costs the same whatever its length).
_PROXY_ENV = (("REALIP_LAYER4_PROXIES", f"{HOST}/32"), ("REALIP_PROXY_PROTOCOL_TIMEOUT", "60"))


def _proxy_configs(server: str, hook: str, loop: str) -> tuple[ServerConfig, ...]:
    """The PROXY protocol rows of one uvicorn install: its protocol class under realip_toa's listener hook."""
    argv = (*_UVICORN, "--http", f"realip_toa.uvicorn_hooks:{hook}", "--loop", loop, "--no-proxy-headers")
    return (
        ServerConfig(
            f"{server}-proxy-listener",
            server,
            PROXY_LISTENER,
            (*argv, "benchmarks.apps:asgi_bare"),
            expected=HOST,  # the bare app answers its peer: the check is that the hook took the header off
            preamble=_PROXY_HEADER,
            env=_PROXY_ENV,
        ),
        ServerConfig(
            f"{server}-proxy-realip",
            server,
            PROXY_REALIP,
            (*argv, "benchmarks.apps:asgi_realip_layer4"),
            preamble=_PROXY_HEADER,
            env=_PROXY_ENV,
        ),
    )


#: uvicorn with the PROXY protocol listener on, for each install (counted, not timed: see the module docstring).
PROXY_CONFIGS: tuple[ServerConfig, ...] = (
    *_proxy_configs("uvicorn", "ProxyProtocolH11", "asyncio"),
    *_proxy_configs("uvicorn-std", "ProxyProtocolHttpTools", "uvloop"),
)
#: The servers with PROXY protocol rows.
PROXY_SERVERS: tuple[str, ...] = ("uvicorn", "uvicorn-std")


@dataclass
class ServerRow:
    """One configuration's throughput and answer (or why it did not run)."""

    config: ServerConfig
    stats: Stats | None = None
    #: Throughput over the same server's bare throughput, per round (paired, so drift between rounds cancels).
    share: Stats | None = None
    answer: str | None = None
    note: str = ""


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(CPUs for the servers, CPUs for the load generator), or None with fewer than two CPUs to split."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return {cpus[-1]}, set(cpus[:-1])


def _pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` pinning the child (and what it forks) to ``cpus``."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _connect(port: int, timeout: float, preamble: bytes) -> http.client.HTTPConnection:
    """A connection to the server, ``preamble`` (a PROXY header) sent first when there is one."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    if preamble:
        connection.connect()
        connection.sock.sendall(preamble)
    return connection


def ask(port: int, preamble: bytes = b"") -> str | None:
    """The body (the client the app saw) for one request carrying the S3 header; ``None`` if no answer."""
    connection = None
    try:
        connection = _connect(port, 2, preamble)
        connection.request("GET", "/", headers={"X-Forwarded-For": XFF})
        return connection.getresponse().read().decode("latin-1")
    except OSError:
        return None
    finally:
        if connection is not None:
            connection.close()


def server_env() -> dict[str, str]:
    """The servers' environment: ours without REALIP_* (each app configures itself), the checkout importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("REALIP_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def warm(port: int, requests: int = 300, timeout: float = 2, preamble: bytes = b"", reconnect: bool = False) -> int:
    """``requests`` S3 requests on one connection (imports, first-call paths, caches), or each on a new connection
    with ``reconnect``; ``preamble`` starts every connection. How many were answered."""
    served = 0
    connection = None
    try:
        for _ in range(requests):
            if connection is None:
                connection = _connect(port, timeout, preamble)
            connection.request("GET", "/", headers={"X-Forwarded-For": XFF})
            connection.getresponse().read()
            served += 1
            if reconnect:
                connection.close()
                connection = None
    except OSError:
        pass
    finally:
        if connection is not None:
            connection.close()
    return served


def start_server(
    config: ServerConfig, env: dict[str, str], log: Path, cpus: set[int] | None = None, wrapper: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], int]:
    """Launch one server (under ``wrapper``, e.g. valgrind): on a socket bound here (``{fd}``), else on a free port;
    ``env`` plus the configuration's own variables."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        port = int(listener.getsockname()[1])
        uses_fd = any("{fd}" in arg for arg in config.argv)
        if uses_fd:
            listener.listen(1024)
            listener.set_inheritable(True)
        else:
            listener.close()  # the server binds this port itself
        fd = str(listener.fileno()) if uses_fd else ""
        filled = (arg.replace("{fd}", fd).replace("{port}", str(port)) for arg in config.argv)
        argv = [*wrapper, sys.executable, *filled]
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**env, **dict(config.env)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),) if uses_fd else (),
                start_new_session=True,
                preexec_fn=_pinned(cpus),
            )
    return process, port


@contextlib.contextmanager
def _servers(
    configs: tuple[ServerConfig, ...], timeout: float, cpus: set[int] | None = None
) -> Iterator[dict[str, int | str]]:
    """Start every configuration; yield name -> port (or the reason it failed); always stop them all."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    ports: dict[str, int | str] = {}
    env = server_env()
    try:
        for config in configs:
            handle, name = tempfile.mkstemp(prefix=f"realip-bench-{config.name}-", suffix=".log")
            os.close(handle)
            logs[config.name] = Path(name)
            processes[config.name], ports[config.name] = start_server(config, env, logs[config.name], cpus)
        deadline = time.monotonic() + timeout
        for config in configs:
            retries = 2
            while True:
                port, process = ports[config.name], processes[config.name]
                assert isinstance(port, int)
                if ask(port, config.preamble) is not None:
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    log = logs[config.name].read_text(errors="replace")
                    if "in use" in log and retries:  # the port was taken between our probe and its bind
                        retries -= 1
                        processes[config.name], ports[config.name] = start_server(config, env, logs[config.name], cpus)
                        continue
                    lines = log.strip().splitlines()
                    ports[config.name] = f"did not start: {' / '.join(lines[-3:]) or 'no output'}"
                    break
                time.sleep(0.05)
        yield ports
    finally:
        for process in processes.values():
            stop_server(process)
        for path in logs.values():
            path.unlink(missing_ok=True)


def _wrk(port: int, seconds: float, connections: int, cpus: set[int] | None = None) -> float:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "2s",
        "-H",
        f"X-Forwarded-For: {XFF}",
        f"http://{HOST}:{port}/",
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=True, preexec_fn=_pinned(cpus)
    ).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"wrk printed no Requests/sec: {output!r}")
    return float(match.group(1))


def _python_loadgen(port: int, seconds: float, connections: int, cpus: set[int] | None = None) -> float:
    command = [
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        f"http://{HOST}:{port}/",
        "--seconds",
        str(seconds),
        "--connections",
        str(connections),
        "--header",
        f"X-Forwarded-For: {XFF}",
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=True, cwd=ROOT, preexec_fn=_pinned(cpus)
    )
    return float(output.stdout.split(":")[1])


def load_generator(seconds: float) -> tuple[str, Callable[[int, float, int, set[int] | None], float]]:
    """``wrk`` when installed and the run is at least a second long, else the Python load generator."""
    if shutil.which("wrk") and seconds >= 1:
        return "wrk -t1", _wrk
    return "python -m benchmarks.loadgen", _python_loadgen


def measure_servers(
    rounds: int,
    seconds: float,
    connections: int = 8,
    configs: tuple[ServerConfig, ...] = CONFIGS,
    progress: Callable[[str], None] = lambda line: None,
    seed: int = 7,
    warm_up: bool = True,
) -> tuple[list[ServerRow], str]:
    """Requests/s of every configuration (median over ``rounds`` runs of ``seconds``) and a note on the method."""
    generator, drive = load_generator(seconds)
    split = cpu_split()
    server_cpus, load_cpus = split if split is not None else (None, None)
    rows = {config.name: ServerRow(config) for config in configs}
    samples: dict[str, list[float]] = {config.name: [] for config in configs}
    shares: dict[str, list[float]] = {config.name: [] for config in configs}
    rng = random.Random(seed)
    for index in range(rounds):
        with _servers(configs, timeout=30.0, cpus=server_cpus) as ports:  # fresh processes every round
            live: list[tuple[ServerConfig, int]] = []
            for config in configs:
                port = ports[config.name]
                if isinstance(port, str):
                    rows[config.name].note = port
                    continue
                answer = ask(port, config.preamble)
                row = rows[config.name]
                if row.answer is None or row.answer == config.expected:  # a wrong answer in any round is shown
                    row.answer = answer
                live.append((config, port))
            for config, port in live if warm_up else ():
                warm(port, preamble=config.preamble)
            bare_ports = {config.server: port for config, port in live if config.middleware == "none"}
            wrapped = [(config, port) for config, port in live if config.middleware != "none"]
            rng.shuffle(wrapped)
            for config, port in wrapped:
                # Each wrapped run is paired with a bare run of the same server right next to it (in random
                # order), so the share of bare compares two runs seconds apart, not the two ends of a round.
                bare_port = bare_ports.get(config.server)
                pair = [("mine", port)] + ([("bare", bare_port)] if bare_port is not None else [])
                rng.shuffle(pair)
                rates = {role: drive(where, seconds, connections, load_cpus) for role, where in pair}
                samples[config.name].append(rates["mine"])
                if "bare" in rates:
                    samples[f"{config.server}-bare"].append(rates["bare"])
                    shares[config.name].append(rates["mine"] / rates["bare"])
        progress(f"server round {index + 1}/{rounds}")
    for name, values in samples.items():
        if values:
            rows[name].stats = stats(values)
            rows[name].note = ""
        if shares[name]:
            rows[name].share = stats(shares[name])
    pinning = (
        f"servers pinned to CPU {sorted(server_cpus)}, the load generator to CPU {sorted(load_cpus)}"
        if server_cpus is not None and load_cpus is not None
        else "no CPU pinning (one CPU)"
    )
    note = (
        f"{generator}, {connections} connections, runs of {seconds:g}s, 1 worker per server, {pinning}; {rounds} "
        "rounds, each starting fresh server processes and running every wrapped configuration next to a run of its "
        "bare server (share of bare = median of those pairs). The pass-through control is a middleware that does "
        "nothing: its distance from 100% is the method's resolution."
    )
    return list(rows.values()), note
