"""OpenTelemetry: the server span's ``client.address`` is the resolved client, in whichever order things run.

::

    import realip.otel
    realip.otel.instrument()          # once, after the SDK's TracerProvider is set (auto-instrumentation sets it first)
    realip.otel.instrument_metrics()  # optional: realip's counters as OpenTelemetry metrics

The ASGI, WSGI, Flask and Django instrumentations take ``client.address`` from the socket (``scope["client"]``,
``REMOTE_ADDR``), which behind a proxy is the proxy; their users patch in X-Forwarded-For, which the client writes
(baserow #5277). This module writes what realip resolved instead, on the server span:

- ``client.address`` and ``client.port``: the client and its port (the port only when known);
- ``network.peer.address`` and ``network.peer.port``: the socket peer, whatever realip rewrote for the app;
- ``realip.source`` (``peer``, the header's name, ``toa`` or ``proxy-protocol``), ``realip.reason`` (the
  :class:`~realip.Reason` value) and ``realip.proxies`` (the trusted hops passed, nearest first);
- ``http.client_ip`` too when the instrumentation writes the old conventions (it sets ``net.peer.ip``).

Whichever order. Two things can happen first in a request, and :func:`instrument` covers both:

- The instrumentation starts its span, then realip's middleware resolves (auto-instrumentation of FastAPI and
  Django puts the instrumentation outermost). A listener (:func:`realip.diagnostics.subscribe`) that every adapter
  calls right after resolving finds the server span current and writes the attributes on it.
- realip resolves, then the instrumentation starts its span (``RealIP(app)`` wraps Flask's ``wsgi_app`` outside
  Flask's instrumentation; a Starlette app instrumented before ``add_middleware(RealIPMiddleware)``). The listener,
  finding no server span, keeps the Result in a context variable of the request; a span processor added to the
  TracerProvider takes it when the server span starts. Since realip rewrote what the instrumentation reads, the
  instrumentation's own ``client.address`` is already the client; the processor adds the peer and the rest.

The kept Result is taken by the first server span that starts in the request's context, and cleared when the listener
finds a span itself, so it never reaches another request's span. One thing cannot be fixed from outside: when the
instrumentation runs first under the new conventions and the client's port is unknown (a proxy that writes no
port), its ``client.port`` (the proxy's port) stays, since the API cannot remove an attribute; under the old
conventions ``net.peer.ip`` and ``net.peer.port`` keep what the server saw.

For instrumentations you configure by hand there is also :func:`request_hook`, for their request hooks: it reads the
Result realip stored, or resolves on demand when realip has not run yet (or is not installed at all).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import Span, SpanKind

from . import diagnostics
from .resolver import Reason, Resolver, Result

__all__ = ["RealIPSpanProcessor", "attributes", "instrument", "instrument_metrics", "request_hook", "track"]

_pending: ContextVar[Result | None] = ContextVar("realip_otel_pending", default=None)
_unsubscribe: Callable[[], None] | None = None
_lock = threading.Lock()
_SERVER = SpanKind.SERVER
_OLD_CONVENTION = "net.peer.ip"


def attributes(result: Result, old_conventions: bool = False) -> dict[str, Any]:
    """The span attributes for ``result`` (``http.client_ip`` too with ``old_conventions``)."""
    found: dict[str, Any] = {"realip.source": result.source, "realip.reason": result.reason.value}
    if result.client_ip is not None:
        found["client.address"] = result.client_ip
        if old_conventions:
            found["http.client_ip"] = result.client_ip
    if result.client_port is not None:
        found["client.port"] = result.client_port
    if result.peer is not None:
        found["network.peer.address"] = result.peer
    if result.peer_port is not None:
        found["network.peer.port"] = result.peer_port
    if result.proxies:
        found["realip.proxies"] = list(result.proxies)
    return found


def _apply(span: Any, result: Result) -> None:
    span_attributes = getattr(span, "attributes", None) or {}
    span.set_attributes(attributes(result, _OLD_CONVENTION in span_attributes))


def _listener(result: Result, request: object) -> None:
    span = trace.get_current_span()
    if span.is_recording() and getattr(span, "kind", None) is _SERVER:
        _apply(span, result)
        if _pending.get() is not None:
            _pending.set(None)
    else:
        _pending.set(result)


def track() -> Callable[[], None]:
    """Subscribe the listener (idempotent); returns the function that unsubscribes it."""
    global _unsubscribe
    with _lock:
        if _unsubscribe is None:
            _unsubscribe = diagnostics.subscribe(_listener)
    return _untrack


def _untrack() -> None:
    global _unsubscribe
    with _lock:
        if _unsubscribe is not None:
            _unsubscribe()
            _unsubscribe = None
    _pending.set(None)


class RealIPSpanProcessor(SpanProcessor):
    """Writes the kept Result on a server span as it starts (realip resolved before the instrumentation's span)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if getattr(span, "kind", None) is not _SERVER:
            return
        result = _pending.get()
        if result is not None:
            _pending.set(None)
            _apply(span, result)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def instrument(tracer_provider: Any = None) -> RealIPSpanProcessor:
    """Add :class:`RealIPSpanProcessor` to ``tracer_provider`` (default: the global one, which must be the SDK's)
    and subscribe the listener. Call it once, at start-up; any order with the instrumentations and middleware."""
    provider = trace.get_tracer_provider() if tracer_provider is None else tracer_provider
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        raise RuntimeError(
            f"realip.otel.instrument: the tracer provider {provider!r} is not the SDK's (no add_span_processor): set "
            "one first (opentelemetry-instrument does), or pass tracer_provider="
        )
    processor = RealIPSpanProcessor()
    add(processor)
    track()
    return processor


def request_hook(resolver: Resolver | None = None) -> Callable[[Span, Any], None]:
    """A request hook for an instrumentation configured by hand, resolving on demand when realip has not run.

    One hook serves them all: ``OpenTelemetryMiddleware(app, server_request_hook=hook)`` and
    ``FastAPIInstrumentor.instrument_app(app, server_request_hook=hook)`` (ASGI scope), ``FlaskInstrumentor``'s and
    ``OpenTelemetryMiddleware``'s ``request_hook`` (WSGI environ), ``DjangoInstrumentor().instrument(request_hook=
    hook)`` (Django request). It uses the Result realip already stored for the request; without one it resolves the
    request itself with ``resolver`` (Django: the ``REALIP`` settings; others: default ``Resolver.from_env()``,
    built on first use), from the same socket peer and headers realip would read. Never raises into the request.
    """
    chosen: list[Resolver] = [] if resolver is None else [resolver]

    def resolver_for(carrier: Any) -> Resolver:
        if hasattr(carrier, "META"):  # Django: its settings decide
            from .django.conf import get_config

            return get_config().resolver
        if not chosen:
            chosen.append(Resolver.from_env())
        return chosen[0]

    def hook(span: Span, carrier: Any) -> None:
        try:
            result = _result_of(carrier)
            if result is None:
                result = _resolve(resolver_for(carrier), carrier)
            if result is not None and span.is_recording():
                _apply(span, result)
        except Exception:
            _hook_failed()

    return hook


_hook_log = diagnostics.FailureLog("the span keeps the instrumentation's attributes")


def _hook_failed() -> None:
    _hook_log(None)


def _result_of(carrier: Any) -> Result | None:
    """The Result realip stored on an ASGI scope, a WSGI environ or a Django request, if any."""
    found: Any = getattr(carrier, "realip", None)  # Django
    if found is None and isinstance(carrier, Mapping):
        state = carrier.get("state")
        found = state.get("realip") if isinstance(state, Mapping) else carrier.get("realip.result")
    return found if isinstance(found, Result) else None


def _resolve(resolver: Resolver, carrier: Any) -> Result | None:
    """Resolve a request realip has not seen: from its untouched socket peer and headers."""
    scope = getattr(carrier, "scope", None)  # a Django ASGIRequest
    if scope is None and hasattr(carrier, "META"):
        carrier = carrier.META
    elif isinstance(scope, Mapping):
        carrier = scope
    if not isinstance(carrier, Mapping):
        return None
    if "type" in carrier and "headers" in carrier:  # ASGI
        return resolver.resolve(carrier.get("client"), carrier.get("headers") or ())
    from .wsgi import RealIPMiddleware

    return RealIPMiddleware(_no_app, resolver=resolver).resolve(carrier)  # type: ignore[arg-type]


def _no_app(environ: Any, start_response: Any) -> list[bytes]:  # pragma: no cover - never called
    return []


def instrument_metrics(meter_provider: Any = None) -> None:
    """Export realip's counters (:func:`realip.metrics.enable`, turned on here) as OpenTelemetry metrics.

    ``realip.requests`` (attribute ``realip.reason``): resolutions by reason, misconfiguration signs included
    (``no-header``: a trusted peer without a forwarding header). ``realip.untrusted_peer_forwarding_headers``: a
    forwarding header sent by an untrusted peer (spoof attempts). Both are observable counters read at each
    collection: nothing OpenTelemetry runs per request.
    """
    from opentelemetry import metrics as metrics_api
    from opentelemetry.metrics import CallbackOptions, Observation

    from . import __version__
    from . import metrics as counting

    counters = counting.enable()
    provider = metrics_api.get_meter_provider() if meter_provider is None else meter_provider
    meter = provider.get_meter("realip", __version__)

    def by_reason(options: CallbackOptions) -> list[Observation]:
        snapshot = counters.snapshot()
        return [Observation(snapshot[reason.value], {"realip.reason": reason.value}) for reason in Reason]

    def forged(options: CallbackOptions) -> list[Observation]:
        return [Observation(counters.snapshot()[counting.WITH_HEADER])]

    meter.create_observable_counter(
        "realip.requests", [by_reason], unit="{request}", description="Requests resolved by realip, by reason"
    )
    meter.create_observable_counter(
        "realip.untrusted_peer_forwarding_headers",
        [forged],
        unit="{request}",
        description="Forwarding headers sent by peers realip does not trust (spoof attempts), ignored",
    )
