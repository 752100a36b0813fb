"""The aiohttp, Sanic, Tornado, Litestar, Quart, Falcon and Channels examples, each started with the exact command its
docstring documents (the ``$ ...`` line, port 8000 replaced by a free one), answering a forwarded request with the
real client, and a ConfigMap-style ``REALIP_*`` value taking over from the in-code default."""

from __future__ import annotations

import importlib
import json
import shlex
import sys
from typing import Any

import pytest
import websockets.sync.client

from tests.servers import Server, http_get, run_server

EXAMPLES = (
    "examples.aiohttp_app",
    "examples.sanic_app",
    "examples.tornado_app",
    "examples.litestar_app",
    "examples.quart_app",
    "examples.falcon_app",
    "examples.channels_app",
)
FORWARDED = (("X-Forwarded-For", "192.0.2.66, 198.51.100.7"), ("X-Forwarded-Proto", "https"))


def documented_command(module: str) -> list[str]:
    """The one ``$ ...`` line of the example's docstring, split like a shell would."""
    doc = importlib.import_module(module).__doc__ or ""
    lines = [line.strip()[2:] for line in doc.splitlines() if line.strip().startswith("$ ")]
    assert len(lines) == 1, f"{module} must document exactly one '$ ...' command, found {lines}"
    return shlex.split(lines[0])


def start(module: str, env: dict[str, str] | None = None) -> Any:
    """The documented command with this interpreter (``python -m <tool>``), on a free port."""
    command = documented_command(module)
    if command[0] == "python":
        command = command[1:]
    argv = [sys.executable, *([] if command[0] == "-m" else ["-m"]), *command]
    argv = [arg.replace("8000", "{port}") for arg in argv]
    return run_server(argv, env=env, timeout=60)


def answer(server: Server, module: str, headers: Any) -> dict[str, Any]:
    if module == "examples.channels_app":  # its point is the websocket consumer
        url = server.url.replace("http", "ws") + "/ws/"
        with websockets.sync.client.connect(url, additional_headers=list(headers), open_timeout=10) as ws:
            return dict(json.loads(ws.recv(timeout=10)))
    reply = http_get(server, "/", headers)
    assert reply.status == 200, reply.body
    return dict(json.loads(reply.body))


@pytest.mark.parametrize("module", EXAMPLES)
def test_example(module: str) -> None:
    with start(module) as server:
        got = answer(server, module, FORWARDED)
    scheme = "wss" if module == "examples.channels_app" else "https"
    assert got == {"client": "198.51.100.7", "scheme": scheme, "source": "x-forwarded-for", "peer": "127.0.0.1"}


@pytest.mark.parametrize("module", ["examples.aiohttp_app", "examples.quart_app"])
def test_example_environment_wins(module: str) -> None:
    """REALIP_* (a ConfigMap) overrides the in-code default: here 127.0.0.1 is no longer a trusted proxy."""
    with start(module, env={"REALIP_TRUSTED_PROXIES": "10.0.0.0/8, cgnat"}) as server:
        got = answer(server, module, FORWARDED)
    assert (got["client"], got["source"], got["scheme"]) == ("127.0.0.1", "peer", "http")


def test_sanic_example_refuses_sanics_own_proxy_setting() -> None:
    """SANIC_PROXIES_COUNT (Sanic reads SANIC_* into its config) would trust by count: the server does not start."""
    from tests.servers import ServerError

    with pytest.raises(ServerError, match=r"ConfigError: Sanic.s PROXIES_COUNT=1 decides the client itself"):
        with start("examples.sanic_app", env={"SANIC_PROXIES_COUNT": "1"}):
            pass
