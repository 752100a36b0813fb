"""A bounded, expiring table from a connection's 4-tuple to what Layer 4 said about it (thread-safe): the TOA seen
for it, or the PROXY protocol header it began with."""

from __future__ import annotations

import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["ConnKey", "ConnTable", "conn_key"]

#: ``(peer packed ip, peer port, local packed ip, local port)``, IPv4-mapped IPv6 folded to IPv4.
ConnKey = tuple[bytes, int, bytes, int]
V = TypeVar("V")


_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
_inet_pton, _AF_INET, _AF_INET6 = socket.inet_pton, socket.AF_INET, socket.AF_INET6


def _packed(host: str) -> bytes:
    """The packed address of ``host`` text, IPv4-mapped IPv6 (a dual-stack socket's view) folded to IPv4.

    Raises ``OSError`` for text that is not an address.
    """
    try:
        return _inet_pton(_AF_INET, host)
    except OSError:
        pass
    if host.startswith("["):
        host = host[1:-1] if host.endswith("]") else host
    packed = _inet_pton(_AF_INET6, host.partition("%")[0])
    return packed[12:] if packed.startswith(_MAPPED_PREFIX) else packed


def conn_key(peer: Sequence[object] | None, local: Sequence[object] | None) -> ConnKey | None:
    """The table key for a connection from ``(host, port)`` pairs as servers report them; ``None`` if unusable."""
    if peer is None or local is None or len(peer) < 2 or len(local) < 2:
        return None
    try:
        peer_host, peer_port, local_host, local_port = peer[0], peer[1], local[0], local[1]
        if not (isinstance(peer_host, str) and isinstance(local_host, str)):
            return None
        return (_packed(peer_host), int(peer_port), _packed(local_host), int(local_port))  # type: ignore[call-overload]
    except (OSError, ValueError, TypeError):
        return None


class ConnTable(Generic[V]):
    """At most ``max_entries`` connections, each kept ``ttl`` seconds after it was last stored or read."""

    def __init__(self, max_entries: int = 65536, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic):
        if max_entries < 1 or ttl <= 0:
            raise ValueError("ConnTable needs max_entries >= 1 and ttl > 0")
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[ConnKey, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def after_fork(self) -> None:
        """A new lock for a forked child (another thread may have held the old one at the fork)."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: ConnKey, value: V) -> None:
        """Remember ``value`` for ``key`` (the newest entry); the oldest entries go when the table is full."""
        with self._lock:
            entries = self._entries
            entries[key] = (value, self._clock())
            entries.move_to_end(key)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)

    def forget(self, key: ConnKey) -> None:
        """Drop ``key`` (a new connection reuses the 4-tuple, or the connection closed)."""
        with self._lock:
            self._entries.pop(key, None)

    def put_if_room(self, key: ConnKey, value: V) -> bool:
        """Remember ``value`` for ``key`` unless the table is full of other connections (then ``False``): for
        entries that must not be evicted while their connection lives."""
        with self._lock:
            entries = self._entries
            if key not in entries and len(entries) >= self.max_entries:
                return False
            entries[key] = (value, self._clock())
            return True

    def get(self, key: ConnKey) -> V | None:
        """The value for ``key`` if present and fresh (reading it keeps it fresh), else ``None``."""
        entry = self._entries.get(key)  # unlocked fast miss: a dict read is atomic
        if entry is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            now = self._clock()
            if now - entry[1] > self.ttl:
                del self._entries[key]
                return None
            if now - entry[1] > 1.0:  # refresh at most once a second: keeps hot lookups cheap
                self._entries[key] = (entry[0], now)
                self._entries.move_to_end(key)
            return entry[0]

    def expire(self) -> int:
        """Drop every stale entry; return how many went."""
        with self._lock:
            cutoff = self._clock() - self.ttl
            stale = [key for key, (_toa, seen) in self._entries.items() if seen < cutoff]
            for key in stale:
                del self._entries[key]
            return len(stale)
