"""The README is the contract: its Quickstart commands are what CI runs, and its examples are real output."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the Quickstart has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_is_two_commands_install_and_demo_then_tests() -> None:
    install_demo, tests = quickstart_commands()
    # A virtualenv first: Debian's and Ubuntu's Python refuse pip outside one (PEP 668).
    assert install_demo.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
    assert "pip install 'realip[serve]'" in install_demo and install_demo.endswith("realip serve")
    assert tests == "./scripts/test"


def test_ci_runs_the_readme_test_command_first() -> None:
    """CI walks the newcomer's path: nothing but the shell's set-up before the README's test command."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    set_up = ["set -uo pipefail", 'cd "$(dirname "$0")/.."']
    assert commands[: len(set_up)] == set_up
    assert commands[len(set_up)].split(" || ")[0] == quickstart_commands()[1]


def test_every_link_works_on_pypi_too() -> None:
    """PyPI shows the README without the repository around it: every link is absolute, and each link into the
    repository names a file or directory that exists."""
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    assert links
    assert [link for link in links if not link.startswith(("https://", "#"))] == []
    for link in links:
        path = re.match(r"https://github\.com/realip/realip/(?:blob|tree)/main/(.+)", link)
        if path:
            assert (ROOT / path.group(1)).exists(), link


def test_every_django_check_id_is_named() -> None:
    from realip.django.checks import HINTS

    named = set(re.findall(r"realip\.([EW]\d{3})", README))
    for first, last in re.findall(r"`realip\.E(\d{3})`-`realip\.E(\d{3})`", README):
        named |= {f"E{n:03d}" for n in range(int(first), int(last) + 1)}
    assert {f"realip.{check}" for check in named} == set(HINTS)


def test_the_demo_answer_is_described_key_by_key() -> None:
    """The Quickstart lists the demo's JSON keys, and each object's own keys; they are what the probe answers."""
    import asyncio

    import httpx

    from realip import Resolver
    from realip.serve import create_app

    async def ask() -> dict[str, object]:
        transport = httpx.ASGITransport(app=create_app(Resolver()), client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            reply = await client.get("/", headers={"X-Forwarded-For": "198.51.100.7", "Accept": "*/*"})
            return dict(reply.json())

    answer = asyncio.run(ask())
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    described = section.split("which answers JSON:", 1)[1].split("Here `client.client_ip`", 1)[0]
    keys = re.findall(r"`(\w+)` \(([^()]*)\)", described)
    assert [key for key, _ in keys] == list(answer)
    for key, text in keys:
        value = answer[key]
        item = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else value
        if key in ("client", "peer", "steps"):  # the objects whose keys the README lists
            assert isinstance(item, dict) and re.findall(r"`(\w+)`", text.split(":", 1)[1]) == list(item), key
    assert answer["client"]["client_ip"] == "198.51.100.7"  # type: ignore[index]


def test_explain_example_is_real_output() -> None:
    block = re.search(r"```console\n\$ (realip explain (?:.*\\\n)*.*)\n((?:.*\n)*?)```", README)
    assert block is not None
    command = block.group(1).replace("\\\n", " ")
    argv = shlex.split(command)[1:]
    out = subprocess.run(
        [sys.executable, "-m", "realip", *argv], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout == block.group(2)


def test_kubernetes_table_matches_the_example_configmaps() -> None:
    """Every row's settings are exactly the non-empty REALIP_* of its example's ConfigMap (which the lab runs)."""
    import yaml

    section = README.split("## Kubernetes and TKE", 1)[1]
    rows = re.findall(
        r"^\|[^|\n]*\| \[[^\]]+\]\(https://github\.com/realip/realip/tree/main/(examples/kubernetes/[^)]+)\) "
        r"\|[^|\n]*\| (.*) \|$",
        section,
        re.M,
    )
    assert len(rows) == 7
    for directory, settings in rows:
        written = dict(re.findall(r"`(REALIP_[A-Z_]+)=([^`]*)`", settings))
        configmaps = [
            doc["data"]
            for path in sorted((ROOT / directory).glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
            if doc and doc.get("kind") == "ConfigMap" and any(k.startswith("REALIP_") for k in doc.get("data") or {})
        ]
        assert len(configmaps) == 1, directory
        actual = {k: v for k, v in configmaps[0].items() if k.startswith("REALIP_") and v.strip()}
        assert written == actual, directory
