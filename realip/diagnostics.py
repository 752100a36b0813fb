"""Rate-limited warnings for deployments that look misconfigured, and the per-request hook other tools listen on.

The adapters call :func:`report` with a request's Result when its reason is in :data:`WARNING_REASONS`. It logs (on
the ``realip`` logger) at most once per reason per interval, so a busy server never floods its log, and it never
raises.

Listeners. :func:`subscribe` registers a callable run with every Result the adapters report, in the request's own
context (its thread, or its asyncio task): :mod:`realip.logging` binds the Result there, :mod:`realip.metrics` counts
it, :mod:`realip.otel` writes it into the server span. While nobody listens, :data:`WARNING_REASONS` holds only the
two warning reasons and :func:`report` does what it always did, so an app that asked for none of this pays nothing
per request; a subscription adds every reason to the set, so the adapters start reporting every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .resolver import Reason, Result

__all__ = [
    "INTERVAL",
    "WARNING_REASONS",
    "FailureLog",
    "Listener",
    "logger",
    "report",
    "subscribe",
]

logger = logging.getLogger("realip")

#: Seconds between two warnings of the same kind.
INTERVAL = 60.0

#: A listener: called with the request's Result and the request it came from: the ASGI scope (Starlette, FastAPI,
#: Litestar, Quart), the WSGI environ (Flask), the Django, aiohttp or Sanic request, Tornado's request from
#: ``RealIPHandlerMixin`` or its headers from ``RealIPHTTPServer`` (which resolves before Tornado builds the request);
#: ``None`` when the caller passes none. It runs inside the request, so it must be quick.
Listener = Callable[[Result, Any], None]

_last: dict[Reason, float] = {}

_MESSAGES = {
    Reason.NO_HEADER: (
        "trusted peer %s sent no forwarding header, so the client is the peer itself. If a load balancer or "
        "kube-proxy SNAT sits in front (Kubernetes externalTrafficPolicy: Cluster), every request will look like "
        "it comes from %s: set externalTrafficPolicy: Local, forward a header and configure it, or drop the peer "
        "from trusted_proxies. Run 'realip explain' to see the walk."
    ),
    Reason.HOP_LIMIT: (
        "the walk from peer %s stopped at max_hops, every entry trusted, so the client is %s: "
        "raise max_hops if your chain is really that long, or narrow trusted_proxies."
    ),
}


#: The reasons for which the adapters call :func:`report` (``result.reason in WARNING_REASONS``): the two that warn,
#: and every reason while a listener is subscribed. The one set object is kept and changed in place, so an adapter
#: that imported it sees every change; treat it as read-only.
WARNING_REASONS: set[Reason] = set(_MESSAGES)

# reason -> (warn?, listeners): what report() does for it. One dict lookup decides, as before listeners existed.
_actions: dict[Reason, tuple[bool, tuple[Listener, ...]]] = {reason: (True, ()) for reason in _MESSAGES}
_subscriptions: list[tuple[Listener, frozenset[Reason]]] = []
_lock = threading.Lock()


def _loopback(peer: str) -> bool:
    """Whether a canonical peer address is loopback (``::ffff:127.0.0.1`` already reads ``127.0.0.1``)."""
    return peer.startswith("127.") or peer == "::1"


def report(result: Result, request: Any = None, *, now: float | None = None) -> None:
    """Log a rate-limited warning when the result suggests a misconfiguration (trusted peer but no header, ...), and
    hand the result to the listeners subscribed to its reason. Never raises."""
    actions = _actions.get(result.reason)
    if actions is None:
        return
    warn, listeners = actions
    if warn:
        _warn(result, now)
    for listener in listeners:
        try:
            listener(result, request)
        except Exception:
            _listener_failed(listener)


def _warn(result: Result, now: float | None) -> None:
    message = _MESSAGES[result.reason]
    if result.peer is None:
        return
    # A loopback peer with no header is a request from the same machine (a laptop, a probe inside the pod), not
    # the SNAT the warning is about: a load balancer or kube-proxy never connects from loopback. Debatable: a local
    # proxy that forgot its header goes unreported; we chose a quiet demo and laptop over that rare mistake.
    if result.reason is Reason.NO_HEADER and _loopback(result.peer):
        return
    moment = time.monotonic() if now is None else now
    last = _last.get(result.reason)
    if last is not None and moment - last < INTERVAL:
        return
    _last[result.reason] = moment
    logger.warning("realip: " + message, result.peer, result.client_ip)


_failed_listeners: set[int] = set()


def _listener_failed(listener: Listener) -> None:
    """Log a listener's first failure with its traceback, later ones at DEBUG: a request never sees them."""
    if id(listener) in _failed_listeners:
        logger.debug("realip: listener %r failed again", listener, exc_info=True)
        return
    _failed_listeners.add(id(listener))
    logger.exception("realip: listener %r failed; the request goes on. Further failures are logged at DEBUG.", listener)


def subscribe(listener: Listener, reasons: Iterable[Reason] | None = None) -> Callable[[], None]:
    """Call ``listener(result, request)`` for every reported Result whose reason is in ``reasons`` (default: all).

    Returns the function that unsubscribes it. Subscribing the same listener twice calls it twice.
    """
    chosen = frozenset(Reason) if reasons is None else frozenset(Reason(reason) for reason in reasons)
    entry = (listener, chosen)
    with _lock:
        _subscriptions.append(entry)
        _rebuild()

    def unsubscribe() -> None:
        with _lock:
            if entry in _subscriptions:
                _subscriptions.remove(entry)
                _rebuild()

    return unsubscribe


def _rebuild() -> None:
    """Recompute the reason table and :data:`WARNING_REASONS` from the subscriptions (under ``_lock``).

    The new table is built aside and swapped in with one assignment, so a request reading it concurrently sees the
    old table or the new one, never half of each. The set is changed in place (adapters hold it), adding before
    removing, so no reason that still has listeners is missing from it even for a moment.
    """
    global _actions
    table: dict[Reason, tuple[bool, tuple[Listener, ...]]] = {}
    for reason in Reason:
        listeners = tuple(listener for listener, reasons in _subscriptions if reason in reasons)
        if listeners or reason in _MESSAGES:
            table[reason] = (reason in _MESSAGES, listeners)
    _actions = table
    WARNING_REASONS.update(table)
    WARNING_REASONS.intersection_update(table)


def listening() -> bool:
    """Whether any listener is subscribed."""
    return bool(_subscriptions)


def reset() -> None:
    """Forget when each warning was last logged (for tests)."""
    _last.clear()
    _failed_listeners.clear()


class FailureLog:
    """Logs an adapter's first unexpected failure with its traceback at ERROR, and later ones at DEBUG.

    Adapters never let a failure escape into the request; this keeps one broken deployment from flooding the log
    while still saying, once and loudly, that something is wrong.
    """

    __slots__ = ("_failed", "consequence")

    def __init__(self, consequence: str) -> None:
        #: What happens to the request instead, e.g. "the request passes through unchanged".
        self.consequence = consequence
        self._failed = False

    def __call__(self, peer: object) -> None:
        """Log the exception being handled; call it from an ``except`` block."""
        if self._failed:
            logger.debug("realip: could not resolve the client; %s", self.consequence, exc_info=True)
            return
        self._failed = True
        logger.exception(
            "realip: could not resolve the client (peer %r); %s. Further failures are logged at DEBUG level.",
            peer,
            self.consequence,
        )
