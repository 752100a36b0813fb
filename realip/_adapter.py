"""What every adapter resolves with: the resolver it was given or built, and its TOA source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .resolver import Resolver, resolver_from_options
from .toa import toa_source

__all__ = ["AdapterSetup", "adapter_setup"]


class AdapterSetup(NamedTuple):
    """An adapter's per-request tools, decided once at start-up."""

    resolver: Resolver
    #: The started TOA source (``toa=``, or ``REALIP_TOA`` when configured from the environment), or None.
    toa: Any


def adapter_setup(owner: str, resolver: Resolver | None, toa: object, options: Mapping[str, object]) -> AdapterSetup:
    """Resolve an adapter's keyword arguments; bad configuration raises :class:`~realip.ConfigError` here."""
    configured = resolver is not None or bool(options)
    resolver = resolver_from_options(owner, resolver, options)
    return AdapterSetup(resolver, toa_source(toa, from_env=not configured))
