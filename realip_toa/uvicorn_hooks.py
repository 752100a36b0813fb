"""Uvicorn integration: HTTP protocol classes (h11 or httptools) that read Layer-4 data as connections arrive.

``toa_protocol(source)`` reads each connection's TOA from its socket when it is accepted; needed for the modes that
read the accepted socket (``"saved-syn"``, ``"kernel"`` NAT64), because an ASGI app never sees the socket; capture
mode needs no hook beyond ``source.start()``.

``proxy_protocol(source)`` reads the PROXY protocol header before uvicorn sees a byte, under the listener policy of
``source`` (see :mod:`realip_toa.proxy_listener`): required from trusted peers, refused from others, bounded by a
timeout; the header is recorded for ``source.lookup_asgi(scope)`` and the bytes after it go to uvicorn. uvicorn
takes an import string for ``--http``, so ready-made classes configured from the environment are importable too:
``REALIP_LAYER4_PROXIES`` names the load balancers that send the header (the ``REALIP_PROXY_PROTOCOL_*`` variables
tune the rest, see :meth:`ProxyProtocolPolicy.from_env <realip_toa.proxy_listener.ProxyProtocolPolicy.from_env>`)::

    REALIP_LAYER4_PROXIES=100.64.0.0/10 uvicorn app:app --http realip_toa.uvicorn_hooks:ProxyProtocolHttpTools
    # or realip_toa.uvicorn_hooks:ProxyProtocolH11

Imports uvicorn (and httptools for that base): use it only with uvicorn.

::

    source = TOASource("saved-syn")
    sock = realip_toa.servers.listen("0.0.0.0", 8000, save_syn=True)
    config = uvicorn.Config(app, http=toa_protocol(source))
    uvicorn.Server(config).run(sockets=[sock])
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from ._table import conn_key
from .proxy_listener import STATE_KEY, HeaderReader, Pass, ProxyProtocolSource, Refuse
from .servers import forget_connection
from .source import TOASource

__all__ = ["proxy_protocol", "toa_protocol"]  # and, built on first use: ProxyProtocolH11, ProxyProtocolHttpTools

_log = logging.getLogger("realip_toa")


def _base(base: type | str) -> type:
    """uvicorn's HTTP protocol class for ``"h11"``, ``"httptools"`` or a class."""
    if base == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    if base == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    if isinstance(base, str):
        raise ValueError(f"protocol base {base!r}: expected 'h11', 'httptools' or a protocol class")
    return base


def toa_protocol(source: TOASource, base: type | str = "h11") -> type:
    """A subclass of uvicorn's HTTP protocol (``base``: ``"h11"``, ``"httptools"`` or a class) that records each
    accepted connection's TOA from its socket, so ``source.lookup_asgi(scope)`` finds it."""
    base = _base(base)

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


