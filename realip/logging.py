"""The client and its source on every log record of a request: a :class:`logging.Filter` and a structlog processor.

::

    handler.addFilter(realip.logging.ClientFilter())   # then %(client_ip)s and %(client_source)s in the format

    structlog.configure(processors=[realip.logging.ClientProcessor(), ..., structlog.processors.JSONRenderer()])

How the request's Result reaches a record logged deep inside a view: creating a filter or processor subscribes a
listener (:func:`realip.diagnostics.subscribe`) that every adapter calls right after it resolves a request, and the
listener puts the Result in a :class:`contextvars.ContextVar`. A context variable belongs to the request's own
asyncio task, or to its thread under a WSGI server, so concurrent requests never see each other's client;
Starlette's threadpool, asgiref's ``sync_to_async`` and ``asyncio.create_task`` carry it along. Nothing is
subscribed until a filter or processor is created, so an app that does not log this way pays nothing per request.

What a record carries: ``client_ip`` (``Result.client_ip``) and ``client_source`` (``Result.source``: ``peer``, the
header's name, ``toa`` or ``proxy-protocol``). Outside a resolved request the filter writes ``"-"`` (so a format
string never fails) and the processor adds nothing. Records logged before realip runs (by a middleware outside it)
have no client yet. A WSGI server thread keeps the last Result it resolved until it resolves the next request, so the
server's own lines after a response (its access log) carry that request's client, as they should; so would a line it
logged between two requests, before the second is resolved. Threads you start yourself begin with an empty context:
hand it over with ``contextvars.copy_context().run``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from . import diagnostics
from .resolver import Result

__all__ = ["MISSING", "ClientFilter", "ClientProcessor", "bind", "current_result", "track", "untrack"]

#: What :class:`ClientFilter` writes when there is no Result (outside a request, or before realip ran).
MISSING = "-"

_current: ContextVar[Result | None] = ContextVar("realip_result", default=None)
_unsubscribe: Callable[[], None] | None = None
_lock = threading.Lock()


def current_result() -> Result | None:
    """The Result of the request being handled in this context, or None."""
    return _current.get()


def bind(result: Result | None, request: object = None) -> None:
    """Make ``result`` the current request's Result in this context (what the adapters' listener does)."""
    _current.set(result)


def track() -> None:
    """Start binding every resolved request's Result (idempotent; creating a filter or processor calls it)."""
    global _unsubscribe
    with _lock:
        if _unsubscribe is None:
            _unsubscribe = diagnostics.subscribe(bind)


def untrack() -> None:
    """Stop binding Results and forget the one bound in the calling context; the adapters are back to their free
    path. (Another thread keeps its last Result until it binds again: a context belongs to its thread.)"""
    global _unsubscribe
    with _lock:
        if _unsubscribe is not None:
            _unsubscribe()
            _unsubscribe = None
    _current.set(None)


class ClientFilter(logging.Filter):
    """Adds ``client_ip`` and ``client_source`` to every record it sees; never drops one.

    Attach it to a handler (it then sees every logger's records) or to a logger; from ``dictConfig``:
    ``"filters": {"client": {"()": "realip.logging.ClientFilter"}}``.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        track()

    def filter(self, record: logging.LogRecord) -> bool:
        result = _current.get()
        if result is None:
            record.client_ip = record.client_source = MISSING
        else:
            record.client_ip = result.client_ip or MISSING
            record.client_source = result.source
        return True


class ClientProcessor:
    """A structlog processor adding ``client_ip`` and ``client_source`` to the event dict inside a request (keys
    the event already has are kept)."""

    def __init__(self) -> None:
        track()

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        result = _current.get()
        if result is not None:
            event_dict.setdefault("client_ip", result.client_ip)
            event_dict.setdefault("client_source", result.source)
        return event_dict
