"""``realip doctor``: lint a configuration, and with ``--url`` the live path through your proxies, fix by fix.

::

    realip doctor --trust 10.0.0.0/8 --trust cgnat          # a configuration (flags > REALIP_* > defaults)
    realip doctor --django-settings project.settings        # Django's REALIP settings and MIDDLEWARE
    realip doctor --app main:app                             # an app (Starlette, Flask, aiohttp, ...): config, order
    realip doctor --url https://app.example.com/whoami       # the live path, through a `realip serve` probe

Every finding has an id, a level and the fix. Exit status: 0 when no finding is an error (warnings allowed; with
``--strict`` a warning fails too), 1 when one is, 2 when the doctor could not run (a bad argument, an app that does
not import, a URL that does not answer like the probe).

Live checks send two GET requests to the probe (``realip serve``, or an app route answering the same JSON): one
with no forwarding header, so whatever arrives was added on the way; and one with a forged ``X-Forwarded-For:
192.0.2.1`` (TEST-NET-1), which must not come back as the client.

The middleware order is read where it is declared: Django's ``MIDDLEWARE``; a Starlette or FastAPI app's
``user_middleware`` and, for slowapi, the limiter's key function; a Flask app's extensions and its ``wsgi_app``
chain; an aiohttp app's ``middlewares`` (the top-level app: a sub-application's cover that sub-application only); a
Sanic app's ``RealIP`` extension and request middleware by priority (and Sanic's own proxy settings, which stop the
server); a Litestar app's middleware (where ``RealIPPlugin`` puts realip's first); a Quart app's ``asgi_app`` chain
(where its ``RealIP`` extension puts realip's); any other ASGI or WSGI app by following ``.app`` / ``.wsgi_app``
attributes from the outside in. Not
feasible from outside: function middleware (``@app.middleware("http")``, whose code could read anything), a stack
assembled only at run time, and an instrumentation that auto-instrumentation inserts when the process starts
(Django's goes first in ``MIDDLEWARE`` then, FastAPI's outermost): with ``realip.otel.instrument()`` either order
is right, which is why a tracer before realip is a warning and a limiter before it an error.
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from .env import ENV_VARIABLES
from .errors import ConfigError
from .layer4 import KINDS
from .resolver import Resolver

__all__ = ["CHECKS", "Finding", "add_doctor", "lint_app", "lint_django", "lint_probe", "lint_resolver", "run"]

#: The doctor's checks: id -> (level, what it catches).
CHECKS: dict[str, tuple[str, str]] = {
    "realip.D001": ("error", "trust-all (trusted_proxies any) while the peer is a public address (live: an error)"),
    "realip.D002": ("error", "forwarding headers arrive from a peer that is not trusted"),
    "realip.D003": ("warning", "a trusted peer sends no forwarding header (SNAT, or a proxy that forwards none)"),
    "realip.D004": ("error", "hop count mismatch: the chain is not trusted_hops long"),
    "realip.D005": ("error", "a forged X-Forwarded-For comes back as the client: the app is spoofable"),
    "realip.D006": ("error", "a limiter or tracer runs before realip, or realip's middleware is missing"),
    "realip.D007": ("error", "PROXY protocol or TOA is on without layer4_proxies (the trusted load balancers)"),
    "realip.D008": ("error", "the configuration does not load"),
    "realip.D009": ("error", "the proxy forwards the client in another header than the one configured"),
    "realip.D010": ("warning", "the live probe's configuration differs from the one given here"),
    "realip.D011": ("error", "a limiter's key function reads a header the client writes"),
}

CANARY = "192.0.2.1"
_ANY = ("0.0.0.0/0", "::/0")
_FORWARDING = ("forwarded", "x-forwarded-for", "x-real-ip", "x-original-forwarded-for")


class Finding(NamedTuple):
    """One problem: its check id, ``error``/``warning``/``info``, what is wrong, and how to fix it."""

    id: str
    level: str
    message: str
    fix: str

    def text(self) -> str:
        return f"{self.level.upper():<8}{self.id}  {self.message}\n{'':8}fix: {self.fix}"


def _finding(check: str, message: str, fix: str, level: str | None = None) -> Finding:
    return Finding(check, level or CHECKS[check][0], message, fix)


# -- a configuration -----------------------------------------------------------------------------------------------


def lint_resolver(resolver: Resolver, layer4: object = None, where: str = "the configuration") -> list[Finding]:
    """Findings about a configuration alone: trust-all, and Layer 4 without balancers."""
    found: list[Finding] = []
    everyone = [network for network in resolver.trusted_proxies if network in _ANY]
    if everyone:
        found.append(
            _finding(
                "realip.D001",
                f"{where} trusts every address ({', '.join(everyone)}): any client that reaches the app without "
                "passing your proxies chooses the address realip reports.",
                "List your proxies' networks instead (e.g. --trust 10.0.0.0/8 --trust cgnat), or make sure nothing "
                "but them can connect; 'realip doctor --url' checks what the app sees.",
                level="warning",
            )
        )
    kind = layer4.strip().lower() if isinstance(layer4, str) else None
    if kind in KINDS and kind != "toa:kernel" and not resolver.layer4_proxies:
        found.append(
            _finding(
                "realip.D007",
                f"{where} reads the client from Layer 4 ({kind}) but names no load balancer to believe it from.",
                "Set layer4_proxies (REALIP_LAYER4_PROXIES, --layer4-proxy), e.g. 100.64.0.0/10 for Tencent CLB: a "
                "PROXY header or TOA option from anyone else is refused.",
            )
        )
    return found


def lint_django(settings_module: str) -> tuple[Resolver | None, list[Finding]]:
    """Django's settings: realip's own system checks (E001-E010, W001-W002) and a tracer or limiter before realip."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django  # type: ignore[import-untyped]
    from django.conf import settings  # type: ignore[import-untyped]

    django.setup()
    from .django import checks
    from .django.conf import read_settings

    found: list[Finding] = []
    for message in [*checks.check_settings(), *checks.check_middleware()]:
        level = "error" if message.level >= 40 else "warning"
        check = "realip.D006" if message.id in ("realip.E008", "realip.W001") else "realip.D008"
        found.append(Finding(check, level if check != "realip.D006" else "error", f"{message.id}: {message.msg}",
                             message.hint or ""))  # fmt: skip
    middleware = [str(path) for path in getattr(settings, "MIDDLEWARE", None) or ()]
    first = next((i for i, path in enumerate(middleware) if path in checks.MIDDLEWARE_PATHS), None)
    if first is not None:
        found += _order(middleware[:first], "MIDDLEWARE", "Put realip.django.RealIPMiddleware first in MIDDLEWARE")
    reading = read_settings()
    if reading.problems:
        return None, found
    resolver = Resolver(**reading.options)  # type: ignore[arg-type]
    layer4 = reading.layer4[0] if reading.layer4 else None
    return resolver, found + lint_resolver(resolver, layer4, "REALIP")


