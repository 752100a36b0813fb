"""TOASource: one configured way to find the TOA client of a connection, with per-request lookups for adapters.

::

    source = TOASource("capture", ports=[8000])       # or "saved-syn", or "kernel"
    source.start()                                     # at start-up, in the serving process
    toa = source.lookup_asgi(scope)                    # -> ("198.51.100.7", 40123) or None
    result = resolver.resolve(scope["client"], scope["headers"], ("toa", toa) if toa else None)

Lookups never raise for bad request data: anything unusable gives ``None`` and the request proceeds with its peer.
"""

from __future__ import annotations

import logging
import os
import socket
import weakref
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, cast

from . import DEFAULT_KINDS, TOA, TOAConfigError, kernel, pack_kinds, parse_kinds, parse_packet, savedsyn, to_toa
from ._table import ConnKey, ConnTable, conn_key
from .capture import Capture

__all__ = ["MODES", "REGISTRY", "TOASource", "started_sources"]

MODES = ("kernel", "saved-syn", "capture")
_ALIASES = {"savedsyn": "saved-syn", "saved_syn": "saved-syn", "syn": "saved-syn", "module": "kernel"}

#: TOAs read from accepted sockets by server hooks (saved SYN, kernel NAT64), by 4-tuple: filled by the uvicorn
#: protocol (``realip_toa.uvicorn_hooks``) at connection time and by WSGI lookups, read by ASGI lookups.
REGISTRY: ConnTable[TOA] = ConnTable(max_entries=65536, ttl=3600.0)
os.register_at_fork(after_in_child=REGISTRY.after_fork)

_log = logging.getLogger("realip_toa")
_SOURCES: weakref.WeakSet[TOASource] = weakref.WeakSet()


def started_sources() -> list[TOASource]:
    """Start every TOASource made in this process (gunicorn ``post_worker_init`` calls this in each worker)."""
    sources = list(_SOURCES)
    for source in sources:
        source.start()
    return sources