def proxy_protocol(source: ProxyProtocolSource | None = None, base: type | str = "h11") -> type:
    """A subclass of uvicorn's HTTP protocol (``base``: ``"h11"``, ``"httptools"`` or a class) that enforces the
    PROXY protocol policy of ``source`` (default: from the environment) on every connection."""
    base = _base(base)
    chosen = source if source is not None else ProxyProtocolSource.from_env()
    chosen.start()
    policy = chosen.policy
    # The bytes after the header go straight to the base's method: a zero-argument super() on every request cost more
    # than the rest of the hook's per-request work (CPython 3.11 builds a super object each call).
    forward = cast("Any", base).data_received

    class ProxyProtocol(base):  # type: ignore[valid-type,misc]
        """Reads the PROXY header (or refuses the connection) before uvicorn parses a byte of HTTP."""

        _realip: _Connection | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            connection = self._realip = _Connection()
            try:
                peer = transport.get_extra_info("peername")
                local = transport.get_extra_info("sockname")
                connection.key = conn_key(peer, local)
                reader = policy.reader(peer[0] if isinstance(peer, tuple) else None)
                verdict = reader.start()
            except Exception:  # a connection we cannot place is refused, never believed
                self._realip_refuse(Refuse("connection could not be examined", "error"))
                return
            if isinstance(verdict, Refuse):
                self._realip_refuse(verdict)
                return
            connection.reader = reader
            connection.timer = asyncio.get_running_loop().call_later(policy.timeout, self._realip_timeout)

        def data_received(self, data: bytes) -> None:
            connection = self._realip
            reader = connection.reader if connection is not None else None
            if reader is None:
                forward(self, data)
                return
            try:
                verdict = reader.feed(data)
            except Exception:  # attacker input never raises out of the hook
                verdict = Refuse("header could not be read", "error")
            if isinstance(verdict, Refuse):
                self._realip_refuse(verdict)
                return
            if not isinstance(verdict, Pass):
                return  # wait for more (the timer runs)
            self._realip_done()
            if not chosen.record(connection.key if connection is not None else None, verdict.header):
                self._realip_refuse(Refuse("too many connections to record", "full"))
                return
            policy.count(reader.served(verdict))
            state = getattr(self, "app_state", None)
            if verdict.header is not None and isinstance(state, dict):
                # uvicorn copies the connection's app_state into each request's scope["state"]: the header reaches
                # every request of the connection at no per-request cost.
                self.app_state = {**state, STATE_KEY: verdict.header}
            rest = reader.buffer[verdict.consumed :]
            reader.buffer = b""
            if rest:
                forward(self, rest)

        def eof_received(self) -> Any:
            connection = self._realip
            if connection is not None and connection.reader is not None:
                self._realip_refuse(connection.reader.end("closed"))
                return None
            return super().eof_received()

        def connection_lost(self, exc: Exception | None) -> None:
            self._realip_done()
            connection = self._realip
            chosen.forget(connection.key if connection is not None else None)
            super().connection_lost(exc)

        def _realip_timeout(self) -> None:
            connection = self._realip
            if connection is None:
                return
            connection.timer = None
            if connection.reader is not None:
                self._realip_refuse(connection.reader.end("timeout"))

        def _realip_done(self) -> None:
            connection = self._realip
            if connection is None:
                return
            connection.reader = None
            if connection.timer is not None:
                connection.timer.cancel()
                connection.timer = None

        def _realip_refuse(self, verdict: Refuse) -> None:
            connection = self._realip
            trusted = connection is not None and connection.reader is not None and connection.reader.trusted
            self._realip_done()
            policy.count(verdict.counter)
            level = logging.WARNING if trusted else logging.DEBUG
            _log.log(level, "realip_toa: closed a connection from %s: %s", _peer_text(self), verdict.reason)
            self.transport.close()

    ProxyProtocol.__name__ = ProxyProtocol.__qualname__ = f"ProxyProtocol{base.__name__}"
    return ProxyProtocol


class _Connection:
    """The hook's state for one connection, in one attribute of the protocol: uvicorn's protocols set 25 (h11) to 28
    (httptools) attributes, and CPython 3.11 shares an instance dict's keys up to 30 only; past that, every attribute
    uvicorn reads on every request is a slower lookup."""

    __slots__ = ("key", "reader", "timer")

    def __init__(self) -> None:
        #: The connection's 4-tuple, under which its header is recorded and forgotten.
        self.key: Any = None
        #: The header reader until the header is read (or the connection refused), then ``None``.
        self.reader: HeaderReader | None = None
        self.timer: asyncio.TimerHandle | None = None


def _peer_text(protocol: Any) -> str:
    client = getattr(protocol, "client", None)
    return f"{client[0]}:{client[1]}" if isinstance(client, tuple) and len(client) >= 2 else "a UNIX socket peer"


_READY: dict[str, type] = {}


def __getattr__(name: str) -> type:
    """``ProxyProtocolH11`` / ``ProxyProtocolHttpTools``: ready for ``--http``, configured from the environment
    (``REALIP_LAYER4_PROXIES`` and ``REALIP_PROXY_PROTOCOL_*``; built on first use, so importing this module needs
    neither httptools nor the variables)."""
    bases = {"ProxyProtocolH11": "h11", "ProxyProtocolHttpTools": "httptools"}
    if name not in bases:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _READY:
        _READY[name] = proxy_protocol(None, bases[name])
    return _READY[name]
