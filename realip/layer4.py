"""The one ``layer4=`` option every adapter takes: where a Layer-4 load balancer's client comes from.

A Layer-4 load balancer does not write headers; it carries the client either in a TCP option (TOA) or in a PROXY
protocol header before the request. ``layer4`` names which, once, for every adapter and setting:

| value | reads | needs |
|---|---|---|
| ``"proxy-protocol"`` | the PROXY v1/v2 header the server hook took off the connection | layer4_proxies, a hook |
| ``"toa:capture"`` | the TCP option on the handshake ACK / first data (raw socket) | layer4_proxies, CAP_NET_RAW |
| ``"toa:saved-syn"`` | the TCP option on the SYN the kernel saved | layer4_proxies, the listener hook |
| ``"toa:kernel"`` | what a loaded ``toa.ko`` put in ``getpeername()`` (the peer is the client) | the module |

or a started ``realip_toa`` source object, or ``None`` (off). The address is believed only from a peer in the
resolver's ``layer4_proxies`` (the balancers), and such a peer bringing none is the client itself: its bytes are the
client's, so none of its headers is read. ``realip_toa`` is imported only when Layer 4 is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, cast

from .errors import ConfigError

if TYPE_CHECKING:
    from .resolver import Peer, Resolver

__all__ = ["KINDS", "STATE_KEY", "Layer4", "layer4_source"]

#: The ``layer4`` values that name a source.
KINDS = ("proxy-protocol", "toa:capture", "toa:saved-syn", "toa:kernel")
#: The ``scope["state"]`` key where the ASGI adapter puts what the balancer carried (Starlette:
#: ``request.state.realip_layer4``); the WSGI adapter uses ``realip.wsgi.LAYER4_KEY``.
STATE_KEY = "realip_layer4"


class Layer4:
    """A started Layer-4 source with the kind it reports as ``Result.source``: the adapters' per-request lookups."""

    __slots__ = ("kind", "source")

    def __init__(self, source: Any) -> None:
        #: The realip_toa source (``TOASource`` or ``ProxyProtocolSource``).
        self.source = source
        #: ``"proxy-protocol"`` or ``"toa"``.
        self.kind = "proxy-protocol" if getattr(source, "mode", None) == "proxy-protocol" else "toa"

    def __repr__(self) -> str:
        return f"Layer4({self.source!r})"

    def asgi(self, scope: Mapping[str, Any]) -> tuple[str, Peer] | None:
        """``(kind, address)`` for :meth:`~realip.Resolver.resolve`, or None when this connection carried no client."""
        address = self.source.lookup_asgi(scope)
        return None if address is None else (self.kind, address)

    def wsgi(self, environ: MutableMapping[str, Any]) -> tuple[str, Peer] | None:
        """As :meth:`asgi`, for a WSGI environ."""
        address = self.source.lookup_wsgi(environ)
        return None if address is None else (self.kind, address)

    def details_asgi(self, scope: Mapping[str, Any]) -> Any:
        """Everything the balancer carried: the PROXY header (TLVs included), else the address, else None."""
        header = getattr(self.source, "header_asgi", None)
        return header(scope) if header is not None else self.source.lookup_asgi(scope)

    def details_wsgi(self, environ: MutableMapping[str, Any]) -> Any:
        """As :meth:`details_asgi`, for a WSGI environ."""
        header = getattr(self.source, "header_wsgi", None)
        return header(environ) if header is not None else self.source.lookup_wsgi(environ)

    def carried(self, details: Any) -> tuple[str, Peer] | None:
        """``(kind, address)`` from what :meth:`details_asgi` gave (a PROXY header's source, or the TOA address)."""
        address = getattr(details, "source", details)
        return None if address is None else (self.kind, address)


def layer4_source(
    value: Any, resolver: Resolver, *, from_env: bool, setting: str = "layer4", environ: Mapping[str, str] | None = None
) -> Layer4 | None:
    """The started Layer-4 source an adapter asks for: ``value`` if given, else ``REALIP_LAYER4`` when ``from_env``.

    Raises :class:`~realip.ConfigError` (at start-up, ``option="layer4"`` or ``"layer4_proxies"``) naming
    ``setting``: an unknown kind, a capture without ``CAP_NET_RAW``, or a source that needs ``layer4_proxies``
    without them.
    """
    if isinstance(value, Layer4):
        return value
    env = os.environ if environ is None else environ
    if value is None and from_env:
        value = env.get("REALIP_LAYER4", "").strip() or None
        setting = "REALIP_LAYER4"
    if value is None or (isinstance(value, str) and value.lower() in ("off", "none", "")):
        return None
    from realip_toa import TOAConfigError, TOASource
    from realip_toa.proxy_listener import ProxyProtocolPolicy, ProxyProtocolSource

    kind = value.strip().lower() if isinstance(value, str) else None
    source: Any
    try:
        if kind is None:
            source = value if hasattr(value, "lookup_asgi") else TOASource.coerce(value)
        elif kind == "proxy-protocol":
            source = ProxyProtocolSource(ProxyProtocolPolicy(resolver.is_balancer))
        elif kind in KINDS:
            # REALIP_TOA_KINDS, _PORTS and _INTERFACE narrow it; the mode is never empty here, so never None.
            source = cast(TOASource, TOASource.from_env({**env, "REALIP_LAYER4": kind}))
        else:
            raise ConfigError(
                f"{setting}={value!r}: expected one of {', '.join(KINDS)}, a realip_toa source, or None", "layer4"
            )
        needs_balancers = getattr(source, "mode", "") != "kernel"  # toa.ko already hands the client to getpeername()
        if needs_balancers and not resolver.layer4_proxies:
            raise ConfigError(
                f"{setting}={value!r} needs layer4_proxies, the load balancers' addresses (REALIP_LAYER4_PROXIES), "
                "e.g. ['100.64.0.0/10'] for Tencent CLB: a Layer-4 client is believed from them alone",
                "layer4_proxies",
            )
        source.start()
    except TOAConfigError as error:  # realip_toa is the lower layer: its error is not a realip.ConfigError
        raise ConfigError(f"{setting}={value!r}: {error}", "layer4") from None
    return Layer4(source)