_TRACERS = ("opentelemetry", "OpenTelemetryMiddleware", "_DjangoMiddleware", "sentry")
_LIMITERS = ("slowapi", "SlowAPI", "ratelimit", "RateLimit", "Limiter", "axes", "Throttl")


def _order(before: Sequence[str], where: str, fix: str) -> list[Finding]:
    """Findings for the middleware that run before realip: limiters (errors) and tracers (warnings)."""
    found: list[Finding] = []
    for name in before:
        if any(mark in name for mark in _LIMITERS) and "django_ratelimit.middleware" not in name:
            found.append(
                _finding(
                    "realip.D006",
                    f"{name} runs before realip in {where}: a limiter there keys every request by the proxy's "
                    "address (the whole site in one bucket), or fails for want of a client.",
                    fix + ".",
                )
            )
        elif any(mark in name for mark in _TRACERS):
            found.append(
                _finding(
                    "realip.D006",
                    f"{name} runs before realip in {where}: its span starts with the proxy as client.address.",
                    "Call realip.otel.instrument() at start-up (it corrects the span in either order), or "
                    + fix[0].lower()
                    + fix[1:]
                    + ".",
                    level="warning",
                )
            )
    return found


def lint_app(target: str) -> tuple[Resolver | None, list[Finding]]:
    """A Starlette/FastAPI, Flask, Django, aiohttp, Sanic, Litestar, Quart, or plain ASGI/WSGI app given as
    ``module:attribute``."""
    module_name, _, attribute = target.partition(":")
    sys.path.insert(0, os.getcwd())
    app: Any = importlib.import_module(module_name)
    for part in (attribute or "app").split("."):
        app = getattr(app, part)
    if hasattr(app, "user_middleware"):
        return _lint_starlette(app)
    if hasattr(app, "extensions") and hasattr(app, "wsgi_app"):
        return _lint_flask(app)
    if type(app).__module__.startswith("django.core.handlers"):
        return lint_django(os.environ["DJANGO_SETTINGS_MODULE"])
    framework = _framework(app)
    if framework in _FRAMEWORK_LINTS:
        return _FRAMEWORK_LINTS[framework](app)
    return _lint_chain(app)


