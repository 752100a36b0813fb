"""The Django adapter: the shared scenarios through Django's test clients, its ASGI handler, real gunicorn and uvicorn.

In-process tests configure Django once, in a module fixture (``settings.configure()``, or ``override_settings`` if
something configured Django already), and use the example project's own URLs and views; the rest of the suite does
not use Django. The example project (``examples/django_project``) also runs in real subprocesses: ``manage.py
check`` with bad settings, gunicorn (WSGI, its access log) and uvicorn (ASGI, the async view).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import itertools
import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from realip import Resolver
from tests.scenarios import CONTEXT_HOSTS, LOOPBACK_SCENARIOS, SCENARIOS, TKE, Scenario, assert_context, log_path
from tests.servers import REPO, Server, http_get, python, run_server

EXAMPLE = REPO / "examples" / "django_project"

BASE_SETTINGS: dict[str, Any] = {
    "DEBUG": False,
    "SECRET_KEY": "realip-tests",
    "ALLOWED_HOSTS": ["testserver", "127.0.0.1", *CONTEXT_HOSTS],
    "INSTALLED_APPS": ["realip.django"],
    "MIDDLEWARE": ["realip.django.RealIPMiddleware"],
    "ROOT_URLCONF": "examples.django_project.project.urls",  # the example's own views: "" (sync), "async"
    "DATABASES": {},
    "USE_TZ": True,
}


# -- fixtures and helpers -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def django_settings() -> Iterator[None]:
    """Django for this module: configured here if nothing configured it yet, else overridden for the module's span.

    No other test module uses Django, so settings configured here change nothing for them.
    """
    if not settings.configured:
        settings.configure(**BASE_SETTINGS)
        django.setup()
        yield
        return
    django.setup()
    with override_settings(**BASE_SETTINGS):
        yield


@pytest.fixture(autouse=True)
def fresh_script_prefix() -> Iterator[None]:
    """Django's handlers set the thread's script prefix on each request; its test client does not, so a prefix an
    earlier test's request set would still be there: reset it as a server would."""
    from django.urls import clear_script_prefix

    clear_script_prefix()
    yield
    clear_script_prefix()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No REALIP_* variable from the shell running the tests; a fresh build of realip's configuration."""
    from realip.django import conf

    for name in list(os.environ):
        if name.startswith("REALIP_"):
            monkeypatch.delenv(name)
    conf.reset()
    yield
    conf.reset()


def realip_setting(options: dict[str, object]) -> dict[str, object]:
    """A scenario's Resolver options as the ``REALIP`` setting."""
    return {key.upper(): value for key, value in options.items()}


