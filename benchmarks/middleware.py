"""Trivial ASGI and WSGI apps, and loops that push a batch of requests through an app without a server.

An ASGI app is driven synchronously (``coroutine.send(None)``): the trivial app never awaits, so no event loop is
needed and the loop costs the same with and without a middleware, so "wrapped minus bare" is the middleware alone.
Each call gets a shallow copy of the scope or environ, since middlewares rewrite them in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

__all__ = ["AsgiProbe", "WsgiProbe", "asgi_loop", "wsgi_loop"]

_BODY = [b"ok"]
_HEADERS = [("Content-Type", "text/plain")]


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Callable[..., Any]:
    return _start_response


class AsgiProbe:
    """A hello-world ASGI app that records the client it was handed (the answer of whatever wraps it)."""

    __slots__ = ("client",)

    def __init__(self) -> None:
        self.client: Any = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        self.client = scope["client"]


class WsgiProbe:
    """A hello-world WSGI app that records ``REMOTE_ADDR`` as it received it."""

    __slots__ = ("client",)

    def __init__(self) -> None:
        self.client: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.client = environ["REMOTE_ADDR"]
        start_response("200 OK", _HEADERS)
        return _BODY


def asgi_loop(app: Callable[..., Any]) -> Callable[[list[dict[str, Any]]], None]:
    """A function running ``app`` once per scope of a batch."""

    def run(scopes: list[dict[str, Any]]) -> None:
        for template in scopes:
            coroutine = app(template.copy(), None, None)
            try:
                coroutine.send(None)
            except StopIteration:
                pass

    return run


def wsgi_loop(app: Callable[..., Any]) -> Callable[[list[dict[str, Any]]], None]:
    """A function running ``app`` once per environ of a batch."""

    def run(environs: list[dict[str, Any]]) -> None:
        for template in environs:
            app(template.copy(), _start_response)

    return run
