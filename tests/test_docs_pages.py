"""The documentation site's pages show real output: the tutorials' answers are what the example apps answer, the
probe's JSON is described key by key, and the commands shown are the ones the examples document and CI runs.

Like tests/test_readme.py for the README: a page that drifts from the code fails here, not in a reader's terminal.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest

from realip import Resolver
from realip.serve import create_app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TUTORIALS = ("fastapi", "starlette", "asgi", "flask", "wsgi", "django")
PEER = ("127.0.0.1", 52000)
CLEAN_ENV = {key: value for key, value in os.environ.items() if not key.startswith("REALIP_")}


def page(name: str) -> str:
    return (DOCS / f"{name}.md").read_text(encoding="utf-8")


def console_exchanges(text: str) -> Iterator[tuple[list[str], str]]:
    """Each ``$ command`` of the page's ``console`` blocks, split like a shell would, with the output after it."""
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        for exchange in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = exchange.partition("\n")
            while command.endswith("\\"):  # a continued line
                more, _, output = output.partition("\n")
                command = command[:-1] + " " + more.strip()
            yield shlex.split(command), output


def curl_requests(text: str) -> list[tuple[str, list[tuple[str, str]], Any]]:
    """``(path, headers, the JSON answer shown)`` for each ``curl`` of the page."""
    found = []
    for argv, output in console_exchanges(text):
        if argv[0] != "curl":
            continue
        argv = argv[: argv.index("|")] if "|" in argv else argv
        headers = [tuple(part.strip() for part in argv[i + 1].split(":", 1)) for i, a in enumerate(argv) if a == "-H"]
        url = next(a for a in argv if a.startswith("http://"))
        found.append((httpx.URL(url).raw_path.decode(), headers, json.loads(output)))
    return found


def example_of(text: str) -> str:
    """The example a tutorial is built on: its first literalinclude under examples/."""
    found = re.search(r"```\{literalinclude\} \.\./\.\./(examples/[\w/]+\.py)", text)
    assert found is not None, "the tutorial includes no example"
    return found.group(1)


def ask_asgi(module: str, path: str, headers: list[tuple[str, str]]) -> Any:
    app = importlib.import_module(module).app

    async def ask() -> Any:
        transport = httpx.ASGITransport(app=app, client=PEER)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            reply = await client.get(path, headers=headers)
            assert reply.status_code == 200
            return reply.json()

    return asyncio.run(ask())


def ask_wsgi(module: str, path: str, headers: list[tuple[str, str]]) -> Any:
    app = importlib.import_module(module).app
    # The server the pages' curl asks: 127.0.0.1:8000, as the ASGI twin's base_url.
    environ: dict[str, Any] = {
        "PATH_INFO": path,
        "REMOTE_ADDR": PEER[0],
        "REMOTE_PORT": str(PEER[1]),
        "HTTP_HOST": "127.0.0.1:8000",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
    }
    setup_testing_defaults(environ)
    for name, value in headers:
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    assert status == ["200 OK"]
    return json.loads(body)


