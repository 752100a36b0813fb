"""The WSGI examples, each started under a real gunicorn with the exact command its docstring documents."""

from __future__ import annotations

import importlib
import shlex
from contextlib import AbstractContextManager

import pytest

from tests.servers import Server, ServerError, python, run_server
from tests.test_wsgi import GUNICORN_OPTIONS, access_log_host, send, tagged

EXAMPLES = ("examples.wsgi_app", "examples.flask_app")
FORWARDED = (("X-Forwarded-For", "192.0.2.66, 198.51.100.7"), ("X-Forwarded-Proto", "https"))


def documented_command(module: str) -> list[str]:
    """The one ``gunicorn ...`` line in the example's docstring, split like a shell would."""
    doc = importlib.import_module(module).__doc__ or ""
    lines = [line.strip() for line in doc.splitlines() if line.strip().startswith("gunicorn ")]
    assert len(lines) == 1, f"{module} must document exactly one 'gunicorn ...' command, found {lines}"
    return shlex.split(lines[0])


def start(module: str, env: dict[str, str] | None = None) -> AbstractContextManager[Server]:
    """The documented command, run with this interpreter on a pre-bound loopback socket, access log on stdout."""
    _, *args = documented_command(module)
    return run_server(python("-m", "gunicorn", *args, "--bind", "fd://{fd}", *GUNICORN_OPTIONS), env=env)


@pytest.mark.parametrize("module", EXAMPLES)
def test_documented_command(module: str) -> None:
    # --forwarded-allow-ips= (empty): else gunicorn believes X-Forwarded-Proto from 127.0.0.1 whatever realip trusts
    assert documented_command(module) == ["gunicorn", f"{module}:app", "--forwarded-allow-ips="]


@pytest.mark.parametrize("module", EXAMPLES)
def test_example_in_code_defaults(module: str) -> None:
    """No REALIP_* set: the in-code default trusts loopback and reads X-Forwarded-Proto; the access log agrees."""
    with start(module) as server:
        path, tag = tagged("/")
        status, answer = send(("127.0.0.1", server.port), path, FORWARDED)
        assert status == 200
        assert (answer["client"], answer["scheme"], answer["source"]) == ("198.51.100.7", "https", "x-forwarded-for")
        assert answer["peer"] == "127.0.0.1"
        if module == "examples.flask_app":
            assert answer["remote_addr"] == "198.51.100.7"
            assert answer["url"] == "https://127.0.0.1/"  # url_for(_external=True): the scheme realip believed
        assert access_log_host(server, tag) == "198.51.100.7"


@pytest.mark.parametrize("module", EXAMPLES)
def test_example_environment_wins(module: str) -> None:
    """REALIP_* (a ConfigMap) overrides the in-code default: here 127.0.0.1 is no longer a trusted proxy."""
    env = {"REALIP_TRUSTED_PROXIES": "10.0.0.0/8, cgnat", "REALIP_HEADER": "x-real-ip"}
    with start(module, env=env) as server:
        path, tag = tagged("/")
        _, answer = send(("127.0.0.1", server.port), path, (*FORWARDED, ("X-Real-IP", "198.51.100.8")))
        assert (answer["client"], answer["scheme"], answer["source"]) == ("127.0.0.1", "http", "peer")
        assert answer.get("url", "http://127.0.0.1/") == "http://127.0.0.1/"  # the forged X-Forwarded-Proto ignored
        assert access_log_host(server, tag) == "127.0.0.1"


@pytest.mark.parametrize("module", EXAMPLES)
def test_example_bad_environment_fails_at_startup(module: str) -> None:
    """A bad ConfigMap value stops gunicorn at start-up, and the log names the variable and the entry."""
    with pytest.raises(ServerError, match=r"REALIP_TRUSTED_PROXIES='10\.0\.0\.1/8'.*host bits"):
        with start(module, env={"REALIP_TRUSTED_PROXIES": "10.0.0.1/8"}):
            pass
