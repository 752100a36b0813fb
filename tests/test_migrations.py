"""The migration guides (docs/migrate/), checked: each old configuration and its realip equivalent run on the same
requests. Honest requests come through the proxies; forged ones come from a client that reaches the app directly
(or writes its own entries in front of the proxy's). Each row states what the old one gives and what realip gives:
they agree where the old one is right, and the rows where the old one believes a forgery say so in their name.

werkzeug ProxyFix and realip's WSGI middleware run on the same WSGI environ; uvicorn's ProxyHeadersMiddleware and
realip's ASGI middleware on the same ASGI scope. django-ipware reads ``request.META``; realip's side is the core
``Resolver.resolve`` on the same META's peer and headers (what ``realip.django``'s middleware hands it). aiohttp-remotes
runs on aiohttp requests; realip's aiohttp adapter is not written yet, so its side is ``Resolver.resolve`` on the same
peer and headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple
from unittest import mock

import pytest

from realip import Resolver
from realip.asgi import RealIPMiddleware as RealIPASGI
from realip.wsgi import RealIPMiddleware as RealIPWSGI

CLIENT = "81.2.69.160"  # the real client: a public address (django-ipware prefers public ones, so no TEST-NET)
FORGED = "8.8.8.8"  # what an attacker wants to be seen as
ATTACKER = "203.0.113.66"  # an attacker's own address, reaching the app directly
PROXY = "10.0.0.5"  # the reverse proxy or load balancer in front of the app
EDGE = "10.0.0.7"  # a first proxy in front of PROXY (two hops)
CLOUDFLARE_EDGE = "162.158.1.2"


@pytest.fixture(autouse=True)
def _shipped_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cloudflare preset is the shipped snapshot, whatever REALIP_RANGES_DIR the developer's shell sets."""
    monkeypatch.delenv("REALIP_RANGES_DIR", raising=False)


class Row(NamedTuple):
    """One request, and what each side makes of it (``"400"``/``"500"``: the old one failed the request)."""

    scenario: str
    peer: str | None
    headers: dict[str, str]
    old: str | None
    realip: str | None

    @property
    def spoofed(self) -> bool:
        return self.old == FORGED


def ids(rows: list[Row]) -> list[str]:
    return [row.scenario for row in rows]


def check(row: Row, old: object, new: object) -> None:
    assert (old, new) == (row.old, row.realip)
    if "SPOOFED" in row.scenario:
        assert row.spoofed and new != FORGED
    else:
        assert not row.spoofed


# -- werkzeug ProxyFix ---------------------------------------------------------------------------------------------

FULL = {
    "x-forwarded-proto": "https",
    "x-forwarded-host": "shop.example",
    "x-forwarded-port": "443",
    "x-forwarded-prefix": "/shop",
}
EVIL = {
    "x-forwarded-proto": "https",
    "x-forwarded-host": "evil.example",
    "x-forwarded-port": "8443",
    "x-forwarded-prefix": "/evil",
}

#: ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1): one proxy, every X-Forwarded-* header.
PROXY_FIX_ROWS = [
    Row("honest: the proxy forwards the client", PROXY, {"x-forwarded-for": CLIENT, **FULL}, CLIENT, CLIENT),
    Row("honest: the client wrote an entry, the proxy appended", PROXY,
        {"x-forwarded-for": f"{FORGED}, {CLIENT}", **FULL}, CLIENT, CLIENT),
    Row("honest: a health check from the proxy, no header", PROXY, {}, PROXY, PROXY),
    Row("SPOOFED: a direct client forges X-Forwarded-*", ATTACKER, {"x-forwarded-for": FORGED, **EVIL}, FORGED,
        ATTACKER),
    Row("junk from the proxy: ProxyFix passes it verbatim", PROXY, {"x-forwarded-for": "<script>"}, "<script>", PROXY),
]  # fmt: skip


def _environ(peer: str | None, headers: Mapping[str, str]) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/cart",
        "SERVER_NAME": "app.internal",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "app.internal:8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": peer or "",
    }
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return environ


