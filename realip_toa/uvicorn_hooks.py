"""Uvicorn integration: a protocol class that reads each connection's TOA from its socket when it is accepted.

Needed for modes that read the accepted socket (``"saved-syn"``, ``"kernel"`` NAT64), because an ASGI app never sees
the socket; capture mode needs no hook beyond ``source.start()``. Imports uvicorn: use it only with uvicorn.

::

    source = TOASource("saved-syn")
    sock = realip_toa.servers.listen("0.0.0.0", 8000, save_syn=True)
    config = uvicorn.Config(app, http=toa_protocol(source))
    uvicorn.Server(config).run(sockets=[sock])
"""

from __future__ import annotations

from typing import Any

from .servers import forget_connection
from .source import TOASource

__all__ = ["toa_protocol"]


def toa_protocol(source: TOASource, base: type | str = "h11") -> type:
    """A subclass of uvicorn's HTTP protocol (``base``: ``"h11"``, ``"httptools"`` or a class) that records each
    accepted connection's TOA from its socket, so ``source.lookup_asgi(scope)`` finds it."""
    if base == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    elif base == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    elif isinstance(base, str):
        raise ValueError(f"toa_protocol base {base!r}: expected 'h11', 'httptools' or a protocol class")

    class TOAProtocol(base):  # type: ignore[valid-type,misc]
        """Reads the TOA of the accepted socket before handing the connection to uvicorn."""

        def connection_made(self, transport: Any) -> None:
            sock = transport.get_extra_info("socket")
            self._realip_toa_socket = sock
            if sock is not None:
                try:
                    source.from_socket(sock)
                except Exception:  # noqa: S110 - a bad connection never breaks the server
                    pass
            super().connection_made(transport)

        def connection_lost(self, exc: BaseException | None) -> None:
            sock = getattr(self, "_realip_toa_socket", None)
            if sock is not None:
                forget_connection(sock)
            super().connection_lost(exc)

    TOAProtocol.__name__ = TOAProtocol.__qualname__ = f"TOA{base.__name__}"
    return TOAProtocol
