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
    assert install_demo.startswith("pip install") and "realip serve" in install_demo
    assert tests.startswith("pip install") and tests.endswith("pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert quickstart_commands()[1] in ci.splitlines()


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
    rows = re.findall(r"^\|[^|\n]*\| \[[^\]]+\]\((examples/kubernetes/[^)]+)\) \|[^|\n]*\| (.*) \|$", section, re.M)
    assert len(rows) == 6
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