def _framework(app: Any) -> str | None:
    """The framework an app object belongs to (by its class or a base class's package), if one the doctor reads."""
    for kind in type(app).__mro__:
        package = kind.__module__.partition(".")[0]
        if package in _FRAMEWORK_LINTS:
            return package
    return None


def _name(thing: Any) -> str:
    """``module.QualifiedName`` of a class, of a function (a middleware function), or of an instance's class."""
    if not isinstance(thing, type) and callable(thing) and hasattr(thing, "__qualname__"):
        return f"{getattr(thing, '__module__', '')}.{thing.__qualname__}"
    kind = thing if isinstance(thing, type) else type(thing)
    return f"{kind.__module__}.{kind.__qualname__}"


def _is_realip(thing: Any) -> bool:
    return _name(thing) in ("realip.asgi.RealIPMiddleware", "realip.wsgi.RealIPMiddleware")


def _lint_starlette(app: Any) -> tuple[Resolver | None, list[Finding]]:
    stack = list(app.user_middleware)  # first = outermost
    names = [_name(entry.cls) for entry in stack]
    realip = next((i for i, entry in enumerate(stack) if _is_realip(entry.cls)), None)
    found: list[Finding] = []
    resolver: Resolver | None = None
    fix = "Add RealIPMiddleware last (add_middleware puts the last one outermost), after the limiter's"
    if realip is None:
        found.append(
            _finding(
                "realip.D006",
                "the app has no realip.asgi.RealIPMiddleware among its middleware: request.client is the proxy.",
                "app.add_middleware(RealIPMiddleware, trusted_proxies=[...]), added last.",
            )
        )
    else:
        found += _order(names[:realip], "the middleware stack", fix)
        resolver, found = _from_middleware_options(found, stack[realip].kwargs, "RealIPMiddleware")
        if resolver is None:
            return None, found
    limiter = getattr(getattr(app, "state", None), "limiter", None)
    found += _key_function(getattr(limiter, "_key_func", None), "slowapi")
    return resolver, found


def _lint_flask(app: Any) -> tuple[Resolver | None, list[Finding]]:
    found: list[Finding] = []
    middleware = app.extensions.get("realip")
    resolver = getattr(middleware, "resolver", None)
    chain = _chain(app.wsgi_app)
    realip = next((i for i, layer in enumerate(chain) if _is_realip(layer)), None)
    if realip is None:
        found.append(
            _finding(
                "realip.D006",
                "realip is not wrapping this Flask app (no RealIP(app), nor realip.wsgi.RealIPMiddleware).",
                "RealIP(app, trusted_proxies=[...]) once the app is built.",
            )
        )
    else:
        found += _order(
            [_name(layer) for layer in chain[:realip]], "the wsgi_app chain", "Wrap wsgi_app with realip last"
        )
        resolver = resolver or chain[realip].resolver
    for limiter in app.extensions.get("limiter", ()) or ():
        found += _key_function(getattr(limiter, "_key_func", None), "flask-limiter")
    if resolver is not None:
        found += lint_resolver(resolver, app.config.get("REALIP_LAYER4") or os.environ.get("REALIP_LAYER4"), "RealIP")
    return resolver, found


def _lint_chain(app: Any) -> tuple[Resolver | None, list[Finding]]:
    chain = _chain(app)
    realip = next((i for i, layer in enumerate(chain) if _is_realip(layer)), None)
    if realip is None:
        return None, [
            _finding(
                "realip.D006",
                f"no realip middleware found wrapping {_name(app)} (followed: "
                f"{' -> '.join(_name(layer) for layer in chain)}).",
                "Wrap the app: app = RealIPMiddleware(app, trusted_proxies=[...]) (realip.asgi or realip.wsgi).",
            )
        ]
    found = _order([_name(layer) for layer in chain[:realip]], "the app chain", "Wrap the app with realip outermost")
    resolver: Resolver = chain[realip].resolver
    return resolver, found + lint_resolver(resolver, os.environ.get("REALIP_LAYER4"), "RealIPMiddleware")