class TOASource:
    """Where a connection's TOA comes from: ``mode`` is ``"kernel"``, ``"saved-syn"`` or ``"capture"``.

    ``kinds`` are the honoured ``(kind, length)`` pairs (default :data:`realip_toa.DEFAULT_KINDS`); ``ports`` and
    ``interface`` narrow a capture (all ports / interfaces if empty). Bad values raise :class:`TOAConfigError`.
    """

    def __init__(
        self,
        mode: str,
        *,
        kinds: Iterable[tuple[int, int]] = DEFAULT_KINDS,
        ports: Iterable[int] = (),
        interface: str | None = None,
        max_entries: int = 65536,
        ttl: float = 600.0,
    ) -> None:
        normalized = _ALIASES.get(mode.strip().lower(), mode.strip().lower())
        if normalized not in MODES:
            raise TOAConfigError(f"TOA mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode = normalized
        self.kinds = tuple(kinds)
        self._packed = pack_kinds(self.kinds)
        self.capture: Capture | None = None
        if normalized == "capture":
            self.capture = Capture(self._packed, ports, interface, max_entries=max_entries, ttl=ttl)
        self.module = kernel.loaded_module() if normalized == "kernel" else None
        self._announced = False
        self._start_failed = False
        _SOURCES.add(self)

    def __repr__(self) -> str:
        extra = f", ports={list(self.capture.ports)}" if self.capture else ""
        return f"TOASource({self.mode!r}, kinds={list(self.kinds)}{extra})"

    # -- configuration --------------------------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TOASource | None:
        """Build from ``REALIP_LAYER4`` (``toa:capture``, ``toa:saved-syn`` or ``toa:kernel``; anything else, or
        unset: ``None``), ``REALIP_TOA_KINDS`` (``254/8,200/8``), ``REALIP_TOA_PORTS`` (``8000,8443``) and
        ``REALIP_TOA_INTERFACE``."""
        env = os.environ if environ is None else environ
        layer4 = env.get("REALIP_LAYER4", "").strip()
        if not layer4.lower().startswith("toa:"):
            return None
        mode = layer4[4:]
        kinds = parse_kinds(env.get("REALIP_TOA_KINDS", ""))
        ports = []
        for entry in filter(None, (p.strip() for p in env.get("REALIP_TOA_PORTS", "").split(","))):
            if not entry.isdigit():
                raise TOAConfigError(f"REALIP_TOA_PORTS entry {entry!r}: expected a port number such as 8000")
            ports.append(int(entry))
        interface = env.get("REALIP_TOA_INTERFACE", "").strip() or None
        return cls(mode, kinds=kinds, ports=ports, interface=interface)

    @classmethod
    def coerce(cls, value: TOASource | str | None) -> TOASource | None:
        """A TOASource, a mode string (``"capture"``), ``None`` (off), or another Layer-4 source with the three
        methods realip's adapters call (``start``, ``lookup_asgi``, ``lookup_wsgi``), such as
        :class:`realip_toa.proxy_listener.ProxyProtocolSource`."""
        if value is None or isinstance(value, TOASource):
            return value
        if isinstance(value, str):
            return cls(value)
        if all(callable(getattr(value, name, None)) for name in ("start", "lookup_asgi", "lookup_wsgi")):
            # Typed as TOASource for the adapters, which use only those three methods (the layer4= interface the
            # core will name: see the README's Layer-4 section).
            return cast(TOASource, value)
        raise TOAConfigError(
            f"{value!r}: expected a realip_toa.TOASource, a mode string, a ProxyProtocolSource, or None"
        )

    def start(self) -> None:
        """Prepare for lookups in this process: start the capture (idempotent; again after a fork), and log what
        the mode will see. Call it at start-up: a missing ``CAP_NET_RAW`` raises :class:`TOAConfigError` here."""
        if self.capture is not None:
            was_running = self.capture.running
            self.capture.start()
            if not was_running:
                _log.info("realip_toa: %s", self.status())
        elif not self._announced:
            self._announced = True
            level = logging.WARNING if self.mode == "kernel" and self.module is None else logging.INFO
            _log.log(level, "realip_toa: %s", self.status())

    def status(self) -> str:
        """One line on what this source reads, for start-up logs and diagnostics."""
        kinds = ",".join(f"{kind}/{length}" for kind, length in self.kinds)
        if self.mode == "kernel":
            if self.module is None:
                return (
                    "kernel mode, but no TOA kernel module is loaded (no /sys/module/toa or /sys/module/vtoa): "
                    "getpeername() returns the load balancer; load the module or use 'capture' / 'saved-syn'"
                )
            return (
                f"kernel mode: module {self.module!r} is loaded, so getpeername() already returns the client; "
                "NAT64 clients are read with getsockopt(IPPROTO_IP, 4096)"
            )
        if self.mode == "saved-syn":
            return f"saved-syn mode (TCP_SAVED_SYN), kinds {kinds}: sees options on the SYN only"
        assert self.capture is not None
        ports = ",".join(map(str, self.capture.ports)) or "all"
        where = self.capture.interface or "all interfaces"
        state = "running" if self.capture.running else "not started"
        return f"capture mode on {where}, ports {ports}, kinds {kinds}: {state}"

    def stop(self) -> None:
        """Stop the capture, if any."""
        if self.capture is not None:
            self.capture.stop()

    # -- lookups --------------------------------------------------------------------------------------------------

    def lookup(self, peer: Any, local: Any, sock: socket.socket | None = None) -> tuple[str, int] | None:
        """The TOA ``(ip, port)`` for the connection ``peer`` -> ``local`` (``(host, port)`` pairs), else ``None``.

        ``sock`` is the accepted socket when the server exposes it (saved-syn and kernel NAT64 read from it).
        """
        try:
            toa = self._lookup(peer, local, sock)
        except Exception:
            return None
        return None if toa is None else toa.address

    def _lookup(self, peer: Any, local: Any, sock: socket.socket | None) -> TOA | None:
        if sock is not None and (peer is None or local is None):
            peer, local = _socket_addresses(sock)
        key = conn_key(peer, local)
        if key is None:
            return None
        if self.capture is not None:
            if not self.capture.running and not self._start_failed:
                try:
                    self.capture.start()  # late start: connections accepted before now may be missed
                except TOAConfigError as exc:
                    self._start_failed = True  # say it once, not on every request
                    _log.error("realip_toa: %s", exc)
            return self.capture.lookup_key(key)
        if sock is not None:
            return self.from_socket(sock, key)
        return REGISTRY.get(key)

    def from_socket(self, sock: socket.socket, key: ConnKey | None = None) -> TOA | None:
        """Read the TOA from an accepted socket (saved SYN, or the kernel module's NAT64 answer), remembering it
        for the connection's later requests (the saved SYN can be read only once)."""
        if key is None:
            key = conn_key(*_socket_addresses(sock))
            if key is None:
                return None
        if self.mode == "saved-syn":
            syn = savedsyn.read_saved_syn(sock)
            if syn:  # a new connection: its own SYN decides, whatever a reused 4-tuple left behind
                parsed = parse_packet(syn, self._packed)
                toa = None if parsed is None else to_toa(parsed[6])
                if toa is None:
                    REGISTRY.forget(key)
                else:
                    REGISTRY.put(key, toa)
                return toa
        elif self.mode == "kernel":
            toa = kernel.nat64_lookup(sock)
            if toa is not None:
                REGISTRY.put(key, toa)
                return toa
        else:
            return None
        return REGISTRY.get(key)  # a later request on the connection: the SYN was read already

    def lookup_asgi(self, scope: Mapping[str, Any]) -> tuple[str, int] | None:
        """The TOA for an ASGI ``http``/``websocket`` scope, by ``scope["client"]`` and ``scope["server"]``."""
        return self.lookup(scope.get("client"), scope.get("server"))

    def lookup_wsgi(self, environ: MutableMapping[str, Any]) -> tuple[str, int] | None:
        """The TOA for a WSGI request: by ``gunicorn.socket`` when present, else ``REMOTE_ADDR``/``REMOTE_PORT`` and
        ``SERVER_ADDR``/``SERVER_PORT`` (the server's socket address, when the server provides it)."""
        sock = environ.get("gunicorn.socket")
        if isinstance(sock, socket.socket):
            return self.lookup(None, None, sock)
        try:
            peer = (environ.get("REMOTE_ADDR"), int(environ.get("REMOTE_PORT", "")))
            local = (environ.get("SERVER_ADDR"), int(environ.get("SERVER_PORT", "")))
        except (TypeError, ValueError):
            return None
        return self.lookup(peer, local)


def _socket_addresses(sock: socket.socket) -> tuple[Any, Any]:
    """``(peer, local)`` of a connected socket, or ``(None, None)``."""
    try:
        return sock.getpeername(), sock.getsockname()
    except OSError:
        return None, None
