"""Every library under test, configured for a scenario as closely as it allows, behind one small interface.

A contender builds, per scenario and mode, a batch runner (timed), a converter from a :class:`Request` to the input
it takes natively, and an answer function (untimed) giving the client address it resolved. Middlewares are timed
around a trivial app and the bare app is subtracted (``baseline``). Imports are lazy: a missing library becomes a
note in the report, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .middleware import AsgiProbe, WsgiProbe, asgi_loop, wsgi_loop
from .scenarios import TRUSTED, Request, Scenario

__all__ = ["CONTENDERS", "Built", "Contender", "floor_resolver"]

_IPWARE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")


@dataclass(frozen=True)
class Built:
    """A contender ready for one scenario and mode."""

    run: Callable[[list[Any]], None]
    native: Callable[[Request], Any]
    answer: Callable[[Any], object]
    #: The contender whose time is subtracted (the bare app), or ``None``.
    baseline: str | None = None


@dataclass(frozen=True)
class Contender:
    """One column: a library (or a baseline), how it is configured, and how to build it."""

    name: str
    label: str
    #: How it trusts: the closest it gets to "10.0.0.0/8 and 100.64.0.0/10".
    trust: str
    build: Callable[[Scenario, bool], Built | None]


# -- realip ----------------------------------------------------------------------------------------------------


def _resolver(scenario: Scenario) -> Any:
    from realip import Resolver

    return Resolver(trusted_proxies=list(TRUSTED), max_hops=scenario.max_hops)


def _realip(scenario: Scenario, distinct: bool) -> Built:
    resolve = _resolver(scenario).resolve

    def run(batch: list[tuple[tuple[str, int], list[tuple[bytes, bytes]]]]) -> None:
        for peer, headers in batch:
            resolve(peer, headers)

    return Built(run, lambda r: (r.peer, r.headers), lambda x: resolve(*x).client_ip)


def _realip_mapping(scenario: Scenario, distinct: bool) -> Built:
    """The README's form: a peer string and a mapping whose keys are spelled as a framework's headers are."""
    resolve = _resolver(scenario).resolve

    def native(r: Request) -> tuple[str, dict[str, str]]:
        return r.peer[0], {name.decode("latin-1").title(): value.decode("latin-1") for name, value in r.headers}

    def run(batch: list[tuple[str, dict[str, str]]]) -> None:
        for peer, headers in batch:
            resolve(peer, headers)

    return Built(run, native, lambda x: resolve(*x).client_ip)


def _realip_asgi(scenario: Scenario, distinct: bool) -> Built:
    from realip.asgi import RealIPMiddleware

    probe = AsgiProbe()
    return _asgi(RealIPMiddleware(probe, resolver=_resolver(scenario)), probe)


def _realip_wsgi(scenario: Scenario, distinct: bool) -> Built:
    from realip.wsgi import RealIPMiddleware

    probe = WsgiProbe()
    return _wsgi(RealIPMiddleware(probe, resolver=_resolver(scenario)), probe)


# -- the floor: the least work a correct answer needs ------------------------------------------------------------


def floor_resolver() -> Callable[[str, str | None], str]:
    """The composite floor: parse and test the peer, split the header, parse and test entries from the right.

    Plain IPv4 only (no ports, brackets or IPv6), no result object, no header lookup: the cost any correct
    resolver must pay, measured with the same C primitives realip uses (``inet_pton``, set lookups).
    """
    from socket import AF_INET, inet_pton

    ten, cgnat = 10, (100 << 2) | (64 >> 6)  # 10.0.0.0/8 >> 24, 100.64.0.0/10 >> 22
    from_bytes = int.from_bytes

    def resolve(peer: str, xff: str | None) -> str:
        value = from_bytes(inet_pton(AF_INET, peer), "big")
        if value >> 24 != ten and value >> 22 != cgnat:
            return peer
        if not xff:
            return peer
        text = peer
        for part in reversed(xff.split(",")):
            text = part.strip(" \t")
            value = from_bytes(inet_pton(AF_INET, text), "big")
            if value >> 24 != ten and value >> 22 != cgnat:
                return text
        return text

    return resolve


def _floor(scenario: Scenario, distinct: bool) -> Built | None:
    if scenario.key == "S5":
        return None  # the floor handles plain IPv4 only
    resolve = floor_resolver()

    def run(batch: list[tuple[str, str | None]]) -> None:
        for peer, xff in batch:
            resolve(peer, xff)

    return Built(run, lambda r: (r.peer[0], r.xff), lambda x: resolve(*x))


def _floor_scan(scenario: Scenario, distinct: bool) -> Built | None:
    """The floor plus finding and decoding the header in the raw ASGI list, as realip's resolve must."""
    if scenario.key == "S5":
        return None
    resolve = floor_resolver()

    def scan(peer: tuple[str, int], headers: list[tuple[bytes, bytes]]) -> str:
        xff = None
        for name, value in headers:
            if name == b"x-forwarded-for":
                xff = value.decode("latin-1")
        return resolve(peer[0], xff)

    def run(batch: list[tuple[tuple[str, int], list[tuple[bytes, bytes]]]]) -> None:
        for peer, headers in batch:
            scan(peer, headers)

    return Built(run, lambda r: (r.peer, r.headers), lambda x: scan(*x))


