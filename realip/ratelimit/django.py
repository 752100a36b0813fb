"""django-ratelimit: a ``key=`` callable from ``request.realip``.

::

    from django_ratelimit.decorators import ratelimit

    @ratelimit(key="realip.ratelimit.django.client_key", rate="5/m", block=True)
    def login(request): ...

django-ratelimit runs in the view, after every middleware, so ``realip.django.RealIPMiddleware`` has set
``request.realip`` by then. Its own ``key="ip"`` reads ``REMOTE_ADDR``, which realip rewrites too, but this key also
buckets unresolved requests apart and needs no ``RATELIMIT_IP_META_KEY`` (django-ratelimit declined to parse
X-Forwarded-For, rightly: #128). No Result raises :class:`~realip.ratelimit.NotResolved`. django-ratelimit cannot
exempt by key; to exempt requests with no client, give ``rate=`` a callable returning ``None`` for them:
``rate=exempt_unresolved("5/m")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..resolver import Result
from . import DEFAULT_POLICY, KeyPolicy, Unresolved, policy_for
from . import is_unresolved as _is_unresolved

__all__ = ["client_key", "exempt_unresolved", "key_func", "result_of"]

Request = Any  # django.http.HttpRequest (Django ships no type hints)


def result_of(request: Request) -> Result | None:
    """The Result ``realip.django.RealIPMiddleware`` set on ``request``, or None."""
    result = getattr(request, "realip", None)
    return result if isinstance(result, Result) else None


def key_func(
    policy: KeyPolicy | None = None,
    *,
    ipv6_prefix: int = 64,
    ipv4_prefix: int = 32,
    unresolved: Unresolved = "bucket",
) -> Callable[[str | None, Request], str]:
    """A django-ratelimit ``key=`` callable with its own :class:`~realip.ratelimit.KeyPolicy` (``policy``, or built
    from the keywords; a bad value raises :class:`~realip.ConfigError` now)."""
    chosen = policy_for(policy, ipv6_prefix=ipv6_prefix, ipv4_prefix=ipv4_prefix, unresolved=unresolved)

    def client_key(group: str | None, request: Request) -> str:
        return chosen.key(result_of(request))

    return client_key


client_key = key_func(DEFAULT_POLICY)
client_key.__doc__ = "The rate-limit key of ``request``'s client under the default policy (``key=`` callable)."


def exempt_unresolved(rate: str) -> Callable[[str | None, Request], str | None]:
    """A ``rate=`` callable: ``rate`` for requests with a client, ``None`` (no limit) for those without one."""

    def chosen_rate(group: str | None, request: Request) -> str | None:
        result = result_of(request)
        return None if result is not None and _is_unresolved(result) else rate

    return chosen_rate
