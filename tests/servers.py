"""Run a real server as a subprocess on 127.0.0.1 in a test: free port, readiness poll, captured log, clean stop.

    from tests.servers import run_server, python

    with run_server(python("-m", "uvicorn", "app:app", "--fd", "{fd}")) as server:
        ...  # talk to server.url; server.log() is everything it printed so far
        server.wait_for_log('"GET / HTTP/1.1" 200')

``argv`` may hold placeholders, replaced in every argument:

- ``{fd}``: a listening socket bound here on a free port and passed down (uvicorn ``--fd {fd}``, gunicorn
  ``--bind fd://{fd}``), so no other process can take the port in between; prefer it where the server accepts one;
- ``{port}``: a free port number, for servers that must bind themselves; the start is retried on a new port if that
  one was taken meanwhile, and ``ready_log`` (e.g. ``"Uvicorn running on http://{host}:{port}"``) makes sure a
  stranger on the port is not taken for the server;
- ``{host}``: 127.0.0.1.

The server's stdout and stderr go, merged, to a temporary file. Inherited ``REALIP_*`` variables are dropped so the
shell running the tests cannot change them; pass what a test needs in ``env``. The server is always stopped
(SIGTERM to its process group, then SIGKILL) when the ``with`` block ends, even on failure.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from benchmarks.server import stop_server

__all__ = ["REPO", "Server", "ServerError", "free_port", "python", "run_server"]

HOST = "127.0.0.1"
#: The repository root: the default working directory, so ``examples.*`` and ``tests.*`` import.
REPO = Path(__file__).resolve().parent.parent


class ServerError(AssertionError):
    """The server exited or never answered; the message carries its log."""


@dataclass
class Server:
    """A running server: where it listens and what it printed."""

    url: str
    port: int
    host: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        """Wait (bounded) until ``text`` appears in the log, and return the log; fail with the log if it never does."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if text in log:
                return log
            if time.monotonic() > deadline:
                raise ServerError(f"{text!r} did not appear in the server log within {timeout}s; log:\n{log}")
            time.sleep(0.02)


def python(*args: str) -> list[str]:
    """``[sys.executable, *args]``: run a module or script with the interpreter running the tests."""
    return [sys.executable, *args]


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (prefer ``{fd}``, which cannot be taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    base = {name: value for name, value in os.environ.items() if not name.startswith("REALIP_")}
    base["PYTHONUNBUFFERED"] = "1"
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH", "")]))
    return {**base, **(env or {})}


def _answers(host: str, port: int, path: str) -> bool:
    """Whether an HTTP GET gets any response at all (even a 404 means the server is serving)."""
    connection = http.client.HTTPConnection(host, port, timeout=2)
    try:
        connection.request("GET", path)
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


@contextlib.contextmanager
def run_server(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    ready_path: str = "/",
    ready_log: str | None = None,
    timeout: float = 30.0,
    attempts: int = 3,
) -> Iterator[Server]:
    """Start ``argv`` as a server on 127.0.0.1, wait until it answers ``GET ready_path``, yield it, then stop it.

    With ``{port}``, also pass ``ready_log`` (text the server prints once it listens; ``{port}`` and ``{host}`` are
    replaced) so that another process that took the port meanwhile is not mistaken for this server. ``env`` is added
    to the inherited environment (minus ``REALIP_*``); ``cwd`` defaults to the repository root. Raises
    :class:`ServerError`, with the server's log, if it exits or does not answer within ``timeout`` seconds.
    """
    for attempt in range(attempts):
        listener: socket.socket | None = None
        if any("{fd}" in arg for arg in argv):
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # uvicorn wraps an inherited fd as AF_UNIX, so asyncio never sets TCP_NODELAY on its connections and
            # every keep-alive reply would wait ~40 ms for a delayed ACK; accepted sockets inherit it from here.
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            listener.bind((HOST, 0))
            listener.listen(128)
            listener.set_inheritable(True)
            port = int(listener.getsockname()[1])
        else:
            port = free_port()
        fd = str(listener.fileno()) if listener is not None else ""
        command = [arg.replace("{port}", str(port)).replace("{fd}", fd).replace("{host}", HOST) for arg in argv]
        expected = None if ready_log is None else ready_log.replace("{port}", str(port)).replace("{host}", HOST)
        handle, name = tempfile.mkstemp(prefix="realip-server-", suffix=".log")
        log_path = Path(name)
        process = subprocess.Popen(
            command,
            cwd=cwd if cwd is not None else REPO,
            env=_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),) if listener is not None else (),
            start_new_session=True,
        )
        os.close(handle)
        server = Server(f"http://{HOST}:{port}", port, HOST, process, log_path)
        try:
            deadline = time.monotonic() + timeout
            while not (_answers(HOST, port, ready_path) and (expected is None or expected in server.log())):
                if process.poll() is not None:
                    log = server.log()
                    if listener is None and "in use" in log and attempt + 1 < attempts:
                        break  # the port was taken between free_port() and the bind: try another
                    raise ServerError(f"server {command} exited with {process.returncode}; log:\n{log}")
                if time.monotonic() > deadline:
                    raise ServerError(f"server {command} did not answer within {timeout}s; log:\n{server.log()}")
                time.sleep(0.05)
            else:
                if listener is not None:
                    listener.close()  # the server holds its own copy
                    listener = None
                yield server
                return
        finally:
            stop_server(process)
            if listener is not None:
                listener.close()
            log_path.unlink(missing_ok=True)
    raise ServerError(f"could not start {list(argv)} on a free port after {attempts} attempts")


class Reply(NamedTuple):
    """What :func:`http_get` got back: status, headers (names lowercased), body, and the client's local port."""

    status: int
    headers: dict[str, str]
    body: bytes
    local_port: int


def http_get(server: Server, path: str = "/", headers: Sequence[tuple[str, str | bytes]] = ()) -> Reply:
    """A GET with every header sent as its own line, in order (repeats kept, unlike clients that fold them)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.putrequest("GET", path)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        assert connection.sock is not None
        local_port = connection.sock.getsockname()[1]
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body, local_port)
    finally:
        connection.close()
