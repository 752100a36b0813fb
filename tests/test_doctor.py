"""``realip doctor``: offline on a configuration (flags, environment, a Django settings module, an app's middleware
stack) and live against a ``realip serve`` probe, with real probe answers for the cases a proxy makes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from realip import Resolver
from realip.doctor import CANARY, CHECKS, lint_app, lint_probe, lint_resolver
from realip.serve import create_app
from tests.servers import REPO, Server, python, run_server

READY = "Uvicorn running on http://{host}:{port}"


def doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, str]], str]:
    """``python -m realip doctor --json ...``: the exit status, the findings, and stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REALIP_")}
    out = subprocess.run(
        [sys.executable, "-m", "realip", "doctor", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "PYTHONPATH": str(REPO), **(env or {})},
        cwd=REPO,
    )
    findings = json.loads(out.stdout) if out.stdout.strip() else []
    return out.returncode, findings, out.stderr


def ids(findings: list[Any]) -> list[tuple[str, str]]:
    return sorted((f["id"], f["level"]) if isinstance(f, dict) else (f.id, f.level) for f in findings)


# -- offline -------------------------------------------------------------------------------------------------------


def test_every_check_has_a_level_and_text() -> None:
    for check, (level, text) in CHECKS.items():
        assert check.startswith("realip.D") and level in ("error", "warning") and text


def test_clean_configuration_exits_zero_and_says_so() -> None:
    out = subprocess.run(
        python("-m", "realip", "doctor", "--trust", "10.0.0.0/8"), capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert out.returncode == 0 and out.stdout.strip() == "realip doctor: no problem found"


@pytest.mark.parametrize(
    ("args", "env", "status", "expected"),
    [
        (["--trust", "any"], {}, 0, [("realip.D001", "warning")]),
        (["--trust", "any", "--strict"], {}, 1, [("realip.D001", "warning")]),
        (["--trust", "10.0.0.0/8", "--layer4", "proxy-protocol"], {}, 1, [("realip.D007", "error")]),
        ([], {"REALIP_TRUSTED_PROXIES": "10.0.0.0/8", "REALIP_LAYER4": "toa:capture"}, 1, [("realip.D007", "error")]),
        (["--trust", "10.0.0.0/8", "--layer4", "proxy-protocol", "--layer4-proxy", "cgnat"], {}, 0, []),
        (["--trust", "10.0.0.0/33"], {}, 1, [("realip.D008", "error")]),
        ([], {"REALIP_MAX_HOPS": "0"}, 1, [("realip.D008", "error")]),
    ],
)
def test_offline_configuration(args: list[str], env: dict[str, str], status: int, expected: list[Any]) -> None:
    code, findings, _ = doctor(*args, env=env)
    assert (code, ids(findings)) == (status, expected)
    assert all(f["fix"] for f in findings)


def test_bad_configuration_names_the_setting() -> None:
    _, [finding], _ = doctor(env={"REALIP_MAX_HOPS": "0"})
    assert "REALIP_MAX_HOPS='0'" in finding["message"]


def test_django_settings_module_wrong_order_and_layer4() -> None:
    code, findings, stderr = doctor("--django-settings", "tests.doctor.django_wrong_order")
    assert code == 1, stderr
    assert ids(findings) == [("realip.D006", "error"), ("realip.D006", "warning"), ("realip.D008", "error")]
    by_level = {f["level"]: f for f in findings if f["id"] == "realip.D006"}
    assert "AxesMiddleware runs before realip in MIDDLEWARE" in by_level["error"]["message"]
    assert "realip.otel.instrument()" in by_level["warning"]["fix"]
    [layer4] = [f for f in findings if f["id"] == "realip.D008"]
    assert layer4["message"].startswith("realip.E010")


def test_django_example_project_is_clean() -> None:
    code, findings, stderr = doctor(
        "--django-settings", "examples.django_project.project.settings", env={"REALIP_TRUSTED_PROXIES": "10.0.0.0/8"}
    )
    assert (code, findings) == (0, []), stderr


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("good", []),
        ("limiter_first", [("realip.D006", "error")]),
        ("spoofable_key", [("realip.D001", "warning"), ("realip.D011", "error")]),
        ("missing", [("realip.D006", "error")]),
        ("tracer_outside", [("realip.D006", "warning")]),
        ("wsgi_chain", []),
        ("flask_good", []),
        ("flask_missing", [("realip.D006", "error")]),
        ("aiohttp_good", []),
        ("aiohttp_limiter_first", [("realip.D006", "error")]),
        ("aiohttp_missing", [("realip.D006", "error")]),
        ("sanic_good", []),
        ("sanic_limiter_first", [("realip.D006", "error")]),
        ("sanic_own_proxies", [("realip.D008", "error")]),
        ("sanic_missing", [("realip.D006", "error")]),
        ("litestar_good", []),
        ("litestar_tracer", [("realip.D006", "warning")]),
        ("litestar_missing", [("realip.D006", "error")]),
        ("quart_good", []),
        ("quart_tracer_outside", [("realip.D006", "warning")]),
        ("quart_missing", [("realip.D006", "error")]),
    ],
)
def test_app_middleware_stacks(app: str, expected: list[Any]) -> None:
    resolver, findings = lint_app(f"tests.doctor.apps:{app}")
    assert ids(findings) == expected
    assert (resolver is None) == app.endswith("missing")
    if resolver is not None:
        assert resolver.trusted_proxies == ("10.0.0.0/8",) or app == "spoofable_key"


