"""What the observability hooks cost per request: the ASGI and WSGI middleware with nothing listening, with the
counters on (``realip.metrics``), with the logging binding on (``realip.logging``), with the OpenTelemetry listener
on (``realip.otel``, no span current), and all together; beside the bare app, so each difference is the hook alone.

    python -m benchmarks.observe [--rounds 15] [--seconds 0.05]

Two requests: a client behind a trusted proxy (the common case), and an untrusted peer forging X-Forwarded-For (the
counters then look at its header names). The listeners are process-wide, so each run switches its own on before its
batch and off after: the switch is a few microseconds against a batch of thousands of requests.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from realip import Resolver
from realip.asgi import RealIPMiddleware as AsgiMiddleware
from realip.wsgi import RealIPMiddleware as WsgiMiddleware

from .middleware import AsgiProbe, WsgiProbe, asgi_loop, wsgi_loop
from .timing import Stats, compare

__all__ = ["CONFIGS", "main", "measure"]

RESOLVER = Resolver(trusted_proxies=["10.0.0.0/8"])
REQUESTS = {
    "proxied": ("10.0.0.5", "198.51.100.7"),
    "forged": ("203.0.113.9", "192.0.2.66"),
}
OTHER_HEADERS = [("host", "example.com"), ("user-agent", "bench/1.0"), ("accept", "*/*"), ("accept-encoding", "gzip")]


def _switch(names: tuple[str, ...]) -> Callable[[], Callable[[], None]]:
    """A function turning the named hooks on and returning the function that turns them off again."""

    def on() -> Callable[[], None]:
        undo: list[Callable[[], None]] = []
        if "counters" in names:
            from realip import metrics

            metrics.enable()
            undo.append(metrics.disable)
        if "logging" in names:
            from realip import logging as realip_logging

            realip_logging.track()
            undo.append(realip_logging.untrack)
        if "otel" in names:
            from realip import otel

            undo.append(otel.track())

        def off() -> None:
            for step in undo:
                step()

        return off

    return on


#: Configuration name -> the hooks it turns on.
CONFIGS: dict[str, tuple[str, ...]] = {
    "off": (),
    "counters": ("counters",),
    "logging": ("logging",),
    "otel": ("otel",),
    "all": ("counters", "logging", "otel"),
}


def _timed(run: Callable[[list[Any]], None], hooks: tuple[str, ...]) -> Callable[[list[Any]], None]:
    switch = _switch(hooks)

    def timed(batch: list[Any]) -> None:
        off = switch()
        try:
            run(batch)
        finally:
            off()

    return timed


def measure(rounds: int = 15, seconds: float = 0.05) -> dict[str, dict[str, Stats]]:
    """``{request: {"asgi bare", "asgi off", "asgi counters", ..., "wsgi all": Stats}}`` in ns per request."""
    results: dict[str, dict[str, Stats]] = {}
    for label, (peer, forwarded) in REQUESTS.items():
        headers = [(b"x-forwarded-for", forwarded.encode()), *((n.encode(), v.encode()) for n, v in OTHER_HEADERS)]
        scope = {"type": "http", "client": (peer, 40000), "headers": headers, "path": "/"}
        environ = {"REMOTE_ADDR": peer, "REMOTE_PORT": "40000", "HTTP_X_FORWARDED_FOR": forwarded, "PATH_INFO": "/"}
        environ.update({"HTTP_" + n.upper().replace("-", "_"): v for n, v in OTHER_HEADERS})
        scopes, environs = [scope] * 4096, [environ] * 4096
        runs: dict[str, tuple[Callable[[list[Any]], None], list[Any]]] = {
            "asgi bare": (asgi_loop(AsgiProbe()), scopes),
            "wsgi bare": (wsgi_loop(WsgiProbe()), environs),
        }
        for name, hooks in CONFIGS.items():
            asgi = asgi_loop(AsgiMiddleware(AsgiProbe(), resolver=RESOLVER))
            wsgi = wsgi_loop(WsgiMiddleware(WsgiProbe(), resolver=RESOLVER))
            runs[f"asgi {name}"] = (_timed(asgi, hooks), scopes)
            runs[f"wsgi {name}"] = (_timed(wsgi, hooks), environs)
        results[label] = compare(runs, rounds, seconds)
    return results


def main(argv: list[str] | None = None) -> dict[str, dict[str, Stats]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.observe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.05, help="target seconds per batch")
    args = parser.parse_args(argv)
    results = measure(args.rounds, args.seconds)
    print("| request | adapter | " + " | ".join(["bare", *CONFIGS]) + " | hook cost (config - off) |")
    print("|---|---|" + "---|" * (len(CONFIGS) + 2))
    for label, cells in results.items():
        for adapter in ("asgi", "wsgi"):
            off = cells[f"{adapter} off"].median
            row = [
                f"{cells[f'{adapter} bare'].median:.0f}",
                *(f"{cells[f'{adapter} {c}'].median:.0f}" for c in CONFIGS),
            ]
            extra = ", ".join(f"{c} +{cells[f'{adapter} {c}'].median - off:.0f}" for c in CONFIGS if c != "off")
            print(f"| {label} | {adapter} | " + " | ".join(row) + f" | {extra} |")
    print("\nns per request, medians of interleaved rounds")
    return results


if __name__ == "__main__":
    main()
