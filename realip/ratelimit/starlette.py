"""slowapi (and any Starlette or FastAPI limiter): a ``key_func`` from ``request.state.realip``.

::

    from slowapi import Limiter
    from realip.ratelimit.starlette import client_key

    limiter = Limiter(key_func=client_key)           # IPv4 per address, IPv6 per /64
    app.add_middleware(RealIPMiddleware, trusted_proxies=[...])   # added last: outermost, before SlowAPIMiddleware

The key is the Result :class:`realip.asgi.RealIPMiddleware` stored in the ASGI scope; no header is read here. A
request the middleware did not resolve raises :class:`~realip.ratelimit.NotResolved` (the middleware is missing, or
inside ``SlowAPIMiddleware``). To exempt requests with no client (health checks through a proxy that forwards no
header): ``@limiter.limit("5/minute", exempt_when=is_unresolved)``. Other policies: ``key_func(ipv6_prefix=56)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..resolver import Result
from . import DEFAULT_POLICY, KeyPolicy, Unresolved, policy_for
from . import is_unresolved as _is_unresolved

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

__all__ = ["client_key", "is_unresolved", "key_func", "result_of"]


def result_of(request: HTTPConnection) -> Result | None:
    """The Result realip's ASGI middleware stored for ``request`` (a Starlette Request or WebSocket), or None."""
    state: Any = request.scope.get("state")
    result = state.get("realip") if isinstance(state, Mapping) else None
    return result if isinstance(result, Result) else None


def key_func(
    policy: KeyPolicy | None = None,
    *,
    ipv6_prefix: int = 64,
    ipv4_prefix: int = 32,
    unresolved: Unresolved = "bucket",
) -> Callable[[HTTPConnection], str]:
    """A slowapi ``key_func`` with its own :class:`~realip.ratelimit.KeyPolicy` (``policy``, or built from the
    keywords; a bad value raises :class:`~realip.ConfigError` now)."""
    chosen = policy_for(policy, ipv6_prefix=ipv6_prefix, ipv4_prefix=ipv4_prefix, unresolved=unresolved)

    def client_key(request: HTTPConnection) -> str:  # slowapi passes the request only to a parameter so named
        return chosen.key(result_of(request))

    return client_key


client_key = key_func(DEFAULT_POLICY)
client_key.__doc__ = "The rate-limit key of ``request``'s client under the default policy (slowapi ``key_func``)."


def is_unresolved(request: HTTPConnection) -> bool:
    """Whether ``request`` has a Result naming no client (``exempt_when=is_unresolved``); False without a Result, so
    a missing middleware still fails loudly in the key function."""
    result = result_of(request)
    return result is not None and _is_unresolved(result)