# -- uvicorn ---------------------------------------------------------------------------------------------------


def _defeat_lru(trusted_hosts: Any, scenario: Scenario, distinct: bool) -> None:
    """Distinct mode on IPv4: bypass uvicorn's 4096-entry LRU (the documentation pool is too small to flush it).

    The miss path without LRU bookkeeping is slightly cheaper than a real miss, so this favours uvicorn. S5
    rotates 8192 IPv6 clients, enough for real misses, and keeps the cache.
    """
    if distinct and scenario.key != "S5":
        trusted_hosts._trusts = trusted_hosts._compute_trust


def _uvicorn_trust(scenario: Scenario, distinct: bool) -> Built:
    from uvicorn.middleware.proxy_headers import _TrustedHosts

    trusted = _TrustedHosts(list(TRUSTED))
    _defeat_lru(trusted, scenario, distinct)
    get = trusted.get_trusted_client_address

    def resolve(host: str, xff: str | None) -> str:
        if host in trusted and xff is not None:
            return get(xff)[0] or host
        return host

    def run(batch: list[tuple[str, str | None]]) -> None:
        for host, xff in batch:
            resolve(host, xff)

    return Built(run, lambda r: (r.peer[0], r.xff), lambda x: resolve(*x))


def _uvicorn(scenario: Scenario, distinct: bool) -> Built:
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    probe = AsgiProbe()
    middleware = ProxyHeadersMiddleware(probe, trusted_hosts=list(TRUSTED))  # type: ignore[arg-type]
    _defeat_lru(middleware.trusted_hosts, scenario, distinct)
    return _asgi(middleware, probe)


# -- hypercorn, werkzeug ---------------------------------------------------------------------------------------


def _hypercorn(scenario: Scenario, distinct: bool) -> Built:
    from hypercorn.middleware import ProxyFixMiddleware

    probe = AsgiProbe()
    return _asgi(ProxyFixMiddleware(probe, mode="legacy", trusted_hops=scenario.hops), probe)  # type: ignore[arg-type]


def _werkzeug(scenario: Scenario, distinct: bool) -> Built:
    from werkzeug.middleware.proxy_fix import ProxyFix

    probe = WsgiProbe()
    return _wsgi(ProxyFix(probe, x_for=scenario.hops), probe)


# -- ipware ----------------------------------------------------------------------------------------------------


def _python_ipware(scenario: Scenario, distinct: bool) -> Built:
    from python_ipware import IpWare

    ipware = IpWare(precedence=_IPWARE_ORDER, proxy_count=scenario.hops - 1)
    get = ipware.get_client_ip

    def run(batch: list[dict[str, Any]]) -> None:
        for meta in batch:
            get(meta)

    return Built(run, lambda r: r.environ, lambda meta: get(meta)[0])


