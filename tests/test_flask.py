"""realip.flask: the scenario table through Flask's test client and a real gunicorn; configuration and errors.

``served_app`` at the bottom is what the gunicorn fixture serves (``tests.test_flask:served_app``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest
from flask import Blueprint, Flask, Request, request, url_for

from realip import ConfigError, Reason
from realip.flask import RealIP, RealIPRequest, RealIPRequestMixin
from realip.wsgi import ORIG_KEY, RealIPMiddleware
from tests.scenarios import LOOPBACK_SCENARIOS, SCENARIOS, TKE, Scenario, assert_context
from tests.servers import Server, run_server
from tests.test_wsgi import BAD_HEADERS, Pairs, access_log_host, assert_resolved, gunicorn_argv, send, tagged


def answer() -> dict[str, Any]:
    """What a view sees: the extension's properties next to werkzeug's own."""
    return {
        "client_ip": request.client_ip,  # type: ignore[attr-defined]
        "remote_addr": request.remote_addr,
        "remote_port": request.environ.get("REMOTE_PORT"),
        "scheme": request.scheme,
        "url": request.url,
        "url_root": url_for("root", _external=True),  # the link Flask builds: scheme, host, script root
        "orig": request.environ.get(ORIG_KEY),
        "result": request.realip._asdict(),  # type: ignore[attr-defined]
    }


def make_app(options: Mapping[str, Any] | None = None, name: str = "realip-test") -> Flask:
    """An app with RealIP(**options), answering on ``/``, ``/scenario/<i>`` and, from a blueprint, ``.../bp/who``."""
    app = Flask(name)
    RealIP(app, **(options or {}))
    app.add_url_rule("/", "root", answer)
    app.add_url_rule("/scenario/<int:index>", "scenario", lambda index: answer())
    blueprint = Blueprint("bp", name)
    blueprint.add_url_rule("/who", "who", lambda **_: answer())
    app.register_blueprint(blueprint, url_prefix="/scenario/<int:index>/bp")
    return app


@pytest.fixture(autouse=True)
def no_realip_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """RealIP falls back to REALIP_* variables: start every test without them."""
    for name in ("REALIP_TRUSTED_PROXIES", "REALIP_HEADER", "REALIP_TRUSTED_HOPS", "REALIP_MAX_HOPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REALIP_PROTO_HEADER", raising=False)


def get(app: Flask, path: str = "/", headers: Pairs = (), peer: str = "127.0.0.1") -> dict[str, Any]:
    environ = {"REMOTE_ADDR": peer, "REMOTE_PORT": "40000"}
    response = app.test_client().get(path, headers=list(headers), environ_base=environ)
    assert response.status_code == 200, response.data
    return response.json  # type: ignore[return-value]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_through_test_client(scenario: Scenario) -> None:
    body = get(make_app(scenario.options), "/", scenario.headers, scenario.peer)
    result = body["result"]
    assert_resolved(result, scenario, 40000)
    assert result["scheme"] == scenario.scheme
    assert body["client_ip"] == body["remote_addr"] == scenario.client_ip
    assert body["scheme"] == (scenario.scheme or "http")
    assert_context(result, body["url_root"], scenario)


def test_blueprint_views_and_request_class() -> None:
    app = make_app({"trusted_proxies": TKE})
    assert app.request_class is RealIPRequest
    chain = [("X-Forwarded-For", "192.0.2.66, [2001:db8::7]:4711, 100.64.3.4")]
    body = get(app, "/scenario/0/bp/who", chain, "10.1.2.3")
    assert (body["client_ip"], body["remote_addr"], body["remote_port"]) == ("2001:db8::7", "2001:db8::7", "4711")
    assert body["result"]["proxies"] == ["10.1.2.3", "100.64.3.4"]
    assert body["orig"] == {"REMOTE_ADDR": "10.1.2.3", "REMOTE_PORT": "40000", "wsgi.url_scheme": "http"}


def test_scheme_from_proto_header() -> None:
    app = make_app({"proto_header": "x-forwarded-proto"})
    body = get(app, "/", [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "https")])
    assert (body["scheme"], body["url"]) == ("https", "https://localhost/")
    body = get(app, "/", [("X-Forwarded-Proto", "https")], peer="203.0.113.50")  # untrusted peer: not believed
    assert body["scheme"] == "http"


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_bad_header_values_never_500(headers: list[tuple[str, str]]) -> None:
    body = get(make_app({"trusted_proxies": TKE}), "/", [(n, v.replace("\x00", "")) for n, v in headers], "10.1.2.3")
    assert body["client_ip"] == body["remote_addr"]
    assert body["result"]["examined"] <= 20


def test_state_in_app_extensions_and_factory_pattern() -> None:
    """One RealIP for two apps, configured differently; nothing stored on the extension but its options."""
    realip = RealIP(header="x-real-ip")
    first, second = Flask("first"), Flask("second")
    second.config["REALIP_TRUSTED_PROXIES"] = ["10.0.0.0/8"]
    realip.init_app(first)
    realip.init_app(second)
    assert not hasattr(realip, "app")
    for app, trusted in ((first, ("127.0.0.0/8", "::1/128")), (second, ("10.0.0.0/8",))):
        middleware = app.extensions["realip"]
        assert isinstance(middleware, RealIPMiddleware) and app.wsgi_app is middleware
        assert (middleware.resolver.trusted_proxies, middleware.resolver.header) == (trusted, ("x-real-ip",))
    with pytest.raises(RuntimeError, match="already initialised on the app 'first'"):
        realip.init_app(first)


def test_precedence_option_over_config_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("REALIP_HEADER", "x-real-ip")
    monkeypatch.setenv("REALIP_MAX_HOPS", "7")
    app = Flask("precedence")
    app.config.update(REALIP_TRUSTED_PROXIES="192.168.0.0/16, cgnat", REALIP_HEADER="forwarded")
    RealIP(app, header="x-forwarded-for")
    app.add_url_rule("/", "root", answer)
    resolver = app.extensions["realip"].resolver
    assert resolver.header == ("x-forwarded-for",)  # the option
    assert resolver.trusted_proxies == ("100.64.0.0/10", "192.168.0.0/16")  # the config, a comma-separated string
    assert resolver.max_hops == 7  # the environment
    headers = [("X-Forwarded-For", "198.51.100.7"), ("X-Real-IP", "192.0.2.66")]
    assert get(app, "/", headers, "192.168.1.1")["client_ip"] == "198.51.100.7"
    assert get(app, "/", headers, "10.1.2.3")["client_ip"] == "10.1.2.3"  # the environment's trust was overridden


def test_env_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALIP_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("REALIP_HEADER", "x-original-forwarded-for, x-forwarded-for")
    app = make_app()
    headers = [("X-Original-Forwarded-For", "192.0.2.66, 198.51.100.7"), ("X-Forwarded-For", "10.4.5.6")]
    assert get(app, "/", headers, "10.1.2.3")["client_ip"] == "198.51.100.7"
    assert get(app, "/", headers, "127.0.0.1")["client_ip"] == "127.0.0.1"  # loopback is not in the env's trust


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"REALIP_TRUSTED_PROXIES": ["10.0.0.0/8", "cgnat"]}, ("trusted_proxies", ("10.0.0.0/8", "100.64.0.0/10"))),
        ({"REALIP_TRUSTED_PROXIES": ()}, ("trusted_proxies", ())),
        ({"REALIP_TRUSTED_PROXIES": ""}, ("trusted_proxies", ("127.0.0.0/8", "::1/128"))),  # "" as unset
        (
            {"REALIP_HEADER": "x-original-forwarded-for, x-forwarded-for"},
            ("header", ("x-original-forwarded-for", "x-forwarded-for")),
        ),
        ({"REALIP_HEADER": ["forwarded"]}, ("header", ("forwarded",))),
        ({"REALIP_TRUSTED_HOPS": 2, "REALIP_TRUSTED_PROXIES": "loopback"}, ("trusted_hops", 2)),
        ({"REALIP_TRUSTED_HOPS": "2", "REALIP_TRUSTED_PROXIES": "loopback"}, ("trusted_hops", 2)),
        ({"REALIP_MAX_HOPS": None}, ("max_hops", 20)),
        ({"REALIP_PROTO_HEADER": "X-Client-Proto"}, ("proto_header", "x-client-proto")),
    ],
    ids=repr,
)
def test_config_forms(config: dict[str, Any], expected: tuple[str, object]) -> None:
    app = Flask("forms")
    app.config.update(config)
    RealIP(app)
    attribute, value = expected
    assert getattr(app.extensions["realip"].resolver, attribute) == value


CONFIG_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"REALIP_TRUSTED_PROXIES": ["10.0.0.1/33"]},
     r"REALIP_TRUSTED_PROXIES=['10.0.0.1/33'] (Flask config): trusted_proxies[0]='10.0.0.1/33' has prefix /33"),
    ({"REALIP_TRUSTED_PROXIES": "10.0.0.1/33"},
     r"REALIP_TRUSTED_PROXIES='10.0.0.1/33' (Flask config): trusted_proxies[0]='10.0.0.1/33'"),
    ({"REALIP_TRUSTED_PROXIES": "10.0.0.0/8,,cgnat"}, r"REALIP_TRUSTED_PROXIES='10.0.0.0/8,,cgnat': entry 1 is empty"),
    ({"REALIP_TRUSTED_PROXIES": 10}, r"REALIP_TRUSTED_PROXIES=10 (Flask config) must be a list of entries"),
    ({"REALIP_HEADER": "x forwarded for"}, r"REALIP_HEADER='x forwarded for' (Flask config): header="),
    ({"REALIP_TRUSTED_HOPS": "two"}, r"REALIP_TRUSTED_HOPS='two' is not a whole number"),
    ({"REALIP_MAX_HOPS": 0}, r"REALIP_MAX_HOPS=0 (Flask config): max_hops=0 must be a whole number from 1 to 1000"),
    ({"REALIP_MAX_HOPS": True}, r"REALIP_MAX_HOPS=True (Flask config): max_hops=True must be a whole number"),
    ({"REALIP_PROTO_HEADER": "x:proto"}, r"REALIP_PROTO_HEADER='x:proto' (Flask config): proto_header='x:proto'"),
]  # fmt: skip


@pytest.mark.parametrize(("config", "message"), CONFIG_ERRORS, ids=[next(iter(c)) for c, _ in CONFIG_ERRORS])
def test_config_errors_name_the_key_at_init_app(config: dict[str, Any], message: str) -> None:
    app = Flask("bad")
    app.config.update(config)
    wsgi_app = app.wsgi_app
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        RealIP().init_app(app)
    assert "realip" not in app.extensions and app.wsgi_app == wsgi_app  # the app is left as it was


def test_option_and_env_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"^max_hops=0 must be a whole number from 1 to 1000"):
        RealIP(Flask("option"), max_hops=0)
    with pytest.raises(ConfigError, match=r"^trusted_hops=5 is greater than max_hops=3"):
        RealIP(Flask("option"), trusted_hops=5, max_hops=3)
    with pytest.raises(TypeError, match=r"unknown option\(s\) trusted_proxy; the options are allowed_hosts, chain, "):
        RealIP(trusted_proxy=["10.0.0.0/8"])  # type: ignore[call-arg]
    monkeypatch.setenv("REALIP_MAX_HOPS", "lots")
    with pytest.raises(ConfigError, match=r"^REALIP_MAX_HOPS='lots' is not a whole number"):
        RealIP(Flask("env"))


def test_custom_request_class_keeps_its_behaviour() -> None:
    class MyRequest(Request):
        @property
        def greeting(self) -> str:
            return "hello"

    apps = [Flask("a"), Flask("b")]
    for app in apps:
        app.request_class = MyRequest
        RealIP(app)
        app.add_url_rule("/", "root", lambda: {"ip": request.client_ip, "hi": request.greeting})  # type: ignore[attr-defined]
    subclass = apps[0].request_class
    assert subclass is apps[1].request_class  # one subclass per class
    assert issubclass(subclass, MyRequest) and issubclass(subclass, RealIPRequestMixin)
    assert subclass.__name__ == "MyRequest"
    response = apps[0].test_client().get("/", headers={"X-Forwarded-For": "198.51.100.7"})
    assert response.json == {"ip": "198.51.100.7", "hi": "hello"}


def test_request_class_with_the_mixin_is_kept() -> None:
    class Mine(RealIPRequestMixin, Request):
        pass

    app = Flask("mine")
    app.request_class = Mine
    RealIP(app)
    assert app.request_class is Mine


def test_request_context_without_wsgi_app_resolves_lazily() -> None:
    app = make_app()
    environ = {"REMOTE_ADDR": "127.0.0.1"}
    with app.test_request_context(headers={"X-Forwarded-For": "198.51.100.7"}, environ_base=environ):
        assert request.client_ip == "198.51.100.7"  # type: ignore[attr-defined]
        assert request.realip.reason is Reason.UNTRUSTED_ENTRY  # type: ignore[attr-defined]
        assert request.remote_addr == "127.0.0.1"  # only app.wsgi_app rewrites the environ
    plain = Flask("plain")
    plain.request_class = RealIPRequest
    with plain.test_request_context(), pytest.raises(RuntimeError, match="RealIP was not initialised on the app"):
        _ = request.client_ip  # type: ignore[attr-defined]


# -- a real gunicorn ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gunicorn() -> Iterator[Server]:
    with run_server(gunicorn_argv("tests.test_flask:served_app")) as server:
        yield server


@pytest.mark.parametrize("index", range(len(LOOPBACK_SCENARIOS)), ids=[s.name for s in LOOPBACK_SCENARIOS])
def test_loopback_scenario_through_gunicorn(index: int, gunicorn: Server) -> None:
    scenario = LOOPBACK_SCENARIOS[index]
    path, tag = tagged(f"/scenario/{index}")
    status, body = send(("127.0.0.1", gunicorn.port), path, scenario.headers)
    assert status == 200
    result = body["result"]
    assert_resolved(result, scenario, result["peer_port"])
    assert body["client_ip"] == body["remote_addr"] == scenario.client_ip
    if scenario.scheme is not None:
        assert body["scheme"] == scenario.scheme
    assert_context(result, body["url_root"], scenario)
    assert access_log_host(gunicorn, tag) == scenario.client_ip


def test_blueprint_and_look_alike_through_gunicorn(gunicorn: Server) -> None:
    path, tag = tagged("/scenario/0/bp/who")
    headers = [("X-Forwarded-For", "198.51.100.7"), ("X_Forwarded_For", "192.0.2.66")]
    status, body = send(("127.0.0.1", gunicorn.port), path, headers)
    assert (status, body["client_ip"], body["remote_addr"]) == (200, "198.51.100.7", "198.51.100.7")
    assert access_log_host(gunicorn, tag) == "198.51.100.7"


# -- the app gunicorn serves --------------------------------------------------------------------------------------

_apps: list[Flask] = []


def served_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``/scenario/<i>/...`` goes to a Flask app with RealIP(**LOOPBACK_SCENARIOS[i].options)."""
    if not _apps:  # built in the server, on the first request
        _apps.extend(make_app(s.options, f"scenario-{i}") for i, s in enumerate(LOOPBACK_SCENARIOS))
    parts = environ.get("PATH_INFO", "").split("/")
    if len(parts) > 2 and parts[1] == "scenario" and parts[2].isdigit() and int(parts[2]) < len(_apps):
        return _apps[int(parts[2])](environ, start_response)
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []
