"""The ASGI examples, each started under a real uvicorn with the exact command its docstring documents."""

from __future__ import annotations

import importlib
import json
import shlex
from collections.abc import Sequence
from typing import Any

import pytest

from tests.servers import Server, ServerError, http_get, python, run_server

EXAMPLES = ("examples.asgi_app", "examples.starlette_app", "examples.fastapi_app")
FORWARDED = (("X-Forwarded-For", "192.0.2.66, 198.51.100.7"), ("X-Forwarded-Proto", "https"))


def documented_command(module: str) -> list[str]:
    """The one ``uvicorn ...`` line in the example's docstring, split like a shell would."""
    doc = importlib.import_module(module).__doc__ or ""
    lines = [line.strip() for line in doc.splitlines() if line.strip().startswith("uvicorn ")]
    assert len(lines) == 1, f"{module} must document exactly one 'uvicorn ...' command, found {lines}"
    return shlex.split(lines[0])


def start(module: str, env: dict[str, str] | None = None) -> Any:
    """The documented command, run with this interpreter on a pre-bound loopback socket."""
    argv = python("-m", *documented_command(module), "--fd", "{fd}")
    return run_server(argv, env=env)


def get(server: Server, path: str, headers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    reply = http_get(server, path, headers)
    assert reply.status == 200
    return dict(json.loads(reply.body))


@pytest.mark.parametrize("module", EXAMPLES)
def test_documented_command(module: str) -> None:
    command = documented_command(module)
    assert command[:2] == ["uvicorn", f"{module}:app"]
    assert "--no-proxy-headers" in command  # else uvicorn rewrites the client from XFF before realip sees the peer


@pytest.mark.parametrize("module", EXAMPLES)
def test_example_in_code_defaults(module: str) -> None:
    """No REALIP_* set: the in-code default trusts loopback and reads X-Forwarded-Proto."""
    with start(module) as server:
        answer = get(server, "/", FORWARDED)
        url = answer.pop("url", None)  # the Starlette example also answers the URL it builds for itself
        assert url == (f"https://{server.host}:{server.port}/" if module == "examples.starlette_app" else None)
        assert answer == {"client": "198.51.100.7", "scheme": "https", "source": "x-forwarded-for", "peer": "127.0.0.1"}
        server.wait_for_log('198.51.100.7:0 - "GET / HTTP/1.1" 200')


@pytest.mark.parametrize("module", EXAMPLES)
def test_example_environment_wins(module: str) -> None:
    """REALIP_* (a ConfigMap) overrides the in-code default: here 127.0.0.1 is no longer a trusted proxy."""
    with start(module, env={"REALIP_TRUSTED_PROXIES": "10.0.0.0/8, cgnat", "REALIP_HEADER": "x-real-ip"}) as server:
        answer = get(server, "/", (*FORWARDED, ("X-Real-IP", "198.51.100.8")))
        url = answer.pop("url", None)  # the forged X-Forwarded-Proto is not believed: the app's own scheme
        assert url == (f"http://{server.host}:{server.port}/" if module == "examples.starlette_app" else None)
        assert answer == {"client": "127.0.0.1", "scheme": "http", "source": "peer", "peer": "127.0.0.1"}


@pytest.mark.parametrize("module", EXAMPLES)
def test_example_bad_environment_fails_at_startup(module: str) -> None:
    """A bad ConfigMap value stops the server at start-up, and the log names the variable and the entry."""
    with pytest.raises(ServerError, match=r"REALIP_TRUSTED_PROXIES='10\.0\.0\.1/8'"):
        with start(module, env={"REALIP_TRUSTED_PROXIES": "10.0.0.1/8"}):
            pass
