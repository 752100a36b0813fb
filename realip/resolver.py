"""The resolver: from the socket peer and one forwarding header to the real client, never trusting a forgery.

Threat model: every header is attacker input. Only the socket peer and the configured trust decide how far to
believe a header, and the header is read from the right (the end our own proxies append to) until the first
address we do not trust: that is the client. Everything left of it was written by the client and is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from functools import partial
from socket import AF_INET, inet_pton
from typing import Any, NamedTuple

from ._address import Address, parse_address
from ._headers import environ_key, forwarded_from_right, is_header_name, list_from_right
from ._trust import TrustedNetworks, compile_trust
from .errors import ConfigError

__all__ = ["Headers", "Peer", "Reason", "Resolver", "Result", "resolver_from_options"]

#: The socket peer: ``"1.2.3.4"``, ``"[::1]"``, an ASGI ``(host, port)`` pair, or ``None`` for a UNIX socket.
Peer = str | tuple[str, int] | Sequence[object] | None
#: Request headers: a mapping (keys case-insensitive) or ``(name, value)`` pairs, ``str`` or ``bytes``.
Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]

_SCHEMES = {"http": "http", "https": "https"}


class Reason(StrEnum):
    """Why the client is what it is: where the walk stopped, or why it never started."""

    #: The peer is not trusted, so no header was read: the client is the peer.
    UNTRUSTED_PEER = "untrusted-peer"
    #: The peer is trusted but sent no (non-empty) forwarding header: the client is the peer.
    NO_HEADER = "no-header"
    #: The walk reached an address it does not trust: that address is the client (the normal case).
    UNTRUSTED_ENTRY = "untrusted-entry"
    #: The walk hit an entry that is not an address: the client is the last address reached before it.
    INVALID_ENTRY = "invalid-entry"
    #: ``max_hops`` entries were examined, all trusted: the client is the last one examined.
    HOP_LIMIT = "hop-limit"
    #: Every entry was a trusted address: the client is the leftmost.
    ALL_TRUSTED = "all-trusted"
    #: Hop-count mode: the client is the ``trusted_hops``-th entry from the right.
    HOP_COUNT = "hop-count"
    #: Hop-count mode: the header held fewer than ``trusted_hops`` entries: the client is the peer.
    SHORT_CHAIN = "short-chain"
    #: A trusted Layer-4 load balancer carried the client in a TCP option (TOA), and it is not a trusted proxy.
    TOA = "toa"


class Result(NamedTuple):
    """The resolved client and how it was found. Immutable; compares by value."""

    #: The client address in canonical text (dotted quad, or RFC 5952 IPv6); ``None`` only for a UNIX-socket peer
    #: that is also the answer. A peer that is not an IP address (a test client's ``"testclient"``) is never
    #: trusted and is reported as given.
    client_ip: str | None
    #: The port written with the chosen entry, the peer's port when the client is the peer, else ``None``.
    client_port: int | None
    #: ``"peer"``, or the lowercase header name the client entry came from (or ``"toa"``).
    source: str
    #: The socket peer, normalized (``None`` for a UNIX socket).
    peer: str | None
    #: The trusted hops passed through on the way to the client, nearest first (the peer first).
    proxies: tuple[str, ...]
    #: ``"http"`` or ``"https"`` from the configured ``proto_header`` (trusted peer only), else ``None``.
    scheme: str | None
    #: Why the walk ended where it did.
    reason: Reason
    #: The socket peer's port, when known.
    peer_port: int | None = None
    #: How many header entries the walk examined (never more than ``max_hops``).
    examined: int = 0


# Plain module globals: Enum class attribute lookups cost more than the walk's other steps.
_UNTRUSTED_PEER, _NO_HEADER, _UNTRUSTED_ENTRY, _INVALID_ENTRY = (
    Reason.UNTRUSTED_PEER,
    Reason.NO_HEADER,
    Reason.UNTRUSTED_ENTRY,
    Reason.INVALID_ENTRY,
)
_HOP_LIMIT, _ALL_TRUSTED, _HOP_COUNT, _SHORT_CHAIN = (
    Reason.HOP_LIMIT,
    Reason.ALL_TRUSTED,
    Reason.HOP_COUNT,
    Reason.SHORT_CHAIN,
)
_TOA = Reason.TOA

# The C twin of Resolver._resolve_fast (realip/_speedups.c); REALIP_PURE=1 forces the pure-Python path. A build
# without a compiler has no C twin and loses only speed.
_speedups: Any = None
if os.environ.get("REALIP_PURE", "") in ("", "0"):
    try:
        from . import _speedups  # type: ignore[attr-defined, no-redef]
    except ImportError:  # pragma: no cover - depends on the build
        _speedups = None
#: ``"c"`` when the common request is resolved in C, ``"python"`` otherwise (same answers).
IMPLEMENTATION = "c" if _speedups is not None else "python"
_result = partial(tuple.__new__, Result)  # skips NamedTuple's Python-level __new__ on the hot path


class Entry(NamedTuple):
    """One chain entry as written, with the header it came from; ``params`` only for ``Forwarded`` elements."""

    source: str
    text: str | None
    params: dict[str, str] | None = None


def _header_names(header: object) -> tuple[str, ...]:
    names = (header,) if isinstance(header, str) else header
    if not isinstance(names, (tuple, list)):
        raise ConfigError(f"header={header!r} must be a header name or a tuple of names, e.g. 'x-forwarded-for'")
    if not names:
        raise ConfigError("header=() is empty: name the one header your proxy sets, e.g. 'x-forwarded-for'")
    for name in names:
        if not isinstance(name, str) or not is_header_name(name):
            raise ConfigError(f"header={header!r}: {name!r} is not a valid HTTP header name")
    if len(set(n.lower() for n in names)) != len(names):
        raise ConfigError(f"header={header!r} names a header twice")
    return tuple(name.lower() for name in names)


def _positive_int(name: str, value: object) -> int:
    if type(value) is not int or value < 1:
        raise ConfigError(f"{name}={value!r} must be an int >= 1")
    return value


class Resolver:
    """Resolves the real client address from the socket peer and one forwarding header.

    Build one per application (configuration is parsed and checked here, raising :class:`ConfigError`), then call
    :meth:`resolve` per request; it never raises on request data and examines at most ``max_hops`` entries.
    """

    __slots__ = (
        "_c_config",
        "_c_fast",
        "_check_peer",
        "_fast",
        "_lengths",
        "_limit",
        "_name_bytes",
        "_name_str",
        "_nslots",
        "_proto_slot",
        "_simple",
        "_slots",
        "_trust",
        "header",
        "max_hops",
        "proto_header",
        "resolve_common",
        "trusted_hops",
        "trusted_proxies",
    )

    def __init__(
        self,
        trusted_proxies: Iterable[str] | None = None,
        header: str | tuple[str, ...] = "x-forwarded-for",
        trusted_hops: int | None = None,
        max_hops: int = 20,
        proto_header: str | None = None,
    ) -> None:
        self.max_hops: int = _positive_int("max_hops", max_hops)
        if trusted_hops is not None:
            _positive_int("trusted_hops", trusted_hops)
            if trusted_hops > max_hops:
                raise ConfigError(f"trusted_hops={trusted_hops} is greater than max_hops={max_hops}: raise max_hops")
        self.trusted_hops: int | None = trusted_hops
        #: The header names forming the chain, lowercase, in chain order (left to right).
        self.header: tuple[str, ...] = _header_names(header)
        if proto_header is not None and (not isinstance(proto_header, str) or not is_header_name(proto_header)):
            raise ConfigError(f"proto_header={proto_header!r} is not a valid HTTP header name")
        self.proto_header: str | None = proto_header.lower() if proto_header is not None else None
        # Hop mode with no trusted_proxies leaves the peer unchecked; CIDR mode defaults to loopback only.
        self._check_peer = not (trusted_hops is not None and trusted_proxies is None)
        entries = ("loopback",) if trusted_proxies is None else tuple(trusted_proxies)
        if isinstance(trusted_proxies, (str, bytes)):
            entries = trusted_proxies  # type: ignore[assignment]  # compile_trust explains the mistake
        self._trust: TrustedNetworks = compile_trust(entries)
        #: The trusted networks after merging (for display), plus "unix" when UNIX-socket peers are trusted.
        self.trusted_proxies: tuple[str, ...] = self._trust.networks + (("unix",) if self._trust.unix else ())
        # Header name -> slot, in str and bytes forms, so a request's headers are matched with one dict lookup.
        names = self.header
        if self.proto_header is not None and self.proto_header not in names:
            names += (self.proto_header,)
        self._slots: dict[str | bytes, int] = {}
        for slot, name in enumerate(names):
            self._slots[name] = slot
            self._slots[name.encode("ascii")] = slot
        self._nslots = len(names)
        self._lengths = frozenset(len(name) for name in names)
        self._limit = self.max_hops + 1  # entries split off per request: one more than examined, to see the limit
        # One list header and no proto header: the common deployment, walked without building Entry objects.
        self._simple = len(self.header) == 1 and self.header[0] != "forwarded" and self.proto_header is None
        # The fast path (ASGI-style header pairs, one list header, CIDR mode) matches the name in its two forms.
        self._fast = self._simple and trusted_hops is None and self._check_peer
        self._name_str = self.header[0]
        self._name_bytes = self.header[0].encode("ascii")
        # What the C twin needs, packed once (see realip/_speedups.c): it copies the same tables the Python path reads.
        # None when there is no C twin or the configuration is not one it handles.
        self._c_config: tuple[Any, ...] | None = (
            self._name_bytes,
            self._name_str,
            self._trust.octets,
            self._trust.tables[0],
            self.max_hops,
            Result,
            (_UNTRUSTED_PEER, _NO_HEADER, _UNTRUSTED_ENTRY, _INVALID_ENTRY, _HOP_LIMIT, _ALL_TRUSTED, _TOA),
            "peer",
            self._trust.tables[1],
            environ_key(self._name_str),
            "toa",
        )
        if _speedups is None or not self._fast:
            self._c_config = None
        #: The C twin compiled for this configuration (``resolve``, ``resolve_toa``, ``rewrite_scope``,
        #: ``rewrite_environ``), or None.
        self._c_fast: Any = None if self._c_config is None else _speedups.Fast(self._c_config)
        #: ``(peer, headers) -> Result | None``: the C twin bound to this configuration, for adapters that want the
        #: common request without a Python frame in between (None: not built, or not a configuration it handles).
        #: ``None`` from the call means "use :meth:`resolve`".
        self.resolve_common: Callable[[Peer, Headers], Result | None] | None = (
            None if self._c_fast is None else self._c_fast.resolve
        )
        self._proto_slot = -1 if self.proto_header is None else names.index(self.proto_header)

    @property
    def checks_peer(self) -> bool:
        """False only in hop-count mode without ``trusted_proxies``, where the peer is not checked."""
        return self._check_peer

    def __repr__(self) -> str:
        return (
            f"Resolver(trusted_proxies={self.trusted_proxies!r}, header={self.header!r}, "
            f"trusted_hops={self.trusted_hops!r}, max_hops={self.max_hops!r}, proto_header={self.proto_header!r})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Resolver:
        """Build a resolver from ``REALIP_*`` environment variables; keyword arguments override them."""
        from .env import ENV_VARIABLES, environ_value, resolver_options_from_env

        from_env = resolver_options_from_env(environ)
        options = {**from_env, **overrides}
        try:
            return cls(**options)  # type: ignore[arg-type]
        except ConfigError as error:
            for variable, option in ENV_VARIABLES.items():
                if option in from_env and option not in overrides and str(error).startswith(option):
                    raise ConfigError(f"{variable}={environ_value(environ, variable)!r}: {error}") from None
            raise

    # -- per request -------------------------------------------------------------------------------------------
    # The hot path avoids exceptions, netaddr objects and per-entry allocations beyond one tuple per parsed address.

    def _collect(self, headers: Headers) -> list[list[str]] | None:
        """The values of the configured headers, per slot, in arrival order; ``None`` when none is present."""
        slots, lengths = self._slots, self._lengths
        found: list[list[str]] | None = None
        items = headers if type(headers) is list else headers.items() if hasattr(headers, "items") else headers
        for name, value in items:
            slot = slots.get(name)
            if slot is None:
                if len(name) not in lengths:  # cheap reject before lowercasing: most headers differ in length
                    continue
                slot = slots.get(name.lower())
                if slot is None:
                    continue
            if found is None:
                found = [[]] if self._nslots == 1 else [[] for _ in range(self._nslots)]
            found[slot].append(value if type(value) is str else value.decode("latin-1"))  # type: ignore[union-attr]
        return found

    def chain_from_right(self, found: list[list[str]], limit: int) -> list[Entry]:
        """Up to ``limit`` non-empty chain entries, rightmost first, across every configured header and line."""
        entries: list[Entry] = []
        for slot in range(len(self.header) - 1, -1, -1):
            name = self.header[slot]
            for value in reversed(found[slot]):
                need = limit - len(entries)
                if name == "forwarded":
                    for params in forwarded_from_right(value, need):
                        entries.append(Entry(name, None if params is None else params.get("for"), params))
                else:
                    entries.extend(Entry(name, text) for text in list_from_right(value, need))
                if len(entries) >= limit:
                    return entries
        return entries

    def is_trusted(self, address: Address) -> bool:
        """Whether a parsed address is in the trusted networks."""
        return self._trust.contains(address.value, address.v6)

    def parse_peer(self, peer: Peer) -> tuple[str | None, int | None, Address | None]:
        """The peer's text, port and parsed address (``None`` when it is not an IP address or a UNIX socket)."""
        if peer is None:
            return None, None, None
        if isinstance(peer, str):
            host: object = peer
            port: object = None
        else:
            try:
                host, port = peer[0], peer[1]
            except (TypeError, IndexError, KeyError):
                return str(peer), None, None
        if type(port) is not int:
            port = None
        address = parse_address(host) if isinstance(host, str) else None
        if address is None:
            return (None if host is None else str(host)), port, None
        return address.ip, port if port is not None else address.port, address

    def resolve(self, peer: Peer, headers: Headers, toa: Peer = None) -> Result:
        """Resolve the client for one request. Never raises on request data; bad entries end the walk safely.

        ``toa`` is the client address (and port) that a Layer-4 load balancer carried in a TCP option for this
        connection (see ``realip_toa``). It is believed only when the socket peer is a trusted proxy (the load
        balancer); it then takes the peer's place: an untrusted TOA address is the client (source ``"toa"``), a
        trusted one starts the ordinary header walk.
        """
        if toa is None:
            if self.resolve_common is not None:  # the C twin takes the common request, or says None
                result = self.resolve_common(peer, headers)
                if result is not None:
                    return result
            # Without the C twin, its Python reference does the same job; after a C "None" it would only repeat work.
            elif self._fast and type(peer) is tuple and len(peer) == 2 and type(headers) is list:
                result = self._resolve_fast(peer[0], peer[1], headers)
                if result is not None:
                    return result
        elif self._c_fast is not None:  # the C twin takes a trusted peer's untrusted TOA address, or says None
            found: Result | None = self._c_fast.resolve_toa(peer, toa)
            if found is not None:
                return found
        if type(peer) is tuple and len(peer) == 2 and type(peer[0]) is str:  # ASGI's (host, port): inlined
            host: str = peer[0]
            peer_port: int | None = peer[1] if type(peer[1]) is int else None
            peer_address = parse_address(host)
            if peer_address is None:
                peer_ip: str | None = host
            else:
                peer_ip = peer_address[0]
                if peer_port is None:
                    peer_port = peer_address[1]
        else:
            peer_ip, peer_port, peer_address = self.parse_peer(peer)
        if not self._check_peer:
            peer_trusted = True
        elif peer_address is not None:
            peer_trusted = self._trust.contains(peer_address[3], peer_address[2])
        else:
            peer_trusted = peer is None and self._trust.unix
        if not peer_trusted:
            return _result((peer_ip, peer_port, "peer", peer_ip, (), None, _UNTRUSTED_PEER, peer_port, 0))
        if toa is not None and self._check_peer:
            toa_ip, toa_port, toa_address = self.parse_peer(toa)
            if toa_address is not None:
                proxies = () if peer_ip is None else (peer_ip,)
                if not self._trust.contains(toa_address[3], toa_address[2]):
                    return _result((toa_ip, toa_port, "toa", peer_ip, proxies, None, _TOA, peer_port, 0))
                return self._walk(peer_ip, peer_port, toa_ip, toa_port, "toa", headers)
        return self._walk(peer_ip, peer_port, peer_ip, peer_port, "peer", headers)

    def _resolve_fast(
        self, host: object, port: object, headers: list[tuple[str | bytes, str | bytes]]
    ) -> Result | None:
        """The common request, in one function: an IPv4 ``(host, port)`` peer, ASGI-style header pairs, one list
        header. Returns ``None`` (before doing any work twice) for anything else, which the general path handles.

        This is :meth:`_walk` specialised, with the IPv4 parse and the trust test inlined; the property tests check
        that both paths give the same Result for every input.
        """
        if type(host) is not str or ":" in host:
            return None
        try:  # inet_pton takes only the canonical dotted quad: spaces, quotes and the like go the general way
            value = int.from_bytes(inet_pton(AF_INET, host), "big")
        except (OSError, ValueError):
            return None
        peer_ip = host
        peer_port = port if type(port) is int else None
        trust = self._trust
        octets = trust.octets
        octet = octets[value >> 24]
        if octet == 0 or (octet == 2 and not trust.contains(value, False)):
            return _result((peer_ip, peer_port, "peer", peer_ip, (), None, _UNTRUSTED_PEER, peer_port, 0))
        v4_table, v6_table = trust.tables

        name_bytes, name_str = self._name_bytes, self._name_str
        length = len(name_str)
        found: str | bytes | None = None
        for name, header_value in headers:
            if len(name) == length and (
                name == name_bytes or name == name_str or name.lower() in (name_bytes, name_str)
            ):
                if found is not None:
                    return None  # repeated lines: the general path joins them
                found = header_value
        if found is None:
            return _result((peer_ip, peer_port, "peer", peer_ip, (), None, _NO_HEADER, peer_port, 0))
        text_value = found if type(found) is str else found.decode("latin-1")  # type: ignore[union-attr]
        parts = text_value.rsplit(",", self._limit)
        if len(parts) > self._limit:
            return None  # a long header: the general path bounds the work
        max_hops = self.max_hops
        client_ip: str = peer_ip
        client_port = peer_port
        passed = [peer_ip]
        reason = _ALL_TRUSTED
        examined = 0
        source = "peer"
        for part in reversed(parts):
            text = part.strip(" \t")
            if not text:
                continue
            if examined == max_hops:
                reason = _HOP_LIMIT
                break
            examined += 1
            if ":" not in text:
                try:  # the plain dotted quad, in C
                    value = int.from_bytes(inet_pton(AF_INET, text), "big")
                    client_ip, client_port, v6 = text, None, False
                    address = None
                except (OSError, ValueError):  # quoted, or not an address: the general parse decides
                    address = parse_address(text) or ()
            else:  # a port or IPv6: the general parse, without an exception
                address = parse_address(text) or ()
            if address is not None:
                if not address:
                    reason = _INVALID_ENTRY
                    break
                client_ip, client_port, v6, value = address
            source = name_str
            if not v6:
                octet = octets[value >> 24]
                if octet == 1:
                    passed.append(client_ip)
                    continue
                if octet == 0:
                    reason = _UNTRUSTED_ENTRY
                    break
            for shift, keys in v6_table if v6 else v4_table:
                if value >> shift in keys:
                    break
            else:
                reason = _UNTRUSTED_ENTRY
                break
            passed.append(client_ip)
        if examined == 0:
            return _result((peer_ip, peer_port, "peer", peer_ip, (), None, _NO_HEADER, peer_port, 0))
        if reason is not _UNTRUSTED_ENTRY:
            passed.pop()  # the client is the last trusted address reached, not a hop passed through
        return _result((client_ip, client_port, source, peer_ip, tuple(passed), None, reason, peer_port, examined))

    def _walk(
        self,
        peer_ip: str | None,
        peer_port: int | None,
        start_ip: str | None,
        start_port: int | None,
        start_source: str,
        headers: Headers,
    ) -> Result:
        """The header walk from a trusted start: the peer, or a trusted TOA address standing in for it."""
        found = self._collect(headers)
        if self.trusted_hops is not None:
            return self._resolve_hops(found, peer_ip, peer_port, start_ip, start_port, start_source)
        simple = self._simple
        if found is None:
            entries: Sequence[str | None] = ()
        elif simple:
            values = found[0]
            if len(values) == 1:
                entries = list_from_right(values[0], self._limit)
            else:
                entries = [text for value in reversed(values) for text in list_from_right(value, self._limit)]
        else:
            full = self.chain_from_right(found, self._limit)
            entries = [entry.text for entry in full]
        if not entries:
            scheme = self._scheme(found, (), -1) if self._proto_slot >= 0 else None
            before = (peer_ip,) if start_source == "toa" and peer_ip is not None else ()
            return _result((start_ip, start_port, start_source, peer_ip, before, scheme, _NO_HEADER, peer_port, 0))

        contains = self._trust.contains
        max_hops = self.max_hops
        client_ip, client_port, client_index = start_ip, start_port, -1
        passed: list[str] = [] if peer_ip is None else [peer_ip]
        if start_source == "toa" and start_ip is not None:
            passed.append(start_ip)
        reason = _ALL_TRUSTED
        examined = 0
        for text in entries:
            if examined == max_hops:
                reason = _HOP_LIMIT
                break
            address = parse_address(text) if text is not None else None
            examined += 1
            if address is None:
                reason = _INVALID_ENTRY
                break
            client_ip, client_port, client_index = address[0], address[1], examined - 1
            if not contains(address[3], address[2]):
                reason = _UNTRUSTED_ENTRY
                break
            passed.append(client_ip)
        if reason is not _UNTRUSTED_ENTRY and passed:
            passed.pop()  # the client is the last trusted address reached, not a hop passed through
        if client_index < 0:
            source = start_source
        elif simple:
            source = self.header[0]
        else:
            source = full[client_index].source
        scheme = None
        if self._proto_slot >= 0:
            scheme = self._scheme(found, () if simple else full, client_index)
        return _result((client_ip, client_port, source, peer_ip, tuple(passed), scheme, reason, peer_port, examined))

    def _resolve_hops(
        self,
        found: list[list[str]] | None,
        peer_ip: str | None,
        peer_port: int | None,
        start_ip: str | None,
        start_port: int | None,
        start_source: str,
    ) -> Result:
        hops = self.trusted_hops
        assert hops is not None  # only called in hop mode; not a settings check
        entries = self.chain_from_right(found, hops) if found is not None else []
        reason = _HOP_COUNT
        address = None
        if len(entries) < hops:
            reason = _NO_HEADER if not entries else _SHORT_CHAIN
        else:
            text = entries[-1].text
            address = parse_address(text) if text is not None else None
            if address is None:
                reason = _INVALID_ENTRY
        scheme = None
        if self._proto_slot >= 0:
            scheme = self._scheme(found, entries, len(entries) - 1 if address else -1)
        proxies: tuple[str, ...] = () if peer_ip is None else (peer_ip,)
        if start_source == "toa" and start_ip is not None:
            proxies += (start_ip,)
        if address is None:
            passed = proxies[:-1] if proxies else ()
            return _result(
                (start_ip, start_port, start_source, peer_ip, passed, scheme, reason, peer_port, len(entries))
            )
        return _result(
            (address.ip, address.port, entries[-1].source, peer_ip, proxies, scheme, reason, peer_port, len(entries))
        )

    def _scheme(self, found: list[list[str]] | None, entries: Sequence[Entry], index: int) -> str | None:
        """The scheme from ``proto_header`` for the client at ``entries[index]`` (``-1``: the peer).

        Forwarded carries ``proto=`` in the client's own element. A list header (X-Forwarded-Proto) is taken at the
        client's position when it has exactly one value per chain entry (every proxy appended both), else its
        rightmost value, the one our peer wrote.
        """
        if found is None:
            return None
        proto = self.proto_header
        if proto == "forwarded" and proto in self.header:
            if index < 0:
                entries = self.chain_from_right(found, 1)
                index = 0
            params = entries[index].params if entries else None
            return _scheme_value(params.get("proto") if params else None)
        values = found[self._proto_slot]
        if proto == "forwarded":
            rightmost = [params for value in values[-1:] for params in forwarded_from_right(value, 1)]
            return _scheme_value(rightmost[0].get("proto") if rightmost and rightmost[0] else None)
        protos = [text for value in reversed(values) for text in list_from_right(value, len(value) + 1)]
        if not protos:
            return None
        if index >= 0 and len(protos) == self._chain_length(found):
            return _scheme_value(protos[index])
        return _scheme_value(protos[0])

    def _chain_length(self, found: list[list[str]]) -> int:
        """How many non-empty entries the whole chain holds (linear; only needed to align the proto header)."""
        total = 0
        for name, values in zip(self.header, found, strict=False):  # found may hold the proto slot too
            split = forwarded_from_right if name == "forwarded" else list_from_right
            total += sum(len(split(value, len(value) + 1)) for value in values)
        return total


def _scheme_value(value: str | None) -> str | None:
    """``http`` or ``https`` (case-insensitive, trimmed); anything else is ignored."""
    return _SCHEMES.get(value.strip(" \t").lower()) if value else None


def resolver_from_options(owner: str, resolver: Resolver | None, options: Mapping[str, object]) -> Resolver:
    """The resolver an adapter was given: ``resolver=``, else one built from the options, else from ``REALIP_*``.

    Passing both is a ``TypeError`` (which would win is not obvious); bad options raise :class:`ConfigError`.
    """
    if resolver is not None and options:
        given = ", ".join(sorted(options))
        raise TypeError(f"{owner}: pass either resolver= or resolver options ({given}), not both")
    if resolver is None:
        return Resolver(**options) if options else Resolver.from_env()  # type: ignore[arg-type]
    if not isinstance(resolver, Resolver):
        raise TypeError(f"{owner}: resolver={resolver!r} is not a realip.Resolver")
    return resolver