def _stack(names: Sequence[str], realip: int | None, where: str, fix: str, missing: tuple[str, str]) -> list[Finding]:
    """Findings for a middleware stack listed outermost first: realip missing (``missing``: message and fix), or the
    limiters and tracers that run before it."""
    if realip is None:
        return [_finding("realip.D006", *missing)]
    return _order(names[:realip], where, fix)


def _with_resolver(
    found: list[Finding], resolver: Resolver | None, layer4: object, where: str
) -> tuple[Resolver | None, list[Finding]]:
    return resolver, found + ([] if resolver is None else lint_resolver(resolver, layer4, where))


def _from_middleware_options(found: list[Finding], kwargs: Any, where: str) -> tuple[Resolver | None, list[Finding]]:
    """The resolver a middleware's keywords build (``resolver=``, the options, else the environment), linted; a
    configuration error is the finding instead."""
    options = dict(kwargs)
    resolver = options.pop("resolver", None)
    layer4 = options.pop("layer4", None) or os.environ.get("REALIP_LAYER4")
    try:
        resolver = resolver or (Resolver(**options) if options else Resolver.from_env())
    except ConfigError as error:
        return None, [*found, _config_error(error)]
    return _with_resolver(found, resolver, layer4, where)


def _lint_aiohttp(app: Any) -> tuple[Resolver | None, list[Finding]]:
    middlewares = list(app.middlewares)  # first = outermost
    realip = next((i for i, layer in enumerate(middlewares) if _name(layer).startswith("realip.aiohttp.")), None)
    found = _stack(
        [_name(layer) for layer in middlewares],
        realip,
        "app.middlewares",
        "Put realip_middleware first in app.middlewares (realip.aiohttp.setup(app) does)",
        (
            "the aiohttp app has no realip.aiohttp.realip_middleware in app.middlewares: request.remote is the proxy "
            "(a sub-application's middleware covers that sub-application only).",
            "web.Application(middlewares=[realip_middleware(trusted_proxies=[...]), ...]), or "
            "realip.aiohttp.setup(app, trusted_proxies=[...]).",
        ),
    )
    resolver = None if realip is None else getattr(middlewares[realip], "resolver", None)
    return _with_resolver(found, resolver, os.environ.get("REALIP_LAYER4"), "realip_middleware")


def _lint_sanic(app: Any) -> tuple[Resolver | None, list[Finding]]:
    from .sanic import SANIC_PROXY_SETTINGS

    extension = getattr(app.ctx, "realip", None)
    # Sanic runs request middleware by priority, then in the order defined (Middleware.order).
    middleware = sorted(app.request_middleware, key=lambda entry: getattr(entry, "order", (0, 0)), reverse=True)
    functions = [getattr(entry, "func", entry) for entry in middleware]
    mine = [extension is not None and getattr(func, "__self__", None) is extension for func in functions]
    realip = mine.index(True) if any(mine) else None
    found = _stack(
        [_name(func) for func in functions],
        realip,
        "Sanic's request middleware",
        "Give that middleware a priority below realip.sanic.PRIORITY",
        (
            "the Sanic app has no realip.sanic.RealIP extension: request.client_ip is the proxy, or whatever "
            "Sanic's own proxy settings decide.",
            "RealIP(app, trusted_proxies=[...]) once the app is built.",
        ),
    )
    own = [f"{name}={app.config.get(name)!r}" for name in SANIC_PROXY_SETTINGS if app.config.get(name)]
    if own and extension is not None:
        found.append(
            _finding(
                "realip.D008",
                f"Sanic's {', '.join(own)} is set beside realip's RealIP: the server refuses to start (two answers to "
                "who the client is, Sanic's by count or header).",
                f"Unset {', '.join(SANIC_PROXY_SETTINGS)}; realip's trusted_proxies and header replace them.",
            )
        )
    resolver = None if extension is None else extension.resolver
    return _with_resolver(found, resolver, os.environ.get("REALIP_LAYER4"), "RealIP")