_DJANGO_GET = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
import django
django.setup()
from django.test import Client
path, meta = json.loads(sys.argv[1])
print(Client().get(path, HTTP_HOST="127.0.0.1:8000", **meta).content.decode())
"""


def ask_django(path: str, headers: list[tuple[str, str]]) -> Any:
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers}
    done = subprocess.run(
        [sys.executable, "-c", _DJANGO_GET, json.dumps([path, meta])],
        cwd=ROOT / "examples" / "django_project", env=CLEAN_ENV, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_answers_are_what_the_example_answers(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [key for key in os.environ if key.startswith("REALIP_")]:
        monkeypatch.delenv(key)  # the examples read REALIP_* at import; the pages show them unset
    text = page(f"tutorials/{name}")
    example = example_of(text)
    requests = curl_requests(text)
    assert requests, f"tutorials/{name}.md shows no curl request"
    for path, headers, shown in requests:
        if example.startswith("examples/django_project/"):
            answer = ask_django(path, headers)
        else:
            module = example.removesuffix(".py").replace("/", ".")
            sys.modules.pop(module, None)  # built again under this environment
            ask = ask_wsgi if "gunicorn" in (importlib.import_module(module).__doc__ or "") else ask_asgi
            answer = ask(module, path, headers)
        assert answer == shown, (name, headers)


@pytest.mark.parametrize("name", [name for name in TUTORIALS if name != "django"])
def test_tutorial_runs_the_example_with_its_documented_command(name: str) -> None:
    """The command a tutorial gives is the one the example documents (tests/test_examples_*.py run that one)."""
    text = page(f"tutorials/{name}")
    module = example_of(text).removesuffix(".py").replace("/", ".")
    doc = importlib.import_module(module).__doc__ or ""
    commands = [line.strip() for line in doc.splitlines() if line.strip().startswith(("uvicorn ", "gunicorn "))]
    assert len(commands) == 1
    assert re.search(rf"```sh\n{re.escape(commands[0])}\n```", text), commands[0]


def test_django_tutorial_check_output_is_real() -> None:
    (argv, shown), *_ = [(argv, out) for argv, out in console_exchanges(page("tutorials/django")) if "check" in argv]
    variables = dict(word.split("=", 1) for word in argv if "=" in word and word.split("=", 1)[0].isupper())
    command = [word for word in argv if word not in {f"{k}={v}" for k, v in variables.items()}]
    assert command == ["python", "manage.py", "check"]
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT / "examples" / "django_project",
        env={**CLEAN_ENV, **variables}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == shown


def test_the_result_shown_is_what_resolve_returns() -> None:
    """tutorials/index.md's Result, for the request and settings it names."""
    text = page("tutorials/index")
    shown = re.search(r"```python\n(Result\(.*\))\n```", text)
    assert shown is not None
    resolver = Resolver(trusted_proxies=["loopback"], proto_header="x-forwarded-proto")
    headers = [("X-Forwarded-For", "192.0.2.66, 198.51.100.7"), ("X-Forwarded-Proto", "https")]
    assert repr(resolver.resolve(PEER, headers)) == shown.group(1)
    assert "`X-Forwarded-For: 192.0.2.66, 198.51.100.7` and `X-Forwarded-Proto: https`" in text


def probe_answer(**layer4: Any) -> dict[str, Any]:
    resolver = Resolver(layer4_proxies=["10.0.0.0/8"]) if layer4 else Resolver()

    async def ask() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=create_app(resolver, **layer4), client=PEER)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            reply = await client.get("/", headers={"X-Forwarded-For": "198.51.100.7", "Accept": "*/*"})
            return dict(reply.json())

    return asyncio.run(ask())


def dotted_keys(value: Any, prefix: str = "") -> list[str]:
    """``client``, ``client.client_ip``, ..., ``steps[].position``: every key of a JSON answer."""
    keys: list[str] = []
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return dotted_keys(value[0], prefix + "[]")
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else key
            keys += [name, *dotted_keys(item, name)]
    return keys


def test_the_probe_answer_is_described_key_by_key() -> None:
    text = page("demo").split("## The JSON answer", 1)[1].split("\n## ", 1)[0]
    described = re.findall(r"^\| `([\w.\[\]]+)` \|", text, re.M)
    plain, layer4 = probe_answer(), probe_answer(layer4="proxy-protocol")
    assert layer4["layer4"] == {"kind": "proxy-protocol", "carried": None}
    assert described == dotted_keys(layer4)  # every key, in the answer's order
    assert set(dotted_keys(plain)) <= set(described)


def test_the_probe_answer_shown_is_real() -> None:
    """The curl example's JSON has the live answer's keys, and the same values but for the ephemeral port."""
    (path, headers, shown), *_ = curl_requests(page("demo"))
    assert (path, headers) == ("/", [("X-Forwarded-For", "198.51.100.7")])
    answer = probe_answer()
    assert dotted_keys(shown) == dotted_keys(answer)
    for value in (shown, answer):
        value["client"]["peer_port"] = value["peer"]["port"] = value["steps"][0]["port"] = None
    assert shown == answer


def test_the_explain_example_is_real_output() -> None:
    exchanges = console_exchanges(page("demo"))
    ((argv, shown),) = [(argv, output) for argv, output in exchanges if argv[:2] == ["realip", "explain"]]
    done = subprocess.run(
        [sys.executable, "-m", "realip", *argv[1:]], env=CLEAN_ENV, capture_output=True, text=True, check=True,
        timeout=60,
    )  # fmt: skip
    assert done.stdout == shown


def test_the_tke_guide_names_the_nodeport_hazard_and_every_method() -> None:
    text = page("tke")
    assert "Keep NodePorts reachable only from the CLB's layer-7 listeners" in text
    for directory in sorted((ROOT / "examples" / "kubernetes").iterdir()):
        if directory.is_dir():
            assert f"examples/kubernetes/{directory.name}" in text, directory.name
    assert "examples/layer4/clb-proxy-protocol.yaml" in text
