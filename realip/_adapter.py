"""What every adapter resolves with: the resolver it was given or built, and its Layer-4 source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from .layer4 import Layer4, layer4_source
from .resolver import Resolver, resolver_from_options

__all__ = ["AdapterSetup", "adapter_setup"]


class AdapterSetup(NamedTuple):
    """An adapter's per-request tools, decided once at start-up."""

    resolver: Resolver
    #: The started Layer-4 source (``layer4=``, or ``REALIP_LAYER4`` when configured from the environment), or None.
    layer4: Layer4 | None


def adapter_setup(owner: str, resolver: Resolver | None, layer4: object, options: Mapping[str, object]) -> AdapterSetup:
    """Resolve an adapter's keyword arguments; bad configuration raises :class:`~realip.ConfigError` here."""
    configured = resolver is not None or bool(options)
    resolver = resolver_from_options(owner, resolver, options)
    return AdapterSetup(resolver, layer4_source(layer4, resolver, from_env=not configured))