def _lint_litestar(app: Any) -> tuple[Resolver | None, list[Finding]]:
    # Litestar wraps its whole router in the OpenTelemetryPlugin's middleware, outside the app middleware; then the
    # app middleware, first = outermost (DefineMiddleware(cls, **kwargs) keeps the class in .middleware).
    outer = [_name(plugin) for plugin in app.plugins if type(plugin).__name__ == "OpenTelemetryPlugin"]
    layers = [getattr(entry, "middleware", entry) for entry in app.middleware]
    realip = next((i for i, layer in enumerate(layers) if _is_realip(layer)), None)
    found = _stack(
        outer + [_name(layer) for layer in layers],
        None if realip is None else len(outer) + realip,
        "the app's middleware",
        "Wrap the whole app in realip.asgi.RealIPMiddleware, outside everything Litestar builds",
        (
            "the Litestar app has no realip.asgi.RealIPMiddleware among its middleware (RealIPPlugin adds it): "
            "request.client is the proxy.",
            "Litestar(..., plugins=[RealIPPlugin(trusted_proxies=[...])]), or wrap the whole app in "
            "realip.asgi.RealIPMiddleware (which covers its 404s too).",
        ),
    )
    if realip is None:
        return None, found
    return _from_middleware_options(found, getattr(app.middleware[realip], "kwargs", None) or {}, "RealIPPlugin")


def _lint_quart(app: Any) -> tuple[Resolver | None, list[Finding]]:
    chain = _chain(app.asgi_app)
    realip = next((i for i, layer in enumerate(chain) if _is_realip(layer)), None)
    found = _stack(
        [_name(layer) for layer in chain],
        realip,
        "the asgi_app chain",
        "Wrap app.asgi_app with realip last (RealIP(app) after the others)",
        (
            "realip is not wrapping this Quart app's asgi_app (no RealIP(app), nor realip.asgi.RealIPMiddleware).",
            "RealIP(app, trusted_proxies=[...]) once the app is built.",
        ),
    )
    resolver = None if realip is None else chain[realip].resolver
    return _with_resolver(found, resolver, app.config.get("REALIP_LAYER4") or os.environ.get("REALIP_LAYER4"), "RealIP")


_FRAMEWORK_LINTS: dict[str, Callable[[Any], tuple[Resolver | None, list[Finding]]]] = {
    "aiohttp": _lint_aiohttp,
    "sanic": _lint_sanic,
    "litestar": _lint_litestar,
    "quart": _lint_quart,
}


def _chain(app: Any, limit: int = 32) -> list[Any]:
    """The layers from the outside in, following ``.app``, ``.wsgi_app``, ``.application`` and ``.wsgi``."""
    chain = [app]
    while len(chain) < limit:
        inner = next(
            (
                getattr(chain[-1], name)
                for name in ("app", "wsgi_app", "application", "wsgi")
                if hasattr(chain[-1], name)
            ),
            None,
        )
        if inner is None or any(inner is layer for layer in chain):
            break
        chain.append(inner)
    return chain


def _key_function(key: Callable[..., Any] | None, library: str) -> list[Finding]:
    if key is None:
        return []
    name = f"{getattr(key, '__module__', '')}.{getattr(key, '__qualname__', '')}"
    if name.endswith(".get_ipaddr") or "access_route" in name:
        return [
            _finding(
                "realip.D011",
                f"the {library} key function {name} reads X-Forwarded-For, which the client writes: anyone escapes "
                "the limit by changing it.",
                f"Use realip.ratelimit.{'starlette' if library == 'slowapi' else 'flask'}.client_key.",
            )
        ]
    if name.endswith(".get_remote_address"):
        return [
            _finding(
                "realip.D011",
                f"the {library} key function is {name}: right behind realip, but one bucket per IPv6 address (a host "
                "has a /64 to rotate through) and health checks counted as a client.",
                f"Use realip.ratelimit.{'starlette' if library == 'slowapi' else 'flask'}.client_key.",
                level="info",
            )
        ]
    return []


def _config_error(error: ConfigError) -> Finding:
    return _finding("realip.D008", f"the configuration does not load: {error}", "Correct the setting it names.")


# -- the live path -------------------------------------------------------------------------------------------------


