"""flask-limiter: a ``key_func`` from the Result realip stored in the WSGI environ.

::

    from flask_limiter import Limiter
    from realip.flask import RealIP
    from realip.ratelimit.flask import client_key

    RealIP(app, trusted_proxies=[...])
    limiter = Limiter(client_key, app=app, default_limits=["100/minute"])

flask-limiter calls the key function inside the request, after every WSGI middleware, so realip (which wraps
``app.wsgi_app``) has always run by then. The key is ``environ["realip.result"]``, set by
:class:`realip.wsgi.RealIPMiddleware` under :class:`realip.flask.RealIP` or on its own; no header is read here (never
``request.access_route``: the client writes it). No Result raises :class:`~realip.ratelimit.NotResolved`. To exempt
requests with no client: ``Limiter(..., default_limits_exempt_when=is_unresolved)`` or ``exempt_when=is_unresolved``
on a limit.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import request

from ..resolver import Result
from ..wsgi import RESULT_KEY
from . import DEFAULT_POLICY, KeyPolicy, Unresolved, policy_for
from . import is_unresolved as _is_unresolved

__all__ = ["client_key", "is_unresolved", "key_func", "result_of"]


def result_of() -> Result | None:
    """The Result for the current Flask request, or None if realip did not resolve it."""
    result = request.environ.get(RESULT_KEY)
    return result if isinstance(result, Result) else None


def key_func(
    policy: KeyPolicy | None = None,
    *,
    ipv6_prefix: int = 64,
    ipv4_prefix: int = 32,
    unresolved: Unresolved = "bucket",
) -> Callable[[], str]:
    """A flask-limiter ``key_func`` with its own :class:`~realip.ratelimit.KeyPolicy` (``policy``, or built from the
    keywords; a bad value raises :class:`~realip.ConfigError` now)."""
    chosen = policy_for(policy, ipv6_prefix=ipv6_prefix, ipv4_prefix=ipv4_prefix, unresolved=unresolved)

    def client_key() -> str:
        return chosen.key(result_of())

    return client_key


client_key = key_func(DEFAULT_POLICY)
client_key.__doc__ = "The rate-limit key of the current request's client under the default policy."


def is_unresolved() -> bool:
    """Whether the current request's Result names no client (for ``exempt_when``); False without a Result."""
    result = result_of()
    return result is not None and _is_unresolved(result)
