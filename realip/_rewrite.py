"""The forwarded context as the framework adapters write it (aiohttp, Sanic, Tornado): the authority the client
addressed, and which forwarding headers ``strip_untrusted`` removes.

One rule for the three, decided once per adapter from the resolver, so they agree with each other and with what
:mod:`realip.asgi` and :mod:`realip.wsgi` write: a forwarded host without a port means the scheme's default port; a
forwarded port alone keeps the request's own host; a default port is never written into a Host value. The values
come from the :class:`~realip.Result`, already validated; nothing here reads a header the walk did not believe.
"""

from __future__ import annotations

from ._context import default_port, host_text, host_value
from .resolver import Resolver, Result

__all__ = ["Rewrite"]


class Rewrite:
    """What an adapter rewrites beyond the client and the scheme, decided from its resolver at start-up."""

    __slots__ = ("active", "prefix", "resolver", "strip")

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        contexts = (resolver.host_header, resolver.port_header, resolver.prefix_header)
        #: Whether there is anything to write besides the client and the scheme (the per-request test).
        self.active = resolver.strip_untrusted or any(name is not None for name in contexts)
        #: Whether a prefix can arrive (``prefix_header`` set).
        self.prefix = resolver.prefix_header is not None
        #: The header names (lowercase) removed unless believed; empty without ``strip_untrusted``.
        self.strip = resolver.strip_names() if resolver.strip_untrusted else frozenset()

    def authority(
        self, result: Result, scheme: str | None, host: str | None, local: object
    ) -> tuple[str, str, int | None] | None:
        """``(Host value, host, port)`` the client addressed, or ``None`` when the Result changes neither.

        ``scheme`` is the request's scheme once realip set it (for the default port), ``host`` its Host header as it
        arrived (``None`` if absent), ``local`` the server's socket address (the fallback when the Host header is
        absent or not a plain host). The host is lowercase, IPv6 in brackets.
        """
        if result.host is None and result.server_port is None:
            return None
        found = host_value(host) if host else None
        local_host, local_port = _address(local)
        name = result.host or (found[0] if found else local_host)
        if name is None:
            return None
        port = result.server_port
        if port is None:
            port = default_port(scheme) if result.host is not None else (found[1] if found and found[1] else local_port)
        return host_text(name, port, scheme), name, port


def _address(local: object) -> tuple[str | None, int | None]:
    """``(host, port)`` of a socket address (IPv6 bracketed); ``(None, None)`` for a UNIX socket or none."""
    if isinstance(local, tuple | list) and len(local) >= 2 and isinstance(local[0], str) and isinstance(local[1], int):
        return (f"[{local[0]}]" if ":" in local[0] else local[0]), local[1]
    return None, None