def fetch(url: str, headers: dict[str, str], timeout: float = 10.0) -> dict[str, Any]:
    """The probe's JSON for one GET of ``url`` (``format=json`` added)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"--url {url!r} is not an http:// or https:// URL")
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), ("format", "json")])
    request = urllib.request.Request(  # noqa: S310  (http and https only, checked above)
        urllib.parse.urlunsplit(parts._replace(query=query)), headers={"Accept": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  (http(s) only, checked above)
        answer = json.loads(response.read().decode("utf-8"))
    if not isinstance(answer, dict) or not {"client", "peer", "headers", "config"} <= set(answer):
        raise ValueError(f"{url} did not answer like 'realip serve' (no client/peer/headers/config in its JSON)")
    return answer


def lint_probe(plain: dict[str, Any], forged: dict[str, Any], given: Resolver | None = None) -> list[Finding]:
    """Findings from the probe's answers to a request with no forwarding header and to one with a forged one."""
    found: list[Finding] = []
    client, config = plain["client"], plain["config"]
    peer = plain["peer"]["ip"]
    arrived = [name.lower() for name, _ in plain["headers"] if name.lower() in _FORWARDING]
    configured = [name.lower() for name in config["header"]]
    reason = client["reason"]
    public = _is_public(peer)
    everyone = [network for network in config["trusted_proxies"] if network in _ANY]
    if everyone:
        found.append(
            _finding(
                "realip.D001",
                f"the app trusts every address ({', '.join(everyone)}) and its peer {peer} is "
                + (
                    "a public address: anyone on the internet chooses the address it reports."
                    if public
                    else "private: right only if nothing but your proxies can connect."
                ),
                f"List the proxies instead, e.g. REALIP_TRUSTED_PROXIES={_network_of(peer)}.",
                level="error" if public else "warning",
            )
        )
    if reason == "untrusted-peer" and arrived:
        found.append(
            _finding(
                "realip.D002",
                f"the peer {peer} sent {', '.join(sorted(set(arrived)))} (this doctor sent none, so something on the "
                "way added it), but it is not a trusted proxy: every client looks like the proxy.",
                f"If {peer} is your proxy or ingress, trust it: REALIP_TRUSTED_PROXIES={_network_of(peer)} "
                "(or its named set: private, cgnat).",
            )
        )
    if reason == "no-header":
        other = [name for name in arrived if name not in configured]
        if other:
            found.append(
                _finding(
                    "realip.D009",
                    f"the trusted peer {peer} forwards the client in {', '.join(sorted(set(other)))}, but realip reads "
                    f"{', '.join(configured)}.",
                    f"Set REALIP_HEADER={other[0]} (or make the proxy write {configured[0]}).",
                )
            )
        else:
            found.append(
                _finding(
                    "realip.D003",
                    f"the trusted peer {peer} sent no forwarding header: if a load balancer or kube-proxy SNAT sits in "
                    "front, every request looks like it comes from it, and it passes on whatever forwarding header the "
                    "client wrote (expected only when you reach the app directly from a trusted address).",
                    "Make the proxy forward X-Forwarded-For, or keep the client's address at Layer 4 (Kubernetes "
                    "externalTrafficPolicy: Local, CLB direct to pod, TOA or PROXY protocol).",
                )
            )
    hops = config.get("trusted_hops")
    if hops is not None and reason in ("hop-count", "short-chain"):
        seen = sum(1 for step in plain.get("steps", ()) if step["position"] > 0)
        entries = _entries(plain["headers"], configured)
        if entries != hops:
            found.append(
                _finding(
                    "realip.D004",
                    f"trusted_hops={hops}, but the proxies wrote {entries} entr{'y' if entries == 1 else 'ies'} for a "
                    f"request that carried none (the walk saw {seen}): realip picks "
                    + ("a proxy as the client." if entries > hops else "the peer, as if there were no header."),
                    f"Set REALIP_TRUSTED_HOPS={entries}" + (" (or trust the proxies by address)." if entries else "."),
                )
            )
    if forged["client"]["client_ip"] == CANARY:
        found.append(
            _finding(
                "realip.D005",
                f"a request forging X-Forwarded-For: {CANARY} was answered with client {CANARY}: any client can "
                "choose its address (and escape rate limits, and forge audit logs).",
                "Trust only your proxies' addresses (not 'any', not a network your clients are in), and use hop "
                "counting only when every request passes all counted proxies.",
            )
        )
    layer4 = plain.get("layer4")
    if layer4 and not config.get("layer4_proxies"):
        found.append(
            _finding(
                "realip.D007",
                f"the probe reads Layer 4 ({layer4.get('kind')}) with no layer4_proxies.",
                "Set REALIP_LAYER4_PROXIES to the load balancers' addresses.",
            )
        )
    if given is not None:
        mine = {
            "trusted_proxies": list(given.trusted_proxies),
            "header": list(given.header),
            "trusted_hops": given.trusted_hops,
            "proto_header": given.proto_header,
            "layer4_proxies": list(given.layer4_proxies),
        }
        differ = [key for key, value in mine.items() if config.get(key) != value]
        if differ:
            found.append(
                _finding(
                    "realip.D010",
                    "the live probe runs with another configuration than the one given here ("
                    + "; ".join(f"{key}: live {config.get(key)!r}, here {mine[key]!r}" for key in differ)
                    + ").",
                    "Deploy the configuration you checked, or check the one deployed (drop the flags).",
                )
            )
    return found


