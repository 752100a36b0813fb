"""Frameworks: what realip's aiohttp middleware and Sanic extension add to a request, next to those stacks' own proxy
handling, wrapped minus bare.

One request, the CLB -> ingress -> app one (scenario S3): peer ``10.0.0.2``, ``X-Forwarded-For: 198.51.100.7,
100.64.3.4``, the answer ``198.51.100.7``. Each contender is timed on the framework's own request object, then the
bare request is subtracted, so a row is the proxy handling alone:

- aiohttp: the middleware coroutine around a handler that reads ``request.remote``, driven without an event loop
  (the handler never awaits); bare is the handler alone. aiohttp-remotes' ``XForwardedStrict`` gets one trusted set
  per hop (the balancer, then the ingress), ``XForwardedRelaxed`` a hop count of 2 (it trusts any peer); both hand the
  handler a clone of the request.
- Sanic: realip's request middleware (called as Sanic calls it: the call and an ``isawaitable`` test) then
  ``request.client_ip``; Sanic's own handling is ``request.client_ip`` with ``PROXIES_COUNT=2`` (X-Forwarded-For),
  or with ``FORWARDED_SECRET`` and a ``Forwarded: for=...;secret=...`` header; bare is ``request.client_ip`` with no
  proxy setting. Sanic caches the answer on the request, so every contender clears it first (bare too). Even with no
  proxy setting, Sanic's ``client_ip`` looks for proxy headers; realip fills in that answer, so Sanic skips its own
  look and the row is realip's cost minus that look: what an app pays in all.

``python -m benchmarks`` runs this section after the others (the "Frameworks" section of the report); alone:
``python -m benchmarks.frameworks``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from .timing import Stats, compare

__all__ = ["FrameworkRow", "main", "measure_frameworks"]

PEER = ("10.0.0.2", 40123)
XFF = "198.51.100.7, 100.64.3.4"
EXPECTED = "198.51.100.7"
TRUSTED = ("10.0.0.0/8", "100.64.0.0/10")
SECRET = "realip-benchmark-secret"


@dataclass(frozen=True)
class FrameworkRow:
    """One contender: its time per request with the bare request subtracted, and the client it answered."""

    framework: str
    name: str
    trust: str
    #: Nanoseconds per request, wrapped (the bare time is in the framework's ``bare`` row).
    stats: Stats
    #: Wrapped minus bare, in nanoseconds (medians); ``None`` for the bare row itself.
    added: float | None
    answer: str | None


# -- aiohttp -------------------------------------------------------------------------------------------------------


class _Transport:
    def __init__(self, peer: tuple[str, int]) -> None:
        self._extra = {"peername": peer, "sockname": ("10.0.9.9", 8080), "sslcontext": None}

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)


class _Protocol:
    """What an aiohttp Request reads from its protocol, without mock objects (they would dominate the timing)."""

    max_field_size = max_line_length = 8190
    max_headers = 128
    ssl_context = None

    def __init__(self, transport: _Transport) -> None:
        self.transport = transport
        self.peername = transport.get_extra_info("peername")
        self.sockname = transport.get_extra_info("sockname")


def _aiohttp_requests(count: int) -> list[Any]:
    """``count`` requests sharing one parsed message (the same header objects, as a warm server loop sees them)."""
    from aiohttp.test_utils import make_mocked_request

    transport = _Transport(PEER)
    first = make_mocked_request(
        "GET", "/", headers=[("X-Forwarded-For", XFF)], transport=transport, protocol=_Protocol(transport)
    )
    return [first.clone() for _ in range(count)]


def _aiohttp_runs(count: int) -> tuple[dict[str, tuple[Callable[[list[Any]], None], list[Any]]], dict[str, Any]]:
    from aiohttp import web
    from aiohttp_remotes import XForwardedRelaxed, XForwardedStrict

    from realip.aiohttp import realip_middleware

    seen: list[Any] = [None]
    response = web.Response()

    async def handler(request: web.Request) -> web.StreamResponse:
        seen[0] = request.remote
        return response

    def loop(wrapped: Callable[..., Any] | None) -> Callable[[list[Any]], None]:
        def run(batch: list[Any]) -> None:
            for request in batch:
                coroutine = handler(request) if wrapped is None else wrapped(request, handler)
                try:
                    coroutine.send(None)
                except StopIteration:
                    pass

        return run

    contenders = {
        "bare": None,
        "realip": realip_middleware(trusted_proxies=list(TRUSTED)),
        "aiohttp-remotes XForwardedStrict": XForwardedStrict([[TRUSTED[0]], [TRUSTED[1]]]).middleware,
        "aiohttp-remotes XForwardedRelaxed": XForwardedRelaxed(num=2).middleware,
    }
    runs = {name: (loop(wrapped), _aiohttp_requests(count)) for name, wrapped in contenders.items()}
    return runs, _answers(runs, seen)


def _answers(runs: dict[str, tuple[Any, list[Any]]], seen: list[Any]) -> dict[str, Any]:
    """Each contender's answer on its first request: the client its handler saw (written into ``seen[0]``)."""
    answers = {}
    for name, (run, requests) in runs.items():
        seen[0] = None
        run(requests[:1])
        answers[name] = seen[0]
    return answers


