"""Counters of spoof attempts and misconfiguration signs, readable by the app or exported through OpenTelemetry.

::

    counters = realip.metrics.enable()
    ...
    counters.snapshot()   # {"requests": 1200, "untrusted-peer": 3, "no-header": 1100, ...,
                          #  "untrusted-peer-with-header": 2, "unchecked": 0}

``realip.otel.instrument_metrics()`` exports the same numbers as OpenTelemetry counters.

What is counted, for every request an adapter resolved while the counters are on:

- ``requests``: every resolution;
- one count per :class:`~realip.Reason`, by its value. Of these, the misconfiguration signs are ``no-header`` (a
  trusted peer sent no forwarding header: kube-proxy SNAT, or a proxy that does not forward), ``hop-limit``,
  ``invalid-entry`` (a trusted hop wrote something that is not an address), ``short-chain`` (fewer hops than
  ``trusted_hops``) and ``no-layer4`` (a Layer-4 balancer carried no client);
- ``untrusted-peer-with-header``: an untrusted peer sent a forwarding header (X-Forwarded-For, Forwarded,
  X-Real-IP and the vendor headers in :data:`FORWARDING_HEADERS`). The header was ignored, so nothing was spoofed,
  but something tried: a client forging its address, a client behind its own proxy, or, when the peer is in fact
  your proxy, a proxy missing from ``trusted_proxies`` (``realip doctor --url`` tells which);
- ``unchecked``: untrusted-peer results whose request the adapter did not hand over, so the header could not be
  looked at (a caller of :func:`realip.diagnostics.report` that passes no request).

Cost. Off (the default), nothing at all: no listener is subscribed and the adapters take their usual path. On, one
listener call per request: two increments in the thread's own dict (no lock), and for an untrusted peer a look at
its header names. The
benchmark ``python -m benchmarks.observe`` measures it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import diagnostics
from ._headers import environ_key
from .resolver import Reason, Result

__all__ = ["FORWARDING_HEADERS", "Counters", "counters", "disable", "enable"]

#: Headers that carry a client address; one of them from an untrusted peer counts as ``untrusted-peer-with-header``.
FORWARDING_HEADERS: tuple[str, ...] = (
    "forwarded",
    "x-forwarded-for",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "fly-client-ip",
    "eo-connecting-ip",
)

WITH_HEADER = "untrusted-peer-with-header"
UNCHECKED = "unchecked"
_UNTRUSTED_PEER = Reason.UNTRUSTED_PEER


def _is_scope(mapping: Mapping[str, Any]) -> bool:
    """Whether a mapping that is not a dict is an ASGI scope rather than a header mapping (whose ``type`` and
    ``headers`` would be header lines a client chose, holding text)."""
    headers = mapping.get("headers")
    return mapping.get("type") in ("http", "websocket") and headers is not None and not isinstance(headers, str)


class Counters:
    """The counts, and the listener that keeps them. :meth:`snapshot` adds up a copy.

    Each thread counts in a dict of its own, so counting takes no lock and loses no increment, under the GIL or
    without one; :meth:`snapshot` sums the threads' dicts (a thread that ended keeps its counts).
    """

    __slots__ = ("_environ_keys", "_keys", "_local", "_lock", "_names", "_tallies", "headers")

    def __init__(self, headers: Iterable[str] = FORWARDING_HEADERS) -> None:
        #: The header names (lowercase) whose presence from an untrusted peer counts.
        self.headers: tuple[str, ...] = tuple(name.lower() for name in headers)
        self._names = frozenset(name.encode("latin-1") for name in self.headers)
        self._environ_keys = tuple(environ_key(name) for name in self.headers)
        # Keyed by the Reason members themselves (a StrEnum hashes as its text), since Enum.value costs a descriptor
        # call per request; snapshot() names them by value.
        self._keys: tuple[str, ...] = ("requests", *Reason, WITH_HEADER, UNCHECKED)
        self._lock = threading.Lock()  # guards the list of tallies, never a count
        self._local = threading.local()
        self._tallies: list[dict[str, int]] = []

    def _tally(self) -> dict[str, int]:
        """This thread's counts, created on its first request."""
        tally = dict.fromkeys(self._keys, 0)
        with self._lock:
            self._tallies.append(tally)
        self._local.tally = tally
        return tally

    def __call__(self, result: Result, request: Any) -> None:
        try:
            tally: dict[str, int] = self._local.tally
        except AttributeError:
            tally = self._tally()
        reason = result.reason
        tally["requests"] += 1
        tally[reason] += 1
        if reason is _UNTRUSTED_PEER:
            sent = self.sent_forwarding_header(request)
            if sent is None:
                tally[UNCHECKED] += 1
            elif sent:
                tally[WITH_HEADER] += 1

    def sent_forwarding_header(self, request: Any) -> bool | None:
        """Whether ``request`` holds a forwarding header: an ASGI scope, a WSGI environ, a Django, aiohttp, Sanic or
        Tornado request, or a header mapping (what Tornado's ``RealIPHTTPServer`` hands over); None when it is none
        of these."""
        if type(request) is not dict:
            if hasattr(request, "META"):  # Django: an ASGIRequest's raw header list, else META
                scope = getattr(request, "scope", None)
                request = scope if isinstance(scope, Mapping) else request.META
            else:
                # aiohttp, Sanic and Tornado requests carry a case-insensitive mapping (Sanic's ``scope`` is not
                # read: outside ASGI it raises); Tornado's HTTPHeaders is one itself.
                headers = getattr(request, "headers", None)
                if isinstance(headers, Mapping):
                    request = headers
                elif not isinstance(request, Mapping):
                    return None
                if not _is_scope(request):
                    return any(name in request for name in self.headers)
        if "headers" in request and "type" in request:  # an ASGI scope; servers send lowercase bytes names
            names = self._names
            for name, _ in request["headers"]:
                if name in names or ((type(name) is not bytes or not name.islower()) and bytes(name).lower() in names):
                    return True
            return False
        for key in self._environ_keys:
            if key in request:
                return True
        return False

    def snapshot(self) -> dict[str, int]:
        """The counts: ``requests``, one per Reason value, ``untrusted-peer-with-header``, ``unchecked``."""
        total = dict.fromkeys(self._keys, 0)
        with self._lock:
            tallies = list(self._tallies)
        for tally in tallies:
            for key, count in dict(tally).items():
                total[key] += count
        return {str(key): count for key, count in total.items()}

    def reset(self) -> None:
        """Every count back to zero (a count made while this runs may survive it)."""
        with self._lock:
            for tally in self._tallies:
                for key in tally:
                    tally[key] = 0


_counters: Counters | None = None
_unsubscribe: Callable[[], None] | None = None
_lock = threading.Lock()


def enable(headers: Iterable[str] | None = None) -> Counters:
    """Start counting every request the adapters resolve; returns the process's :class:`Counters` (idempotent:
    a second call returns the same counters; ``headers`` replaces the forwarding header names only on the first)."""
    global _counters, _unsubscribe
    with _lock:
        if _counters is None:
            _counters = Counters(FORWARDING_HEADERS if headers is None else headers)
        if _unsubscribe is None:
            _unsubscribe = diagnostics.subscribe(_counters)
        return _counters


def counters() -> Counters | None:
    """The process's counters if :func:`enable` was called, else None."""
    return _counters


def disable() -> None:
    """Stop counting (the counts are kept and can still be read); the adapters are back to their free path."""
    global _unsubscribe
    with _lock:
        if _unsubscribe is not None:
            _unsubscribe()
            _unsubscribe = None