def _entries(headers: Iterable[Sequence[str]], configured: Sequence[str]) -> int:
    total = 0
    for name, value in headers:
        if name.lower() in configured:
            total += len([part for part in value.split(",") if part.strip()])
    return total


def _is_public(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def _network_of(address: str | None) -> str:
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return "<its address>"
    return str(parsed)


# -- the command ---------------------------------------------------------------------------------------------------


def add_doctor(
    commands: Any,
    add_resolver_options: Callable[[argparse.ArgumentParser], None],
    build_resolver: Callable[[argparse.Namespace], Resolver],
) -> None:
    """Register ``realip doctor`` on the CLI's subcommands (the same resolver options as ``realip explain``)."""
    parser = commands.add_parser("doctor", help="lint a configuration and, with --url, the live path")
    parser.add_argument("--url", help="a URL served by 'realip serve' (or an app route answering its JSON)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        help="a Starlette/FastAPI, Flask, Django, aiohttp, Sanic, Litestar, Quart, ASGI or WSGI app",
    )
    source.add_argument("--django-settings", metavar="MODULE", help="a Django settings module")
    parser.add_argument("--layer4", metavar="KIND", help="the Layer-4 source to lint (default: REALIP_LAYER4)")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1) on warnings too")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the probe (default 10)")
    add_resolver_options(parser)
    parser.set_defaults(func=lambda args: run(args, build_resolver))


def _explicit(args: argparse.Namespace) -> bool:
    flags = ("trust", "header", "hops", "max_hops", "proto_header", "layer4_proxy", "layer4")
    return any(getattr(args, flag, None) is not None for flag in flags) or any(
        os.environ.get(variable, "").strip() for variable in (*ENV_VARIABLES, "REALIP_LAYER4")
    )


def run(args: argparse.Namespace, build_resolver: Callable[[argparse.Namespace], Resolver]) -> int:
    """Run the checks the arguments ask for, print the findings, and return the exit status."""
    findings: list[Finding] = []
    given: Resolver | None = None
    try:
        if args.app:
            given, findings = lint_app(args.app)
        elif args.django_settings:
            given, findings = lint_django(args.django_settings)
        else:
            try:
                given = build_resolver(args)
            except ConfigError as error:
                findings.append(_config_error(error))
            else:
                findings += lint_resolver(given, args.layer4 or os.environ.get("REALIP_LAYER4"))
                if not _explicit(args):
                    given = None  # only defaults: nothing to compare the live configuration with
        if args.url:
            plain = fetch(args.url, {}, args.timeout)
            forged = fetch(args.url, {"X-Forwarded-For": CANARY}, args.timeout)
            live = lint_probe(plain, forged, given)
            # The probe's verdict on trust-all replaces the offline guess.
            if any(f.id == "realip.D001" for f in live):
                findings = [f for f in findings if f.id != "realip.D001"]
            findings += live
    except (OSError, ValueError, ImportError, AttributeError) as error:
        print(f"realip doctor: could not run: {error}", file=sys.stderr)
        return 2
    errors = [f for f in findings if f.level == "error"]
    warnings = [f for f in findings if f.level == "warning"]
    if args.json:
        print(json.dumps([f._asdict() for f in findings], indent=2))
    else:
        for finding in findings:
            print(finding.text())
        summary = f"{len(errors)} error(s), {len(warnings)} warning(s)"
        print(f"realip doctor: {summary}" if findings else "realip doctor: no problem found")
    return 1 if errors or (args.strict and warnings) else 0