# -- Sanic ---------------------------------------------------------------------------------------------------------

_names = itertools.count()


def _sanic_requests(config: dict[str, Any], headers: list[tuple[str, str]], count: int) -> list[Any]:
    from sanic import Request, Sanic
    from sanic.compat import Header

    app: Sanic[Any, Any] = Sanic(f"realip_benchmark_{next(_names)}")
    for key, value in config.items():
        app.config[key] = value

    class Conn:  # what Sanic's ConnInfo gives a request: the socket's addresses
        peername = PEER
        sockname = ("10.0.9.9", 8080)
        client_ip = PEER[0]
        client_port = PEER[1]
        ssl = False

    requests = []
    for _ in range(count):
        request = Request(b"/", Header(headers), "1.1", "GET", None, app)  # type: ignore[arg-type]
        request.conn_info = Conn()  # type: ignore[assignment]
        requests.append(request)
    return requests


def _sanic_runs(count: int) -> tuple[dict[str, tuple[Callable[[list[Any]], None], list[Any]]], dict[str, Any]]:
    from realip.sanic import RealIP

    xff = [("X-Forwarded-For", XFF)]
    forwarded = [("Forwarded", f"for=100.64.3.4, for=198.51.100.7;secret={SECRET}")]
    seen: list[Any] = [None]

    def loop(middleware: Callable[[Any], Any] | None) -> Callable[[list[Any]], None]:
        def run(batch: list[Any]) -> None:
            for request in batch:
                request.parsed_forwarded = None  # Sanic caches its answer on the request: start afresh
                try:
                    del request._remote_addr
                except AttributeError:
                    pass
                if middleware is not None:
                    response = middleware(request)
                    if isawaitable(response):  # what Sanic does with a middleware's return value
                        raise AssertionError("realip's Sanic middleware is synchronous")
                seen[0] = request.client_ip

        return run

    extension = RealIP(trusted_proxies=list(TRUSTED))
    contenders: dict[str, tuple[Callable[[Any], Any] | None, dict[str, Any], list[tuple[str, str]]]] = {
        "bare": (None, {}, xff),
        "realip": (extension.on_request, {}, xff),
        "Sanic PROXIES_COUNT=2": (None, {"PROXIES_COUNT": 2}, xff),
        "Sanic FORWARDED_SECRET": (None, {"FORWARDED_SECRET": SECRET}, forwarded),
    }
    runs = {
        name: (loop(middleware), _sanic_requests(config, headers, count))
        for name, (middleware, config, headers) in contenders.items()
    }
    return runs, _answers(runs, seen)


# -- the section ---------------------------------------------------------------------------------------------------

_TRUST = {
    "bare": "-",
    "realip": "10.0.0.0/8, 100.64.0.0/10 (peer checked)",
    "aiohttp-remotes XForwardedStrict": "10.0.0.0/8 then 100.64.0.0/10, one set per hop (peer checked)",
    "aiohttp-remotes XForwardedRelaxed": "hop count 2; peer not checked",
    "Sanic PROXIES_COUNT=2": "hop count 2; peer not checked",
    "Sanic FORWARDED_SECRET": "a shared secret in the Forwarded element; peer not checked",
}


def measure_frameworks(rounds: int = 31, seconds: float = 0.004, count: int = 2048) -> tuple[list[FrameworkRow], str]:
    """The rows for aiohttp and Sanic (a framework that is not installed is left out), and a note saying so."""
    rows: list[FrameworkRow] = []
    missing = []
    for framework, build in (("aiohttp", _aiohttp_runs), ("sanic", _sanic_runs)):
        try:
            runs, answers = build(count)
        except ImportError as error:
            missing.append(f"{framework} ({error})")
            continue
        measured = compare(runs, rounds, seconds)
        bare = measured["bare"].median
        for name in runs:
            added = None if name == "bare" else measured[name].median - bare
            rows.append(FrameworkRow(framework, name, _TRUST[name], measured[name], added, answers[name]))
    note = (
        "per request on the framework's own request object, the bare request subtracted; the answer each gave "
        f"for peer {PEER[0]} and X-Forwarded-For '{XFF}' (right: {EXPECTED})"
    )
    if missing:
        note += "; not measured: " + ", ".join(missing)
    return rows, note


def table(rows: list[FrameworkRow]) -> list[str]:
    """The section as a Markdown table."""
    out = [
        "| framework | contender | trusts | per request | added to bare | answer |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        added = "-" if row.added is None else f"{row.added / 1000:.2f} µs"
        mark = "" if row.name == "bare" else (" ✓" if row.answer == EXPECTED else " ✗")
        out.append(
            f"| {row.framework} | {row.name} | {row.trust} | {row.stats.median / 1000:.2f} µs "
            f"(IQR {row.stats.iqr / 1000:.2f}) | {added} | {row.answer}{mark} |"
        )
    return out


def main() -> None:
    """Print this section alone."""
    rows, note = measure_frameworks()
    print(note)
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