@pytest.mark.parametrize(
    ("app", "text"),
    [
        ("aiohttp_limiter_first", "tests.doctor.apps.aiohttp_ratelimit runs before realip in app.middlewares"),
        ("sanic_limiter_first", "tests.doctor.apps.sanic_ratelimit runs before realip in Sanic's request middleware"),
        ("sanic_own_proxies", "Sanic's PROXIES_COUNT=1 is set beside realip's RealIP"),
        ("litestar_tracer", "OpenTelemetryPlugin runs before realip in the app's middleware"),
        ("quart_tracer_outside", "OpenTelemetryMiddleware runs before realip in the asgi_app chain"),
        ("aiohttp_missing", "no realip.aiohttp.realip_middleware in app.middlewares"),
        ("sanic_missing", "no realip.sanic.RealIP extension"),
        ("litestar_missing", "RealIPPlugin adds it"),
        ("quart_missing", "not wrapping this Quart app's asgi_app"),
    ],
)
def test_framework_findings_name_the_culprit(app: str, text: str) -> None:
    _, [finding] = lint_app(f"tests.doctor.apps:{app}")
    assert text in finding.message and finding.fix


def test_framework_app_through_the_cli() -> None:
    code, findings, stderr = doctor("--app", "tests.doctor.apps:sanic_limiter_first")
    assert code == 1, stderr
    assert [f["id"] for f in findings] == ["realip.D006"]
    assert doctor("--app", "tests.doctor.apps:litestar_good") == (0, [], "")


def test_app_through_the_cli_exit_status() -> None:
    code, findings, _ = doctor("--app", "tests.doctor.apps:limiter_first")
    assert code == 1 and "SlowAPIMiddleware runs before realip" in findings[0]["message"]
    assert doctor("--app", "tests.doctor.nothing:here")[0] == 2


# -- live: real probe answers, for the paths a proxy makes -----------------------------------------------------------


