"""Rate-limit keys from the client realip already resolved: never a header read again, never the proxy's address.

Threat model. A limiter keyed by a header the client writes is a limiter the client switches off: it sends a new
``X-Forwarded-For`` with every request and gets a fresh bucket each time (flask-limiter #41, slowapi's
``get_ipaddr``). A limiter keyed by the socket peer behind a proxy puts the whole site in the proxy's one bucket
(slowapi behind a load balancer). These keys come from the :class:`~realip.Result` the middleware stored for the
request, so they are exactly as trustworthy as the walk: forged entries never reach them, and behind your proxies
each client gets its own bucket.

One key function per limiter, each in its own module, none importing a framework at import time:

- slowapi (Starlette, FastAPI): ``Limiter(key_func=realip.ratelimit.starlette.client_key)``, reading
  ``request.state.realip``;
- flask-limiter: ``Limiter(realip.ratelimit.flask.client_key, app=app)``, reading ``environ["realip.result"]``;
- django-ratelimit: ``@ratelimit(key="realip.ratelimit.django.client_key", rate="5/m")``, reading
  ``request.realip``;
- the ``limits`` library, or anything else: :func:`client_key` of the Result you hold.

Buckets. An IPv4 client is its own bucket (``"198.51.100.7"``). An IPv6 client is bucketed by its /64
(``"2001:db8:1:2::/64"``): one host usually holds a whole /64, so a per-address key would let it rotate through 2**64
addresses. Both prefixes are settings (:class:`KeyPolicy`).

No client. Some Results name no client beyond your own infrastructure: a trusted proxy that forwarded no header
(:attr:`~realip.Reason.NO_HEADER`), a chain that broke on a malformed entry (``INVALID_ENTRY``), stopped at
``max_hops`` (``HOP_LIMIT``) or was shorter than ``trusted_hops`` (``SHORT_CHAIN``), a Layer-4 balancer that carried
no client (``NO_LAYER4``), or a UNIX-socket peer. These are infrastructure talking (health checks) or a broken
deployment, never a client's choice: a client cannot produce them through a trusted proxy. ``unresolved="bucket"``
(the default) keys them ``"unresolved:<address>"``, a bucket per trusted address that can never be mistaken for a
client's; ``unresolved="error"`` raises :class:`UnresolvedClient` instead. To exempt them, use the limiter's own
exemption with :func:`is_unresolved` (each limiter module shows how). A request that realip never resolved (its
middleware missing, or placed after the limiter) raises :class:`NotResolved`, whose message says how to fix it: no
silent fallback to the socket peer or to a header.

``ALL_TRUSTED`` counts as resolved, debatably: every entry was a trusted address, and the leftmost one is the best
answer the chain gives (an internal client on a trusted network, or any client under ``trusted_proxies=["any"]``).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal

from ..errors import ConfigError
from ..resolver import Reason, Result

__all__ = [
    "DEFAULT_POLICY",
    "UNRESOLVED_PREFIX",
    "UNRESOLVED_REASONS",
    "KeyPolicy",
    "NotResolved",
    "UnresolvedClient",
    "bucket",
    "client_key",
    "is_unresolved",
    "policy_for",
]

#: The Results whose client is one of your own hops, not a client: see the module docstring.
UNRESOLVED_REASONS = frozenset(
    (Reason.NO_HEADER, Reason.INVALID_ENTRY, Reason.HOP_LIMIT, Reason.SHORT_CHAIN, Reason.NO_LAYER4)
)
#: What ``unresolved="bucket"`` keys start with.
UNRESOLVED_PREFIX = "unresolved:"

Unresolved = Literal["bucket", "error"]
_UNRESOLVED_CHOICES = ("bucket", "error")


class NotResolved(RuntimeError):
    """The request carries no realip Result: the middleware is missing, or runs after the limiter."""


class UnresolvedClient(LookupError):
    """``unresolved="error"``: the Result names no client beyond your own hops (see :func:`is_unresolved`)."""

    def __init__(self, result: Result) -> None:
        super().__init__(
            f"realip resolved no client for this request (reason {result.reason.value}, stopped at "
            f"{result.client_ip or 'a UNIX socket'}): it is one of your own hops, not a client"
        )
        #: The Result in question.
        self.result = result


def is_unresolved(result: Result) -> bool:
    """Whether ``result`` names no client beyond your own hops (its reason is in :data:`UNRESOLVED_REASONS`, or the
    peer is a UNIX socket with no header)."""
    return result.client_ip is None or result.reason in UNRESOLVED_REASONS


def _prefix(name: str, value: object, bits: int) -> int:
    if type(value) is not int or not 1 <= value <= bits:
        raise ConfigError(f"{name}={value!r} must be a whole number from 1 to {bits} (a network prefix length)", name)
    return value


class KeyPolicy:
    """How a Result becomes a rate-limit key: the IPv4 and IPv6 bucket sizes and what to do without a client.

    ``KeyPolicy(ipv6_prefix=64, ipv4_prefix=32, unresolved="bucket")`` are the defaults. A bad value raises
    :class:`~realip.ConfigError` here, naming it.
    """

    __slots__ = ("ipv4_prefix", "ipv6_prefix", "unresolved")

    def __init__(self, *, ipv6_prefix: int = 64, ipv4_prefix: int = 32, unresolved: Unresolved = "bucket") -> None:
        #: Bits of an IPv6 client's address that make its bucket (default 64: a /64 is one subscriber).
        self.ipv6_prefix: int = _prefix("ipv6_prefix", ipv6_prefix, 128)
        #: Bits of an IPv4 client's address that make its bucket (default 32: the address itself).
        self.ipv4_prefix: int = _prefix("ipv4_prefix", ipv4_prefix, 32)
        if unresolved not in _UNRESOLVED_CHOICES:
            raise ConfigError(
                f"unresolved={unresolved!r} must be 'bucket' (a bucket per trusted address, apart from clients') "
                "or 'error' (raise UnresolvedClient)",
                "unresolved",
            )
        #: ``"bucket"`` or ``"error"``: what a Result naming no client becomes.
        self.unresolved: Unresolved = unresolved

    def __repr__(self) -> str:
        return (
            f"KeyPolicy(ipv6_prefix={self.ipv6_prefix}, ipv4_prefix={self.ipv4_prefix}, unresolved={self.unresolved!r})"
        )

    def key(self, result: Result | None) -> str:
        """The key for ``result``: its client's bucket, or per :attr:`unresolved` when it names no client.

        ``None`` (no Result for the request) raises :class:`NotResolved`.
        """
        if result is None:
            raise NotResolved(
                "realip has not resolved this request, so there is no client to rate-limit by. Install realip's "
                "middleware and make it run before the limiter: outermost in Starlette/FastAPI (add it last), first "
                "in Django's MIDDLEWARE, RealIP(app) for Flask. 'realip doctor --app ...' checks the order."
            )
        ip = result.client_ip
        if ip is None or result.reason in UNRESOLVED_REASONS:
            if self.unresolved == "error":
                raise UnresolvedClient(result)
            return UNRESOLVED_PREFIX + (ip or "unix")
        return bucket(ip, self.ipv4_prefix, self.ipv6_prefix)


def bucket(ip: str, ipv4_prefix: int = 32, ipv6_prefix: int = 64) -> str:
    """The bucket of an address in canonical text: itself at full length, else its network (``"2001:db8::/64"``).

    Text that is not an IP address (a test client's ``"testclient"``) is its own bucket.
    """
    if ":" in ip:
        return ip if ipv6_prefix == 128 else _network(ip, ipv6_prefix)
    return ip if ipv4_prefix == 32 else _network(ip, ipv4_prefix)


@lru_cache(maxsize=4096)
def _network(ip: str, prefix: int) -> str:
    # Cached: a client sends many requests, and ipaddress costs microseconds. The cache is bounded, so a client
    # cycling through addresses costs it a parse each, no memory.
    try:
        return ipaddress.ip_network((ip, prefix), strict=False).with_prefixlen
    except ValueError:
        return ip


#: The policy the ready-made key functions use: IPv4 per address, IPv6 per /64, a bucket per hop when unresolved.
DEFAULT_POLICY = KeyPolicy()


def policy_for(
    policy: KeyPolicy | None, *, ipv6_prefix: int = 64, ipv4_prefix: int = 32, unresolved: Unresolved = "bucket"
) -> KeyPolicy:
    """``policy``, or one built from the keywords (what each limiter module's ``key_func`` takes)."""
    if policy is not None:
        return policy
    return KeyPolicy(ipv6_prefix=ipv6_prefix, ipv4_prefix=ipv4_prefix, unresolved=unresolved)


def client_key(result: Result | None) -> str:
    """``DEFAULT_POLICY.key(result)``: the rate-limit key of a Result (for the ``limits`` library, or your own)."""
    return DEFAULT_POLICY.key(result)