def _wsgi_view(middleware: Callable[[Any], Any], environ: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(env)
        start_response("200 OK", [])
        return [b""]

    list(middleware(app)(environ, lambda *args: None))
    return {
        "client": seen["REMOTE_ADDR"],
        "scheme": seen["wsgi.url_scheme"],
        "host": seen["SERVER_NAME"],
        "port": seen["SERVER_PORT"],
        "prefix": seen["SCRIPT_NAME"],
    }


@pytest.mark.parametrize("row", PROXY_FIX_ROWS, ids=ids(PROXY_FIX_ROWS))
def test_werkzeug_proxy_fix(row: Row) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    def old(app: Any) -> Any:
        return ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    def new(app: Any) -> Any:  # docs/migrate/werkzeug.md: the exact equivalent
        return RealIPWSGI(
            app,
            trusted_proxies=[PROXY],
            trusted_hops=1,
            proto_header="x-forwarded-proto",
            host_header="x-forwarded-host",
            port_header="x-forwarded-port",
            prefix_header="x-forwarded-prefix",
        )

    before = _wsgi_view(old, _environ(row.peer, row.headers))
    after = _wsgi_view(new, _environ(row.peer, row.headers))
    check(row, before["client"], after["client"])
    if row.scenario.startswith("honest") and row.headers:  # both read the proxy's scheme, host, port and prefix
        assert before == after == {"client": CLIENT, "scheme": "https", "host": "shop.example", "port": "443",
                                   "prefix": "/shop"}  # fmt: skip
    if "SPOOFED" in row.scenario:  # ProxyFix believes every forged header; realip none from a peer it does not trust
        assert before == {
            "client": FORGED,
            "scheme": "https",
            "host": "evil.example",
            "port": "8443",
            "prefix": "/evil",
        }
        assert after == {"client": ATTACKER, "scheme": "http", "host": "app.internal", "port": "8000", "prefix": ""}


# -- uvicorn --proxy-headers --forwarded-allow-ips -----------------------------------------------------------------

TWO_HOPS = {"x-forwarded-for": f"{FORGED}, {CLIENT}, {EDGE}", "x-forwarded-proto": "https"}

#: uvicorn --proxy-headers --forwarded-allow-ips=10.0.0.0/8 (TCP from the proxies).
UVICORN_NETWORK_ROWS = [
    Row("honest: the proxy forwards the client", PROXY, {"x-forwarded-for": CLIENT, "x-forwarded-proto": "https"},
        CLIENT, CLIENT),
    Row("honest: two proxies, and an entry the client wrote", PROXY, TWO_HOPS, CLIENT, CLIENT),
    Row("honest: a direct client's forgery is ignored by both", ATTACKER, {"x-forwarded-for": FORGED}, ATTACKER,
        ATTACKER),
]  # fmt: skip
#: uvicorn --proxy-headers --forwarded-allow-ips='*', as its docs advise when nginx connects over a UNIX socket.
UVICORN_STAR_ROWS = [
    Row("SPOOFED: honest proxy over the socket, but '*' takes the leftmost entry", None,
        {"x-forwarded-for": f"{FORGED}, {CLIENT}", "x-forwarded-proto": "https"}, FORGED, CLIENT),
    Row("SPOOFED: a direct TCP client forges the header", ATTACKER, {"x-forwarded-for": FORGED}, FORGED, ATTACKER),
    Row("honest: the proxy over the socket, one entry", None, {"x-forwarded-for": CLIENT}, CLIENT, CLIENT),
]  # fmt: skip


def _scope(peer: str | None, headers: Mapping[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/cart",
        "raw_path": b"/cart",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"app.internal:8000")] + [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": None if peer is None else (peer, 50000),
        "server": ("10.0.0.10", 8000),
    }


def _asgi_view(middleware: Callable[[Any], Any], scope: dict[str, Any]) -> tuple[str | None, str]:
    seen: dict[str, Any] = {}

    async def app(inner: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(inner)

    asyncio.run(middleware(app)(scope, None, None))
    client = seen["client"]
    return (None if client is None else client[0]), seen["scheme"]


@pytest.mark.parametrize(
    ("allow", "trusted", "row"),
    [("10.0.0.0/8", ["10.0.0.0/8"], row) for row in UVICORN_NETWORK_ROWS]
    + [("*", ["unix"], row) for row in UVICORN_STAR_ROWS],
    ids=ids(UVICORN_NETWORK_ROWS) + [f"star-{name}" for name in ids(UVICORN_STAR_ROWS)],
)
def test_uvicorn_proxy_headers(allow: str, trusted: list[str], row: Row) -> None:
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    before = _asgi_view(lambda app: ProxyHeadersMiddleware(app, trusted_hosts=allow), _scope(row.peer, row.headers))
    after = _asgi_view(
        lambda app: RealIPASGI(app, trusted_proxies=trusted, proto_header="x-forwarded-proto"),
        _scope(row.peer, row.headers),
    )
    check(row, before[0], after[0])
    if row.old == row.realip and "x-forwarded-proto" in row.headers and row.peer != ATTACKER:
        assert before[1] == after[1] == "https"


# -- django-ipware -------------------------------------------------------------------------------------------------

PUBLIC_PROXY = "52.95.110.1"  # a proxy with a public address (a CDN edge in front of the load balancer)

#: get_client_ip(request): the defaults (the leftmost public address of ~15 headers).
IPWARE_DEFAULT_ROWS = [
    Row("honest: the proxy forwards the client", PROXY, {"x-forwarded-for": CLIENT}, CLIENT, CLIENT),
    Row("honest: no proxy, no header", CLIENT, {}, CLIENT, CLIENT),
    Row("SPOOFED: the client wrote an entry, the proxy appended", PROXY, {"x-forwarded-for": f"{FORGED}, {CLIENT}"},
        FORGED, CLIENT),
    Row("SPOOFED: a direct client forges X-Forwarded-For", ATTACKER, {"x-forwarded-for": FORGED}, FORGED, ATTACKER),
    Row("SPOOFED: a direct client forges X-Real-IP", ATTACKER, {"x-real-ip": FORGED}, FORGED, ATTACKER),
    Row("SPOOFED: a direct client forges CF-Connecting-IP", ATTACKER, {"cf-connecting-ip": FORGED}, FORGED, ATTACKER),
]  # fmt: skip
#: get_client_ip(request, proxy_trusted_ips=[EDGE]): the edge proxy, then the load balancer (the peer).
IPWARE_TRUSTED_ROWS = [
    Row("honest: edge proxy, then the load balancer", PROXY, {"x-forwarded-for": f"{CLIENT}, {EDGE}"}, CLIENT, CLIENT),
    Row("honest, no answer from ipware (strict): the client wrote an entry too", PROXY,
        {"x-forwarded-for": f"{FORGED}, {CLIENT}, {EDGE}"}, None, CLIENT),
    Row("SPOOFED: a direct client writes the edge proxy's address last", ATTACKER,
        {"x-forwarded-for": f"{FORGED}, {EDGE}"}, FORGED, ATTACKER),
]  # fmt: skip
#: get_client_ip(request, proxy_count=1): one proxy before the load balancer (XFF: "client, proxy").
IPWARE_COUNT_ROWS = [
    Row("honest: a proxy, then the load balancer", PROXY, {"x-forwarded-for": f"{CLIENT}, {PUBLIC_PROXY}"}, CLIENT,
        CLIENT),
    Row("honest, no answer from ipware (strict): the client wrote an entry too", PROXY,
        {"x-forwarded-for": f"{FORGED}, {CLIENT}, {PUBLIC_PROXY}"}, None, CLIENT),
    Row("SPOOFED: a direct client writes two entries", ATTACKER, {"x-forwarded-for": f"{FORGED}, {PUBLIC_PROXY}"},
        FORGED, ATTACKER),
]  # fmt: skip


@pytest.fixture
def django_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """django-ipware reads its optional IPWARE_* settings; none is set, and Django itself is left unconfigured
    (tests/test_django.py configures it its own way)."""
    import ipware.ip

    monkeypatch.setattr(ipware.ip, "settings", SimpleNamespace())


def _meta(peer: str | None, headers: Mapping[str, str]) -> dict[str, str]:
    meta = {"REMOTE_ADDR": peer or ""}
    meta.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return meta


def _meta_request(meta: Mapping[str, str]) -> tuple[str | None, list[tuple[str, str]]]:
    """The peer and headers realip's Django middleware reads from META."""
    headers = [(key[5:].replace("_", "-").lower(), value) for key, value in meta.items() if key.startswith("HTTP_")]
    return meta["REMOTE_ADDR"] or None, headers


@pytest.mark.parametrize(
    ("options", "realip_options", "row"),
    [({}, {"trusted_proxies": [PROXY]}, row) for row in IPWARE_DEFAULT_ROWS]
    + [({"proxy_trusted_ips": [EDGE]}, {"trusted_proxies": [EDGE, PROXY]}, row) for row in IPWARE_TRUSTED_ROWS]
    + [({"proxy_count": 1}, {"trusted_proxies": [PROXY], "trusted_hops": 2}, row) for row in IPWARE_COUNT_ROWS],
    ids=[f"default-{i}" for i in ids(IPWARE_DEFAULT_ROWS)]
    + [f"trusted-{i}" for i in ids(IPWARE_TRUSTED_ROWS)]
    + [f"count-{i}" for i in ids(IPWARE_COUNT_ROWS)],
)
def test_django_ipware(
    django_settings: None, options: dict[str, Any], realip_options: dict[str, Any], row: Row
) -> None:
    from ipware import get_client_ip

    meta = _meta(row.peer, row.headers)
    before, _routable = get_client_ip(mock.Mock(META=meta), **options)
    after = Resolver(**realip_options).resolve(*_meta_request(meta)).client_ip
    check(row, before, after)


# -- aiohttp-remotes -----------------------------------------------------------------------------------------------

#: XForwardedRelaxed() (num=1): the rightmost entry, whoever sent it.
RELAXED_ROWS = [
    Row("honest: the proxy forwards the client", PROXY, {"x-forwarded-for": CLIENT}, CLIENT, CLIENT),
    Row("honest: the client wrote an entry, the proxy appended", PROXY, {"x-forwarded-for": f"{FORGED}, {CLIENT}"},
        CLIENT, CLIENT),
    Row("SPOOFED: a direct client forges the header", ATTACKER, {"x-forwarded-for": FORGED}, FORGED, ATTACKER),
]  # fmt: skip
#: XForwardedFiltered({"10.0.0.0/8"}): the rightmost untrusted entry, whoever sent the header.
FILTERED_ROWS = [
    Row("honest: two proxies", PROXY, {"x-forwarded-for": f"{FORGED}, {CLIENT}, {EDGE}"}, CLIENT, CLIENT),
    Row("SPOOFED: a direct client forges the header", ATTACKER, {"x-forwarded-for": FORGED}, FORGED, ATTACKER),
    Row("SPOOFED: a direct client adds a trusted-looking entry", ATTACKER, {"x-forwarded-for": f"{FORGED}, {EDGE}"},
        FORGED, ATTACKER),
]  # fmt: skip
#: XForwardedStrict([{PROXY}]): exactly one proxy, the peer; anything else is refused with 400.
STRICT_ROWS = [
    Row("honest: the proxy forwards the client", PROXY, {"x-forwarded-for": CLIENT}, CLIENT, CLIENT),
    Row("honest, refused by Strict: the client wrote an entry too", PROXY, {"x-forwarded-for": f"{FORGED}, {CLIENT}"},
        "400", CLIENT),
    Row("honest, refused by Strict: a health check from the proxy", PROXY, {}, "400", PROXY),
    Row("a direct client: refused by Strict, itself to realip", ATTACKER, {"x-forwarded-for": FORGED}, "400",
        ATTACKER),
]  # fmt: skip
#: Cloudflare(): CF-Connecting-IP from a peer in Cloudflare's ranges, 400 for any other peer.
CLOUDFLARE_ROWS = [
    Row("honest: Cloudflare connects to the app", CLOUDFLARE_EDGE,
        {"cf-connecting-ip": CLIENT, "x-forwarded-for": CLIENT}, CLIENT, CLIENT),
    Row("a direct client: refused by Cloudflare(), itself to realip", ATTACKER, {"cf-connecting-ip": FORGED}, "400",
        ATTACKER),
    Row("honest, fails in Cloudflare(): no CF-Connecting-IP", CLOUDFLARE_EDGE, {}, "500", CLOUDFLARE_EDGE),
]  # fmt: skip
#: Cloudflare() with a load balancer between Cloudflare and the app: it cannot work (the peer is never Cloudflare).
CLOUDFLARE_BEHIND_ROWS = [
    Row("honest, refused by Cloudflare(): Cloudflare, then a load balancer", PROXY,
        {"cf-connecting-ip": CLIENT, "x-forwarded-for": f"{CLIENT}, {CLOUDFLARE_EDGE}"}, "400", CLIENT),
    Row("forged at the load balancer: refused by Cloudflare(), the attacker to realip", PROXY,
        {"cf-connecting-ip": FORGED, "x-forwarded-for": f"{FORGED}, {ATTACKER}"}, "400", ATTACKER),
]  # fmt: skip


def _aiohttp_remote(middleware: Any, peer: str | None, headers: Mapping[str, str]) -> str | None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda key, default=None: (peer, 50000) if key == "peername" else default
    request = make_mocked_request("GET", "/cart", headers=dict(headers), transport=transport)
    seen: dict[str, str | None] = {}

    async def handler(req: web.Request) -> web.StreamResponse:
        seen["remote"] = req.remote
        return web.Response()

    call: Callable[..., Awaitable[web.StreamResponse]] = middleware.middleware
    try:
        asyncio.run(call(request, handler))
    except web.HTTPBadRequest:
        return "400"
    except KeyError:  # Cloudflare() without CF-Connecting-IP: an unhandled error, a 500
        return "500"
    return seen["remote"]


def _cloudflare_middleware() -> Any:
    from aiohttp_remotes import Cloudflare

    from realip.ranges import load

    middleware = Cloudflare()
    # What its setup() fetches from Cloudflare at start-up, here from realip's snapshot (the same two lists).
    middleware._ip_networks = middleware._parse_mask("\n".join(load("cloudflare", {}).networks))
    return middleware


@pytest.mark.parametrize(
    ("kind", "row"),
    [("relaxed", row) for row in RELAXED_ROWS]
    + [("filtered", row) for row in FILTERED_ROWS]
    + [("strict", row) for row in STRICT_ROWS]
    + [("cloudflare", row) for row in CLOUDFLARE_ROWS]
    + [("cloudflare-behind", row) for row in CLOUDFLARE_BEHIND_ROWS],
    ids=[f"relaxed-{i}" for i in ids(RELAXED_ROWS)]
    + [f"filtered-{i}" for i in ids(FILTERED_ROWS)]
    + [f"strict-{i}" for i in ids(STRICT_ROWS)]
    + [f"cloudflare-{i}" for i in ids(CLOUDFLARE_ROWS)]
    + [f"cloudflare-behind-{i}" for i in ids(CLOUDFLARE_BEHIND_ROWS)],
)
def test_aiohttp_remotes(kind: str, row: Row) -> None:
    from aiohttp_remotes import XForwardedFiltered, XForwardedRelaxed, XForwardedStrict

    old, options = {
        "relaxed": (lambda: XForwardedRelaxed(), {"trusted_proxies": [PROXY], "trusted_hops": 1}),
        "filtered": (lambda: XForwardedFiltered({"10.0.0.0/8"}), {"trusted_proxies": ["10.0.0.0/8"]}),
        "strict": (lambda: XForwardedStrict([{PROXY}]), {"trusted_proxies": [PROXY]}),
        "cloudflare": (_cloudflare_middleware, {"chain": "cloudflare[cf-connecting-ip]"}),
        "cloudflare-behind": (_cloudflare_middleware, {"chain": f"cloudflare[cf-connecting-ip] -> lb={PROXY}"}),
    }[kind]
    before = _aiohttp_remote(old(), row.peer, row.headers)
    after = Resolver(**options).resolve(row.peer, row.headers).client_ip  # type: ignore[arg-type]
    check(row, before, after)


# -- the guides show what these tests run ----------------------------------------------------------------------

GUIDES = Path(__file__).resolve().parent.parent / "docs" / "migrate"


@pytest.mark.parametrize(
    ("guide", "snippets"),
    [
        ("werkzeug.md", ["ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)",
                         'trusted_proxies=["10.0.0.5"]', "trusted_hops=1", 'proto_header="x-forwarded-proto"',
                         'host_header="x-forwarded-host"', 'port_header="x-forwarded-port"',
                         'prefix_header="x-forwarded-prefix"']),
        ("uvicorn.md", ["--proxy-headers --forwarded-allow-ips=10.0.0.0/8", 'trusted_proxies=["10.0.0.0/8"]',
                        'proto_header="x-forwarded-proto"', "--forwarded-allow-ips='*'", 'trusted_proxies=["unix"]',
                        "--no-proxy-headers"]),
        ("django-ipware.md", ["get_client_ip(request)", 'proxy_trusted_ips=["10.0.0.7"]', "proxy_count=1",
                              '"TRUSTED_PROXIES": ["10.0.0.5"]', '"TRUSTED_PROXIES": ["10.0.0.7", "10.0.0.5"]',
                              '"TRUSTED_HOPS": 2']),
        ("aiohttp-remotes.md", ["XForwardedRelaxed()", 'trusted_proxies=["10.0.0.5"], trusted_hops=1',
                                'XForwardedFiltered({"10.0.0.0/8"})', 'XForwardedStrict([{"10.0.0.5"}])',
                                'chain="cloudflare[cf-connecting-ip]"',
                                'chain="cloudflare[cf-connecting-ip] -> lb=10.0.0.5"']),
    ],
)  # fmt: skip
def test_each_guide_shows_the_configurations_tested_here(guide: str, snippets: list[str]) -> None:
    text = (GUIDES / guide).read_text(encoding="utf-8")
    missing = [snippet for snippet in snippets if snippet not in text]
    assert not missing, f"docs/migrate/{guide} no longer shows {missing}"
    assert f"\n{guide[:-3]}\n" in (GUIDES / "index.md").read_text(encoding="utf-8")  # in the guides' toctree
    assert "\nmigrate/index\n" in (GUIDES.parent / "index.md").read_text(encoding="utf-8")
