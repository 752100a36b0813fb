"""The `realip explain` command, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

TKE = ["--trust", "10.0.0.0/8", "--trust", "cgnat"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REALIP_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "realip", *args], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def test_explain_prints_the_walk_hop_by_hop() -> None:
    out = run("explain", "--peer", "10.1.2.3", *TKE, "-H", "X-Forwarded-For: 192.0.2.66, 198.51.100.7, 100.64.3.4")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "trusted: 10.0.0.0/8, 100.64.0.0/10; header: x-forwarded-for"
    assert lines[1].split() == ["peer", "10.1.2.3", "trusted"]
    assert lines[2].split() == ["#1", "x-forwarded-for", "100.64.3.4", "trusted"]
    assert lines[3].split() == ["#2", "x-forwarded-for", "198.51.100.7", "untrusted"]
    assert "client: 198.51.100.7 (source: x-forwarded-for)" in out.stdout
    assert "192.0.2.66" not in out.stdout  # never examined


def test_explain_json_and_the_console_script_agree() -> None:
    args = [
        "explain",
        "--peer",
        "10.1.2.3",
        *TKE,
        "--header",
        "forwarded",
        "--json",
        "-H",
        'Forwarded: for="[2001:db8::7]:4711", for=100.64.3.4',
    ]
    data = json.loads(run(*args).stdout)
    assert data["result"]["client_ip"] == "2001:db8::7"
    assert data["result"]["client_port"] == 4711
    assert data["result"]["reason"] == "untrusted-entry"
    assert [s["verdict"] for s in data["steps"]] == ["trusted", "trusted", "untrusted"]
    script = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "realip"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(script.stdout) == data


def test_explain_says_why_an_untrusted_peer_is_the_client() -> None:
    out = run("explain", "--peer", "203.0.113.9", *TKE, "-H", "X-Forwarded-For: 198.51.100.7")
    assert "client: 203.0.113.9 (source: peer)" in out.stdout
    assert "the peer is not a trusted proxy" in out.stdout


def test_explain_reads_the_environment() -> None:
    out = run(
        "explain",
        "--peer",
        "100.64.0.1",
        "-H",
        "X-Real-IP: 198.51.100.7",
        env={"REALIP_TRUSTED_PROXIES": "cgnat", "REALIP_HEADER": "x-real-ip"},
    )
    assert "client: 198.51.100.7 (source: x-real-ip)" in out.stdout


def test_bad_configuration_exits_2_with_the_entry_named() -> None:
    out = run("explain", "--peer", "10.1.2.3", "--trust", "10.0.0.1/8")
    assert out.returncode == 2
    assert "trusted_proxies[0]='10.0.0.1/8' has host bits set" in out.stderr
    out = run("explain", "--peer", "10.1.2.3", env={"REALIP_TRUSTED_PROXIES": "nope"})
    assert out.returncode == 2 and "REALIP_TRUSTED_PROXIES='nope'" in out.stderr


def test_bad_header_argument_is_a_usage_error() -> None:
    out = run("explain", "--peer", "10.1.2.3", "-H", "no colon here")
    assert out.returncode == 2 and "is not 'Name: value'" in out.stderr


def test_version_names_the_release_the_implementations_and_the_python() -> None:
    """`realip --version` and `python -m realip --version`: what a bug report should quote."""
    import platform
    from importlib.metadata import version

    import realip
    import realip_toa

    expected = (
        f"realip {version('realip')} (realip: {realip.IMPLEMENTATION}, realip_toa: {realip_toa.IMPLEMENTATION}; "
        f"{platform.python_implementation()} {platform.python_version()})\n"
    )
    # This process's environment as it is: REALIP_PURE / REALIP_TOA_PURE change the implementations named.
    for argv in ([sys.executable, "-m", "realip"], [os.path.join(os.path.dirname(sys.executable), "realip")]):
        out = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60, check=False)
        assert (out.returncode, out.stdout, out.stderr) == (0, expected, "")
