"""Rate-limited warnings for deployments that look misconfigured, so an operator sees why an address is wrong.

The adapters call :func:`report` with every Result. It logs (on the ``realip`` logger) at most once per reason per
interval, so a busy server never floods its log, and it never raises.
"""

from __future__ import annotations

import logging
import time

from .resolver import Reason, Result

__all__ = ["INTERVAL", "WARNING_REASONS", "FailureLog", "logger", "report"]

logger = logging.getLogger("realip")

#: Seconds between two warnings of the same kind.
INTERVAL = 60.0

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


#: The reasons :func:`report` may warn about: adapters skip the call for every other result.
WARNING_REASONS = frozenset(_MESSAGES)


def _loopback(peer: str) -> bool:
    """Whether a canonical peer address is loopback (``::ffff:127.0.0.1`` already reads ``127.0.0.1``)."""
    return peer.startswith("127.") or peer == "::1"


def report(result: Result, *, now: float | None = None) -> None:
    """Log a rate-limited warning when the result suggests a misconfiguration (trusted peer but no header, ...)."""
    message = _MESSAGES.get(result.reason)
    if message is None or result.peer is None:
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


def reset() -> None:
    """Forget when each warning was last logged (for tests)."""
    _last.clear()


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