def _django_ipware(scenario: Scenario, distinct: bool) -> Built:
    import django  # type: ignore[import-untyped]
    from django.conf import settings  # type: ignore[import-untyped]

    if not settings.configured:
        settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], USE_TZ=True, SECRET_KEY="realip-benchmarks")
        django.setup()
    from django.http import HttpRequest  # type: ignore[import-untyped]
    from ipware import get_client_ip

    count = scenario.hops - 1

    def request(r: Request) -> HttpRequest:
        http_request = HttpRequest()
        http_request.META = r.environ
        return http_request

    def run(batch: list[HttpRequest]) -> None:
        for http_request in batch:
            get_client_ip(http_request, proxy_count=count, request_header_order=_IPWARE_ORDER)

    return Built(
        run,
        request,
        lambda r: get_client_ip(r, proxy_count=count, request_header_order=_IPWARE_ORDER)[0],
    )


# -- bare apps and helpers -------------------------------------------------------------------------------------


def _asgi(app: Any, probe: AsgiProbe, baseline: str | None = "bare-asgi") -> Built:
    def answer(scope: dict[str, Any]) -> object:
        probe.client = None
        asgi_loop(app)([scope])
        return probe.client[0] if probe.client else None

    return Built(asgi_loop(app), lambda r: r.scope, answer, baseline)


def _wsgi(app: Any, probe: WsgiProbe, baseline: str | None = "bare-wsgi") -> Built:
    def answer(environ: dict[str, Any]) -> object:
        probe.client = None
        wsgi_loop(app)([environ])
        return probe.client

    return Built(wsgi_loop(app), lambda r: r.environ, answer, baseline)


def _bare_asgi(scenario: Scenario, distinct: bool) -> Built:
    probe = AsgiProbe()
    return _asgi(probe, probe, None)


def _bare_wsgi(scenario: Scenario, distinct: bool) -> Built:
    probe = WsgiProbe()
    return _wsgi(probe, probe, None)


_HOPS = "hop count (x_for / trusted_hops = the scenario's proxy entries); peer not checked"

CONTENDERS: tuple[Contender, ...] = (
    Contender("realip", "realip resolve (ASGI form)", "10.0.0.0/8, 100.64.0.0/10 (peer checked)", _realip),
    Contender(
        "realip-map",
        "realip resolve (mapping form)",
        "as realip; a str peer and a dict with Title-Case keys",
        _realip_mapping,
    ),
    Contender("floor", "floor: split+parse+trust", "10.0.0.0/8, 100.64.0.0/10 (hand-written, IPv4 only)", _floor),
    Contender("floor-scan", "floor + header scan", "as floor, plus finding XFF in the raw ASGI headers", _floor_scan),
    Contender(
        "uvicorn-trust",
        "uvicorn _TrustedHosts",
        "10.0.0.0/8, 100.64.0.0/10 (peer checked); XFF handed over already extracted",
        _uvicorn_trust,
    ),
    Contender("realip-asgi", "realip.asgi middleware", "10.0.0.0/8, 100.64.0.0/10 (peer checked)", _realip_asgi),
    Contender("uvicorn", "uvicorn ProxyHeadersMiddleware", "10.0.0.0/8, 100.64.0.0/10 (peer checked)", _uvicorn),
    Contender("hypercorn", "hypercorn ProxyFixMiddleware", "legacy mode, " + _HOPS, _hypercorn),
    Contender("realip-wsgi", "realip.wsgi middleware", "10.0.0.0/8, 100.64.0.0/10 (peer checked)", _realip_wsgi),
    Contender("werkzeug", "werkzeug ProxyFix", _HOPS, _werkzeug),
    Contender(
        "python-ipware",
        "python-ipware IpWare",
        "proxy_count = proxy entries - 1, precedence XFF then REMOTE_ADDR; peer not checked",
        _python_ipware,
    ),
    Contender(
        "django-ipware",
        "django-ipware get_client_ip",
        "as python-ipware, with its default strict=True (exact proxy count); builds an IpWare per call",
        _django_ipware,
    ),
    Contender("bare-asgi", "bare ASGI app", "-", _bare_asgi),
    Contender("bare-wsgi", "bare WSGI app", "-", _bare_wsgi),
)