def joined(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Headers as a WSGI server puts them in META: repeated lines joined with commas, in order."""
    result: dict[str, str] = {}
    for name, value in headers:
        key = next((k for k in result if k.lower() == name.lower()), name)
        result[key] = f"{result[key]},{value}" if key in result else value
    return result


def expected(scenario: Scenario, peer_port: int | None = None) -> tuple[str, int | None, str]:
    """The scenario's client; when the client is the peer, its port is the peer's port."""
    port = peer_port if scenario.source == "peer" else scenario.client_port
    return scenario.client_ip, port, scenario.source


def assert_answer(body: dict[str, Any], scenario: Scenario, view: str, peer_port: int | None = None) -> None:
    """The view's JSON shows the scenario's client everywhere Django code would look for it."""
    assert body["view"] == view
    assert (body["client_ip"], body["client_port"], body["source"]) == expected(scenario, peer_port)
    assert body["remote_addr"] == scenario.client_ip
    assert body["orig_remote_addr"] == scenario.peer
    assert body["scheme"] == (scenario.scheme or "http")
    assert body["is_secure"] is (scenario.scheme == "https")
    assert_context(body, body["url"], scenario)  # reverse() and build_absolute_uri(): the links Django builds


def ok_response(request: Any) -> HttpResponse:
    return HttpResponse("ok")


async def async_ok_response(request: Any) -> HttpResponse:
    return HttpResponse("ok")


def middleware(get_response: Any = ok_response) -> Any:
    from realip.django import RealIPMiddleware

    return RealIPMiddleware(get_response)


async def call_asgi(app: Any, scope: dict[str, Any]) -> tuple[int, bytes]:
    """One request through an ASGI app; the status and the body."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect: Django cancels this listener when it has answered
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


def asgi_scope(peer: str | None, port: int, headers: Sequence[tuple[str, str]], path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")]
        + [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": None if peer is None else (peer, port),
        "server": ("testserver", 80),
    }


# -- the shared scenarios in process -------------------------------------------------------------------------------


@pytest.mark.parametrize("path, view", [("/", "sync"), ("/async", "async")])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_through_test_client(scenario: Scenario, path: str, view: str) -> None:
    """Sync handler (WSGI-like): REMOTE_ADDR per scenario, repeated lines joined as a WSGI server joins them."""
    with override_settings(REALIP=realip_setting(scenario.options)):
        response = Client().get(path, REMOTE_ADDR=scenario.peer, headers=joined(scenario.headers))
    assert response.status_code == 200
    assert_answer(response.json(), scenario, view)


@pytest.mark.parametrize("path, view", [("/", "sync"), ("/async", "async")])
@pytest.mark.parametrize("scenario", LOOPBACK_SCENARIOS, ids=lambda s: s.name)
def test_scenario_through_async_client(scenario: Scenario, path: str, view: str) -> None:
    """Async handler (ASGIRequest, middleware awaited); AsyncClient's peer is 127.0.0.1 port 0.

    Headers go in as raw lowercase names: before Django 4.2.30 / 5.2.13, ``AsyncClient(headers=...)`` sent
    ``x_forwarded_for``, a name realip rightly ignores (it is not the header the proxy wrote).
    """
    headers = {name.lower(): value for name, value in joined(scenario.headers).items()}

    async def get() -> Any:
        return await AsyncClient().get(path, **headers)

    with override_settings(REALIP=realip_setting(scenario.options)):
        response = asyncio.run(get())
    assert response.status_code == 200
    assert_answer(response.json(), scenario, view, peer_port=0)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_through_asgi_handler(scenario: Scenario) -> None:
    """Django's real ASGI handler: each header line separate, as a server delivers it; scope["client"] rewritten."""
    from django.core.asgi import get_asgi_application

    scope = asgi_scope(scenario.peer, 50123, scenario.headers, "/async")
    with override_settings(REALIP=realip_setting(scenario.options)):
        status, body = asyncio.run(call_asgi(get_asgi_application(), scope))
    assert status == 200, body
    assert_answer(json.loads(body), scenario, "async", peer_port=50123)
    port = 50123 if scenario.source == "peer" else scenario.client_port or 0
    assert tuple(scope["client"]) == (scenario.client_ip, port)  # what uvicorn's access log prints


# -- the middleware itself -----------------------------------------------------------------------------------------


def test_middleware_is_sync_and_async_capable() -> None:
    """Django's hybrid pattern: a coroutine function exactly when the next handler is one."""
    from asgiref.sync import iscoroutinefunction

    sync_instance = middleware(ok_response)
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert not iscoroutinefunction(sync_instance)
    assert sync_instance(request).content == b"ok"
    assert request.client_ip == "198.51.100.7"

    async_instance = middleware(async_ok_response)
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert iscoroutinefunction(async_instance)
    assert asyncio.run(async_instance(request)).content == b"ok"
    assert request.client_ip == "198.51.100.8"
    assert request.realip.reason == "untrusted-entry"


def test_rewrite_can_be_turned_off() -> None:
    with override_settings(REALIP={"REWRITE_REMOTE_ADDR": False}):
        request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
        middleware()(request)
    assert request.client_ip == "198.51.100.7"
    assert request.META["REMOTE_ADDR"] == "127.0.0.1"
    assert "realip.orig_remote_addr" not in request.META


@pytest.mark.parametrize(
    "xff, remote_port",
    [("198.51.100.7:5000", "5000"), ("198.51.100.7", None), ("", "41000")],
    ids=["client port from the header", "no port: the proxy's is dropped", "client is the peer: port kept"],
)
def test_remote_port_belongs_to_the_client(xff: str, remote_port: str | None) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", REMOTE_PORT="41000", HTTP_X_FORWARDED_FOR=xff)
    middleware()(request)
    assert request.META.get("REMOTE_PORT") == remote_port


def test_asgi_reads_raw_header_names_not_meta() -> None:
    """Django before 4.2.30 / 5.2.13 folded X_Forwarded_For into HTTP_X_FORWARDED_FOR; realip reads the raw names."""
    scope = asgi_scope("127.0.0.1", 1, [("X-Forwarded-For", "198.51.100.7"), ("X_Forwarded_For", "192.0.2.66")], "/")
    request = ASGIRequest(scope, io.BytesIO(b""))
    request.META["HTTP_X_FORWARDED_FOR"] = "198.51.100.7,192.0.2.66"  # what those Django versions built
    middleware()(request)
    assert request.client_ip == "198.51.100.7"


@pytest.mark.parametrize(
    "trusted, client_ip, source",
    [(["unix"], "198.51.100.7", "x-forwarded-for"), (["loopback"], "", "peer")],
    ids=["unix trusted", "unix not trusted"],
)
def test_unix_socket_peer(trusted: list[str], client_ip: str, source: str) -> None:
    """An empty REMOTE_ADDR is a UNIX-socket peer: trusted only through the "unix" named set."""
    with override_settings(REALIP={"TRUSTED_PROXIES": trusted}):
        request = RequestFactory().get("/", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="198.51.100.7")
        middleware()(request)
    assert (request.client_ip, request.realip.source) == (client_ip, source)


def test_missing_keys_fall_back_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("REALIP_HEADER", "x-real-ip")
    headers = {"REMOTE_ADDR": "10.1.2.3", "HTTP_X_REAL_IP": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "198.51.100.9"}
    with override_settings(REALIP={}):
        request = RequestFactory().get("/", **headers)
        middleware()(request)
        assert request.client_ip == "198.51.100.7"
    with override_settings(REALIP={"HEADER": "x-forwarded-for"}):  # a key in REALIP wins over its variable
        request = RequestFactory().get("/", **headers)
        middleware()(request)
        assert request.client_ip == "198.51.100.9"


def test_settings_change_rebuilds_the_configuration() -> None:
    """``override_settings(REALIP=...)`` reaches a middleware already loaded (setting_changed)."""
    client = Client()
    with override_settings(REALIP={"TRUSTED_PROXIES": ["loopback"]}):
        assert client.get("/", HTTP_X_FORWARDED_FOR="198.51.100.7").json()["client_ip"] == "198.51.100.7"
    with override_settings(REALIP={"TRUSTED_PROXIES": []}):
        assert client.get("/", HTTP_X_FORWARDED_FOR="198.51.100.7").json()["client_ip"] == "127.0.0.1"


def test_bad_settings_fail_when_the_middleware_loads() -> None:
    with override_settings(REALIP={"TRUSTED_PROXIES": ["loopback", "10.0.0.1/33"], "MAX_HOPS": 0}):
        with pytest.raises(ImproperlyConfigured) as raised:
            middleware()
    message = str(raised.value)
    assert re.search(r"""realip\.E003: REALIP\["TRUSTED_PROXIES"\]: trusted_proxies\[1\]='10\.0\.0\.1/33'""", message)
    assert re.search(r"""realip\.E005: REALIP\["MAX_HOPS"\]: max_hops=0 must be a whole number.*\n\s+HINT: """, message)


def test_unexpected_failure_is_logged_and_the_request_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    """A server handing over a malformed scope must not turn into a 500: logged once, the peer is the client."""
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1")
    request.scope = {"type": "http", "client": ("127.0.0.1", 1), "headers": 42}  # not iterable
    instance = middleware()
    with caplog.at_level(logging.DEBUG, logger="realip"):
        assert instance(request).content == b"ok"
        instance(request)
    assert (request.client_ip, request.realip) == ("127.0.0.1", None)
    assert [record.levelno for record in caplog.records] == [logging.ERROR, logging.DEBUG]


CHAIN_CONFIG = {
    "TRUSTED_PROXIES": TKE,
    "HEADER": ("x-original-forwarded-for", "x-forwarded-for"),
    "PROTO_HEADER": "x-forwarded-proto",
}
_tokens = st.sampled_from(["198.51.100.7", "100.64.3.4", "[2001:db8::7]:80", "::ffff:10.0.0.1", ",", " ", '"', "["])
header_values = st.lists(st.one_of(_tokens, st.text(st.characters(max_codepoint=255), max_size=8)), max_size=12).map(
    "".join
)


@hypothesis_settings(max_examples=150, deadline=None)
@given(original=header_values, xff=header_values, proto=header_values, port=st.text(max_size=6))
def test_any_header_bytes_match_the_core(original: str, xff: str, proto: str, port: str) -> None:
    """Whatever the header values (latin-1, as servers decode them), WSGI and ASGI agree with the core resolver."""
    resolver = Resolver(**{key.lower(): value for key, value in CHAIN_CONFIG.items()})  # type: ignore[arg-type]
    headers = [("x-original-forwarded-for", original), ("x-forwarded-for", xff), ("x-forwarded-proto", proto)]
    want = resolver.resolve("127.0.0.1", headers)
    with override_settings(REALIP=CHAIN_CONFIG):
        wsgi = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", REMOTE_PORT=port, headers=dict(headers))
        middleware()(wsgi)
        asgi = ASGIRequest(asgi_scope("127.0.0.1", 0, headers, "/"), io.BytesIO(b""))
        middleware()(asgi)
    for request in (wsgi, asgi):
        assert (request.realip.client_ip, request.realip.source, request.realip.scheme) == (
            want.client_ip,
            want.source,
            want.scheme,
        )
        assert request.client_ip == want.client_ip
        assert request.scheme == (want.scheme or "http")


# -- system checks in process -------------------------------------------------------------------------------------


def check_messages(**overrides: Any) -> list[Any]:
    from django.core import checks

    with override_settings(**overrides):
        return list(checks.run_checks(tags=["realip"]))


def test_checks_report_every_problem_at_once() -> None:
    messages = check_messages(REALIP={"TRUSTED_PROXIES": ["10.0.0.0/33"], "HEADER": "", "SPAM": 1})
    assert sorted(message.id for message in messages) == ["realip.E002", "realip.E003", "realip.E004"]
    by_id = {message.id: message for message in messages}
    assert "trusted_proxies[0]='10.0.0.0/33'" in by_id["realip.E003"].msg
    assert by_id["realip.E003"].hint.startswith("List the proxies you trust")
    assert by_id["realip.E002"].hint.startswith("The keys are: TRUSTED_PROXIES")  # no close match for SPAM


@pytest.mark.parametrize(
    "setting, check_id, pattern",
    [
        ({"TRUSTED_PROXIES": 5}, "realip.E003", r'REALIP\["TRUSTED_PROXIES"\]: 5 is not accepted'),
        ({"MAX_HOPS": True}, "realip.E005", r"max_hops=True must be a whole number from 1 to 1000"),
        ({"TRUSTED_HOPS": "2"}, "realip.E005", r"trusted_hops='2' must be a whole number from 1 to 1000"),
        ({"HEADER": None}, "realip.E004", r"header=None must be a header name or a tuple of names"),
        ({"MAX_HOPS": 2**63}, "realip.E005", r"max_hops=9223372036854775808 must be a whole number from 1 to 1000"),
        ({"HEADER": "peer"}, "realip.E004", r"'peer' is what Result.source says"),
        (
            {"TRUSTED_HOPS": 1},
            "realip.E005",
            r'REALIP\["TRUSTED_HOPS"\]: trusted_hops=1 \(hop-count mode\) also needs trusted_proxies.*\[\'any\'\]',
        ),
    ],
)
def test_check_odd_types(setting: dict[str, object], check_id: str, pattern: str) -> None:
    [message] = check_messages(REALIP=setting)
    assert message.id == check_id
    assert re.search(pattern, message.msg), message.msg


def test_check_guesses_a_misspelt_key() -> None:
    [message] = check_messages(REALIP={"trusted_proxies": ["loopback"]})
    assert message.id == "realip.E002"
    assert message.hint.startswith('Did you mean "TRUSTED_PROXIES"?')


def test_check_warns_when_the_middleware_is_missing() -> None:
    [message] = check_messages(MIDDLEWARE=["django.middleware.common.CommonMiddleware"])
    assert (message.id, message.level) == ("realip.W001", logging.WARNING)


def test_check_security_middleware_order_matters_only_for_the_scheme() -> None:
    late = ["django.middleware.security.SecurityMiddleware", "realip.django.middleware.RealIPMiddleware"]
    assert check_messages(MIDDLEWARE=late, SECURE_SSL_REDIRECT=True) == []  # no PROTO_HEADER: nothing to see
    [message] = check_messages(MIDDLEWARE=late, SECURE_SSL_REDIRECT=True, REALIP={"PROTO_HEADER": "x-forwarded-proto"})
    assert message.id == "realip.E008"
    assert message.msg.startswith("django.middleware.security.SecurityMiddleware comes before")


def test_check_warns_about_secure_proxy_ssl_header() -> None:
    [message] = check_messages(
        REALIP={"PROTO_HEADER": "x-forwarded-proto"}, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
    )
    assert message.id == "realip.W002"
    assert "LEFTMOST" in message.hint


# -- manage.py check, a real subprocess against the example project --------------------------------------------------


def example_environment(tmp_path: Path, settings_body: str | None = None, **variables: str) -> dict[str, str]:
    """The example's environment: no inherited REALIP_*, optionally a settings module overriding project.settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("REALIP_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    paths = [str(EXAMPLE), str(REPO)]
    if settings_body is not None:
        module = f"realip_test_settings_{next(_modules)}"
        (tmp_path / f"{module}.py").write_text(f"from project.settings import *  # noqa: F403\n{settings_body}\n")
        env["DJANGO_SETTINGS_MODULE"] = module
        paths.insert(0, str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["DJANGO_ALLOWED_HOSTS"] = ",".join(CONTEXT_HOSTS)  # the hosts the scenario table forwards
    env.update(variables)
    return env


_modules = itertools.count()


def manage_py_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=60
    )


BAD_SETTINGS = [
    ("not a dict", 'REALIP = ["loopback"]', "realip.E001", r"REALIP is a list \(\['loopback'\]\), not a dict"),
    (
        "unknown key",
        'REALIP = {"TRUSTED_PROXY": ["loopback"]}',
        "realip.E002",
        r"REALIP has an unknown key 'TRUSTED_PROXY'\.\n\s+HINT: Did you mean \"TRUSTED_PROXIES\"\?",
    ),
    (
        "bad trusted entry",
        'REALIP = {"TRUSTED_PROXIES": ["loopback", "10.0.0.1/33"]}',
        "realip.E003",
        r"REALIP\[\"TRUSTED_PROXIES\"\]: trusted_proxies\[1\]='10\.0\.0\.1/33' has prefix /33, beyond /32",
    ),
    (
        "trusted proxies a string",
        'REALIP = {"TRUSTED_PROXIES": "10.0.0.0/8"}',
        "realip.E003",
        r"trusted_proxies='10\.0\.0\.0/8' is a single string",
    ),
    (
        "bad header",
        'REALIP = {"HEADER": "x forwarded for"}',
        "realip.E004",
        r"REALIP\[\"HEADER\"\]: header='x forwarded for': 'x forwarded for' is not a valid HTTP header name",
    ),
    ("zero hops", 'REALIP = {"TRUSTED_HOPS": 0}', "realip.E005", r"trusted_hops=0 must be a whole number from 1"),
    (
        "hops above the bound",
        'REALIP = {"TRUSTED_HOPS": 3, "MAX_HOPS": 2}',
        "realip.E005",
        r"trusted_hops=3 is greater than max_hops=2",
    ),
    (
        "bad proto header",
        'REALIP = {"PROTO_HEADER": "x-forwarded-proto:"}',
        "realip.E006",
        r"proto_header='x-forwarded-proto:' is not a valid HTTP header name",
    ),
    (
        "rewrite not a bool",
        'REALIP = {"REWRITE_REMOTE_ADDR": "yes"}',
        "realip.E007",
        r"REALIP\[\"REWRITE_REMOTE_ADDR\"\] is 'yes', not True or False",
    ),
    (
        "middleware after the debug toolbar",
        'MIDDLEWARE = ["debug_toolbar.middleware.DebugToolbarMiddleware", "realip.django.RealIPMiddleware"]',
        "realip.E008",
        r"debug_toolbar\.middleware\.DebugToolbarMiddleware comes before realip\.django\.RealIPMiddleware",
    ),
]


@pytest.mark.parametrize(
    "body, check_id, pattern", [case[1:] for case in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS]
)
def test_manage_py_check_reports_bad_settings(tmp_path: Path, body: str, check_id: str, pattern: str) -> None:
    done = manage_py_check(example_environment(tmp_path, body))
    assert done.returncode != 0, done.stdout + done.stderr
    assert f"({check_id}) " in done.stderr
    assert re.search(pattern, done.stderr), done.stderr


@pytest.mark.parametrize(
    "variable, value, check_id, pattern",
    [
        (
            "REALIP_TRUSTED_PROXIES",
            "loopback, 10.0.0.1/33",
            "realip.E003",
            r"REALIP_TRUSTED_PROXIES='loopback, 10\.0\.0\.1/33' \(environment\): trusted_proxies\[1\]='10\.0\.0\.1/33'",
        ),
        ("REALIP_TRUSTED_HOPS", "two", "realip.E005", r"REALIP_TRUSTED_HOPS='two' is not a whole number"),
    ],
)
def test_manage_py_check_reports_bad_variables(
    tmp_path: Path, variable: str, value: str, check_id: str, pattern: str
) -> None:
    done = manage_py_check(example_environment(tmp_path, **{variable: value}))
    assert done.returncode != 0, done.stdout + done.stderr
    assert f"({check_id}) " in done.stderr
    assert re.search(pattern, done.stderr), done.stderr


def test_manage_py_check_clean_and_warnings(tmp_path: Path) -> None:
    done = manage_py_check(example_environment(tmp_path, REALIP_TRUSTED_PROXIES="loopback,10.0.0.0/8,cgnat"))
    assert (done.returncode, done.stdout.strip()) == (0, "System check identified no issues (0 silenced).")
    done = manage_py_check(example_environment(tmp_path, "MIDDLEWARE = []"))
    assert done.returncode == 0  # warnings do not stop start-up
    assert "(realip.W001) realip.django is installed but its middleware is not in MIDDLEWARE." in done.stderr


def test_gunicorn_refuses_to_start_with_bad_settings(tmp_path: Path) -> None:
    """gunicorn runs no system checks, but loading the middleware fails, naming the entry."""
    env = example_environment(tmp_path, REALIP_TRUSTED_PROXIES="10.0.0.1/8")
    argv = python("-m", "gunicorn", "--bind", "127.0.0.1:0", *GUNICORN_FLAGS, "project.wsgi")
    done = subprocess.run(argv, cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert (
        "realip.E003: REALIP_TRUSTED_PROXIES='10.0.0.1/8' (environment): trusted_proxies[0]='10.0.0.1/8' has host "
        "bits set" in done.stderr
    )


# -- the example under real servers ----------------------------------------------------------------------------------


def _gunicorn_flags() -> tuple[str, ...]:
    from gunicorn.config import KNOWN_SETTINGS

    # gunicorn >= 25 opens a control socket in $HOME by default; parallel test servers would fight over it.
    return ("--no-control-socket",) if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else ()


GUNICORN_FLAGS = ("--workers", "1", "--access-logfile", "-", *_gunicorn_flags())
SERVERS = {
    "gunicorn": python("-m", "gunicorn", "--bind", "fd://{fd}", *GUNICORN_FLAGS, "project.wsgi"),
    "gunicorn-dangerous": python(
        "-m", "gunicorn", "--bind", "fd://{fd}", "--header-map", "dangerous", *GUNICORN_FLAGS, "project.wsgi"
    ),
    "uvicorn": python(
        "-m", "uvicorn", "--fd", "{fd}", "--no-proxy-headers", "--lifespan", "off", "project.asgi:application"
    ),
}


class Servers:
    """The example under each server and REALIP setting asked for, started once per module, stopped at its end."""

    def __init__(self, stack: contextlib.ExitStack, directory: Path) -> None:
        self.stack = stack
        self.directory = directory
        self.running: dict[tuple[str, str], Server] = {}

    def get(self, kind: str, setting: dict[str, object] | None = None, **variables: str) -> Server:
        body = None if setting is None else f"REALIP = {setting!r}"
        key = (kind, repr((body, sorted(variables.items()))))
        if key not in self.running:
            env = example_environment(self.directory, body, **variables)
            self.running[key] = self.stack.enter_context(run_server(SERVERS[kind], env=env, cwd=EXAMPLE))
        return self.running[key]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with contextlib.ExitStack() as stack:
        yield Servers(stack, tmp_path_factory.mktemp("django-settings"))


_requests = itertools.count()


def get(server: Server, path: str, headers: Sequence[tuple[str, str | bytes]]) -> tuple[int, dict[str, Any], str]:
    """GET with each header line sent as given (repeats as separate lines); the status, JSON body and unique path."""
    path = f"{path}?request={next(_requests)}"
    reply = http_get(server, path, headers)
    return reply.status, json.loads(reply.body) if reply.status == 200 else {}, path


def access_line(server: Server, path: str) -> str:
    log = server.wait_for_log(f'"GET {path} HTTP/1.1"')
    return next(line for line in log.splitlines() if f'"GET {path} HTTP/1.1"' in line)


@pytest.mark.parametrize("scenario", LOOPBACK_SCENARIOS, ids=lambda s: s.name)
def test_loopback_scenario_under_gunicorn(servers: Servers, scenario: Scenario) -> None:
    server = servers.get("gunicorn", realip_setting(scenario.options))
    status, body, path = get(server, "/", scenario.headers)
    assert status == 200
    assert (body["client_ip"], body["source"]) == (scenario.client_ip, scenario.source)
    if scenario.source != "peer":
        assert body["client_port"] == scenario.client_port
    else:  # the peer's own port, from gunicorn's REMOTE_PORT
        assert isinstance(body["client_port"], int) and body["client_port"] > 0
    assert body["scheme"] == (scenario.scheme or "http")
    assert (body["remote_addr"], body["orig_remote_addr"]) == (scenario.client_ip, "127.0.0.1")
    assert access_line(server, path).split(" ", 1)[0] == scenario.client_ip  # gunicorn logs the rewritten REMOTE_ADDR


@pytest.mark.parametrize("scenario", LOOPBACK_SCENARIOS, ids=lambda s: s.name)
def test_loopback_scenario_under_uvicorn(servers: Servers, scenario: Scenario) -> None:
    server = servers.get("uvicorn", realip_setting(scenario.options))
    status, body, path = get(server, "/async", scenario.headers)
    assert status == 200
    assert body["view"] == "async"
    assert (body["client_ip"], body["source"]) == (scenario.client_ip, scenario.source)
    if scenario.source != "peer":
        assert body["client_port"] == scenario.client_port
    assert body["scheme"] == (scenario.scheme or "http")
    port = r"\d+" if scenario.source == "peer" else str(scenario.client_port or 0)
    line = access_line(server, log_path(scenario, path))  # uvicorn logs root_path + path: the prefix too
    assert re.search(rf"\s{re.escape(scenario.client_ip)}:{port} - ", line)  # scope["client"]


UNDERSCORE = [("X-Forwarded-For", "198.51.100.7"), ("X_Forwarded_For", "192.0.2.66")]


@pytest.mark.parametrize("kind, path", [("gunicorn", "/"), ("uvicorn", "/async"), ("uvicorn", "/")])
def test_underscore_header_is_never_the_client(servers: Servers, kind: str, path: str) -> None:
    """A forged ``X_Forwarded_For`` line: gunicorn drops it before Django; under ASGI realip reads raw names."""
    status, body, _ = get(servers.get(kind, {"TRUSTED_PROXIES": TKE}), path, UNDERSCORE)
    assert status == 200
    assert body["client_ip"] == "198.51.100.7"
    if kind == "uvicorn":
        assert "x_forwarded_for" in body["asgi_header_names"]  # it did reach Django; realip ignored it


def test_wsgi_server_that_folds_names_lets_the_forgery_through(servers: Servers) -> None:
    """Written-down limit: under WSGI realip sees only META. ``--header-map dangerous`` folds the two names into
    one key, so the forged entry becomes the rightmost: keep gunicorn's default (``drop``)."""
    status, body, _ = get(servers.get("gunicorn-dangerous", {"TRUSTED_PROXIES": TKE}), "/", UNDERSCORE)
    assert status == 200
    assert body["meta_x_forwarded_for"] == "198.51.100.7,192.0.2.66"
    assert body["client_ip"] == "192.0.2.66"


BAD_BYTES = [
    ("x-forwarded-for", b"\xff\xfe\x80, 198.51.100.7"),
    ("x-forwarded-for", b"198.51.100.7, \xc3\xa9\xe2\x80\xae"),
    ("x-forwarded-for", b"," * 3000 + b"198.51.100.7"),
    ("x-forwarded-for", b"100.64.0.1, " * 500),
    ("x-forwarded-for", b"[2001:db8::7"),
    ("x-forwarded-for", b"198.51.100.7%eth0, 198.51.100.8:99999"),
    ("x-forwarded-for", b"\x00198.51.100.7"),
    ("forwarded", b'for="\\"\xff;proto=https, for=[2001:db8::7]'),
    ("forwarded", b"for=" + b'"' * 2000),
]


def raw_get(server: Server, name: str, value: bytes) -> tuple[int, bytes]:
    """One request written byte for byte (http.client would refuse some of these values)."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + name.encode() + b": " + value + b"\r\nConnection: close\r\n\r\n"
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
@pytest.mark.parametrize("name, value", BAD_BYTES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_BYTES)])
def test_bad_header_bytes_never_500(servers: Servers, kind: str, name: str, value: bytes) -> None:
    """The server may refuse a request (400); when it passes one on, realip answers as the core does, never 500."""
    options: dict[str, object] = {"trusted_proxies": TKE}
    if name != "x-forwarded-for":
        options["header"] = name
    status, body = raw_get(servers.get(kind, realip_setting(options)), name, value)
    assert status in (200, 400), body
    if status == 200:
        want = Resolver(**options).resolve("127.0.0.1", [(name, value.decode("latin-1"))])  # type: ignore[arg-type]
        assert json.loads(body)["client_ip"] == want.client_ip


def test_example_reads_realip_variables(servers: Servers) -> None:
    """The example as shipped (no REALIP trust keys): a ConfigMap's REALIP_* variables configure it."""
    server = servers.get(
        "gunicorn",
        None,
        REALIP_TRUSTED_PROXIES="loopback, 10.0.0.0/8",
        REALIP_HEADER="x-real-ip",
        REALIP_PROTO_HEADER="x-forwarded-proto",
    )
    headers = [("X-Forwarded-For", "192.0.2.66"), ("X-Real-IP", "198.51.100.7"), ("X-Forwarded-Proto", "https")]
    status, body, _ = get(server, "/", headers)
    assert status == 200
    assert (body["client_ip"], body["source"], body["is_secure"]) == ("198.51.100.7", "x-real-ip", True)


# -- TOA (a Layer-4 load balancer's TCP option) ------------------------------------------------------------------


def test_layer4_setting_gives_the_client_behind_a_load_balancer() -> None:
    from realip_toa import TOA
    from realip_toa._table import conn_key
    from realip_toa.source import REGISTRY

    key = conn_key(("100.64.0.1", 40000), ("100.64.9.9", 8000))
    assert key is not None
    REGISTRY.put(key, TOA(254, "198.51.100.7", 51234))  # as the uvicorn hook does when it reads the saved SYN
    try:
        for trusted, expected in ((["cgnat"], ("198.51.100.7", "toa")), (["10.0.0.0/8"], ("100.64.0.1", "peer"))):
            with override_settings(REALIP={"LAYER4_PROXIES": trusted, "LAYER4": "toa:saved-syn"}):
                request = RequestFactory().get(
                    "/", REMOTE_ADDR="100.64.0.1", REMOTE_PORT="40000", SERVER_ADDR="100.64.9.9", SERVER_PORT="8000"
                )
                middleware()(request)
            assert (request.client_ip, request.realip.source) == expected
            assert request.realip_layer4 == ("198.51.100.7", 51234)  # what the balancer carried, believed or not
    finally:
        REGISTRY.forget(key)


def test_check_reports_a_bad_layer4_kind_and_missing_balancers() -> None:
    [message] = check_messages(REALIP={"LAYER4": "always"})
    assert message.id == "realip.E009"
    assert re.search(r"REALIP\[\"LAYER4\"\]='always' is not one of proxy-protocol", message.msg), message.msg
    assert message.hint.startswith('Set LAYER4 to "proxy-protocol"')
    [message] = check_messages(REALIP={"LAYER4": "proxy-protocol"})
    assert (message.id, message.hint[:23]) == ("realip.E010", "List the Layer-4 load b")
    [message] = check_messages(REALIP={"LAYER4": "toa:capture", "LAYER4_PROXIES": ["10.0.0.1/8"]})
    assert message.id == "realip.E010" and "layer4_proxies[0]='10.0.0.1/8'" in message.msg
