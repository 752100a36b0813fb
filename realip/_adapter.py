"""What every adapter resolves with: the resolver it was given or built, its TOA source, and the C shortcuts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .resolver import Headers, Peer, Resolver, Result, resolver_from_options
from .toa import toa_source

__all__ = ["AdapterSetup", "adapter_setup"]


class AdapterSetup(NamedTuple):
    """An adapter's per-request tools, decided once at start-up."""

    resolver: Resolver
    #: The started TOA source (``toa=``, or ``REALIP_TOA`` when configured from the environment), or None.
    toa: Any
    #: The C twin for the common request (None: not built, or a subclass overriding ``resolve()``, which must win).
    common: Callable[[Peer, Headers], Result | None] | None
    #: The C twin's whole-request rewrites (``rewrite_scope``, ``rewrite_environ``): as ``common``, and None with TOA.
    fast: Any


def adapter_setup(owner: str, resolver: Resolver | None, toa: object, options: Mapping[str, object]) -> AdapterSetup:
    """Resolve an adapter's keyword arguments; bad configuration raises :class:`~realip.ConfigError` here."""
    configured = resolver is not None or bool(options)
    resolver = resolver_from_options(owner, resolver, options)
    plain = type(resolver).resolve is Resolver.resolve
    source = toa_source(toa, from_env=not configured)
    fast = resolver._c_fast if plain and source is None else None
    return AdapterSetup(resolver, source, resolver.resolve_common if plain else None, fast)