def probe(resolver: Resolver, peer: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The probe's JSON for a request arriving from ``peer`` with ``headers`` (what a proxy in between wrote)."""
    with TestClient(create_app(resolver), client=(peer, 40000)) as client:
        answer: dict[str, Any] = client.get("/?format=json", headers=headers or {}).json()
    return answer


def live(resolver: Resolver, peer: str, added: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """lint_probe on the two requests the doctor sends, as they arrive after a proxy added ``added``."""
    added = added or {}
    forged_xff = ", ".join(v for v in (CANARY, added.get("X-Forwarded-For")) if v)
    forged = probe(resolver, peer, {**added, "X-Forwarded-For": forged_xff})
    return ids(lint_probe(probe(resolver, peer, added), forged))


def test_live_proxy_not_trusted() -> None:
    # An ingress at 10.1.2.3 forwards the client, but only 192.168.0.0/16 is trusted.
    assert live(Resolver(trusted_proxies=["192.168.0.0/16"]), "10.1.2.3", {"X-Forwarded-For": "198.51.100.7"}) == [
        ("realip.D002", "error")
    ]


def test_live_right_configuration_is_clean() -> None:
    assert live(Resolver(trusted_proxies=["10.0.0.0/8"]), "10.1.2.3", {"X-Forwarded-For": "198.51.100.7"}) == []


def test_live_snat_and_wrong_header() -> None:
    resolver = Resolver(trusted_proxies=["10.0.0.0/8"])
    # kube-proxy SNAT hides the client and passes the client's own headers on: the doctor's forged one is believed.
    assert live(resolver, "10.1.2.3") == [("realip.D003", "warning"), ("realip.D005", "error")]
    # An ingress writing X-Real-IP and passing X-Forwarded-For through untouched: the same forgery works.
    assert live(resolver, "10.1.2.3", {"X-Real-IP": "198.51.100.7"}) == [
        ("realip.D005", "error"),
        ("realip.D009", "error"),
    ]


def test_live_trust_all_with_a_public_peer_is_spoofable() -> None:
    found = live(Resolver(trusted_proxies=["any"]), "9.9.9.9")
    assert found == [("realip.D001", "error"), ("realip.D003", "warning"), ("realip.D005", "error")]


def test_live_hop_count_mismatch() -> None:
    resolver = Resolver(trusted_proxies=["10.0.0.0/8"], trusted_hops=1)
    two_proxies = {"X-Forwarded-For": "198.51.100.7, 10.9.9.9"}  # a CDN hop nobody counted
    assert live(resolver, "10.1.2.3", two_proxies) == [("realip.D004", "error")]
    assert live(resolver, "10.1.2.3", {"X-Forwarded-For": "198.51.100.7"}) == []


def test_live_configuration_differs_from_the_one_given() -> None:
    answer = probe(Resolver(trusted_proxies=["10.0.0.0/8"]), "10.1.2.3", {"X-Forwarded-For": "198.51.100.7"})
    found = lint_probe(answer, answer, Resolver(trusted_proxies=["10.0.0.0/8", "cgnat"]))
    assert ids(found) == [("realip.D010", "warning")] and "trusted_proxies" in found[0].message


def test_offline_and_live_trust_all_reported_once() -> None:
    assert ids(lint_resolver(Resolver(trusted_proxies=["any"]))) == [("realip.D001", "warning")]


# -- live, for real: `realip serve` on loopback, `realip doctor --url` ----------------------------------------------


@pytest.fixture(scope="module")
def serve_untrusted() -> Iterator[Server]:
    argv = python("-m", "realip", "serve", "--port", "{port}", "--trust", "192.0.2.9")
    with run_server(argv, ready_log=READY) as server:
        yield server


@pytest.fixture(scope="module")
def serve_loopback() -> Iterator[Server]:
    with run_server(python("-m", "realip", "serve", "--port", "{port}", "--trust", "loopback"), ready_log=READY) as s:
        yield s


def test_url_against_a_correct_probe(serve_untrusted: Server) -> None:
    code, findings, stderr = doctor("--url", serve_untrusted.url + "/whoami")
    assert (code, findings) == (0, []), stderr


def test_url_against_a_loopback_trusting_probe_reached_directly(serve_loopback: Server) -> None:
    # The doctor on loopback is itself a trusted "proxy": its forged header is believed, and it sent no header.
    code, findings, _ = doctor("--url", serve_loopback.url)
    assert code == 1
    assert ids(findings) == [("realip.D003", "warning"), ("realip.D005", "error")]


def test_url_with_a_configuration_to_compare(serve_untrusted: Server) -> None:
    code, findings, _ = doctor("--url", serve_untrusted.url, "--trust", "10.0.0.0/8")
    assert (code, ids(findings)) == (0, [("realip.D010", "warning")])


def test_url_that_is_not_a_probe_or_not_there(serve_untrusted: Server) -> None:
    assert doctor("--url", "ftp://127.0.0.1/")[0] == 2
    assert doctor("--url", "http://127.0.0.1:9/", "--timeout", "2")[0] == 2
