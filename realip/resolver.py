"""The resolver: from the socket peer and the forwarding headers to the real client, never trusting a forgery.

Threat model: every header is attacker input. Only the socket peer and the configured trust decide how far to
believe a header, and the header is read from the right (the end our own proxies append to) until the first
address we do not trust: that is the client. Everything left of it was written by the client and is ignored.
The walk itself is :mod:`realip._walk`; this module checks the configuration, finds the headers in a request and
builds the :class:`Result`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from . import _walk
from ._chain import Hop, chain_text, parse_chain
from ._context import (
    FORWARDING_HEADERS,
    HostPolicy,
    _forwarded_element,
    host_text,
    host_value,
    log_refused_host,
    port_value,
    prefix_value,
)
from ._headers import forwarded_from_right, is_header_name, list_from_right
from ._trust import TrustedNetworks, compile_trust
from .errors import ConfigError
from .options import MAX_HOPS_LIMIT

__all__ = ["RESERVED_SOURCES", "Headers", "Peer", "Reason", "Resolver", "Result", "resolver_from_options"]

logger = logging.getLogger("realip")

#: The socket peer: ``"1.2.3.4"``, ``"[::1]"``, an ASGI ``(host, port)`` pair, or ``None`` for a UNIX socket.
Peer = str | tuple[str, int] | Sequence[object] | None
#: Request headers: a mapping (keys in any case) or ``(name, value)`` pairs, as ``str``, ``bytes`` or bytes-like.
Headers = Mapping[Any, Any] | Iterable[tuple[Any, Any]]

#: ``Result.source`` values that are not header names, so no header may be called by them.
RESERVED_SOURCES = ("peer", "toa", "proxy-protocol")

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
    #: A Layer-4 load balancer (``layer4_proxies``) carried the client (TOA or PROXY protocol), and that client is
    #: not a trusted proxy: it is the client.
    LAYER4 = "layer4"
    #: The peer is a Layer-4 load balancer but carried no client for this connection (a health check, a LOCAL PROXY
    #: header, the migrate window): the client is the balancer. Its headers are the client's bytes, so none is read.
    NO_LAYER4 = "no-layer4"
    #: ``chain`` mode: the hop next to the client names a header it writes the client into (a provider's
    #: ``CF-Connecting-IP``), and that header held one address: it is the client.
    PROVIDER_HEADER = "provider-header"


class Result(NamedTuple):
    """The resolved client and how it was found. Immutable; compares by value."""

    #: The client address in canonical text (dotted quad, or RFC 5952 IPv6); ``None`` only for a UNIX-socket peer
    #: that is also the answer. A peer that is not an IP address (a test client's ``"testclient"``) is never
    #: trusted and is reported as given.
    client_ip: str | None
    #: The port written with the chosen entry, the peer's port when the client is the peer, else ``None``.
    client_port: int | None
    #: ``"peer"``, the lowercase header name the client entry came from, or the Layer-4 kind that carried it
    #: (``"toa"``, ``"proxy-protocol"``).
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
    #: The host the client asked for, from ``host_header`` at the client's own hop (lowercase, IPv6 in brackets,
    #: no port), when configured, valid and allowed; else ``None``.
    host: str | None = None
    #: The port the client connected to, from ``port_header`` (else the host's ``:port``), when configured; else
    #: ``None``.
    server_port: int | None = None
    #: The path prefix the proxy took off (``"/app"``; ``""`` for the root), from ``prefix_header``; else ``None``.
    prefix: str | None = None


# The walk's ends, as reasons. Plain module globals: Enum attribute lookups cost more than the walk's other steps.
_REASONS = {
    "untrusted": Reason.UNTRUSTED_ENTRY,
    "invalid": Reason.INVALID_ENTRY,
    "limit": Reason.HOP_LIMIT,
    "end": Reason.ALL_TRUSTED,
    "none": Reason.NO_HEADER,
    "hops": Reason.HOP_COUNT,
    "short": Reason.SHORT_CHAIN,
    "provider": Reason.PROVIDER_HEADER,
}
_UNTRUSTED_PEER, _NO_HEADER = Reason.UNTRUSTED_PEER, Reason.NO_HEADER
_LAYER4, _NO_LAYER4 = Reason.LAYER4, Reason.NO_LAYER4
_result = tuple.__new__  # builds a Result without NamedTuple's Python-level __new__ (the hot path)
_warned_trust: set[tuple[str, ...]] = set()
_REMEMBERED_NAMES = 256  # header spellings (and context values) a Resolver remembers
_REMEMBERED_LENGTH = 256  # the longest context value remembered
_MISSING = object()


def _context_header(option: str, name: object) -> str | None:
    """A context header option: ``None`` or a valid header name, lowercased."""
    if name is None:
        return None
    if not isinstance(name, str) or not is_header_name(name):
        raise ConfigError(f"{option}={name!r} is not a valid HTTP header name", option)
    return name.lower()


def _header_names(header: object) -> tuple[str, ...]:
    names = (header,) if isinstance(header, str) else header
    if not isinstance(names, (tuple, list)):
        raise ConfigError(
            f"header={header!r} must be a header name or a tuple of names, e.g. 'x-forwarded-for'", "header"
        )
    if not names:
        raise ConfigError("header=() is empty: name the one header your proxy sets, e.g. 'x-forwarded-for'", "header")
    for name in names:
        if not isinstance(name, str) or not is_header_name(name):
            raise ConfigError(f"header={header!r}: {name!r} is not a valid HTTP header name", "header")
        if name.lower() in RESERVED_SOURCES:
            raise ConfigError(
                f"header={header!r}: {name!r} is what Result.source says when the client is not from a header "
                f"({', '.join(RESERVED_SOURCES)}), so it cannot name one: use the header's real name",
                "header",
            )
    if len(set(n.lower() for n in names)) != len(names):
        raise ConfigError(f"header={header!r} names a header twice", "header")
    return tuple(name.lower() for name in names)


def _hops(name: str, value: object) -> int:
    if type(value) is not int or not 1 <= value <= MAX_HOPS_LIMIT:
        raise ConfigError(f"{name}={value!r} must be a whole number from 1 to {MAX_HOPS_LIMIT}", name)
    return value


class Resolver:
    """Resolves the real client address from the socket peer and the forwarding headers.

    Build one per application (configuration is parsed and checked here, raising :class:`ConfigError`), then call
    :meth:`resolve` per request; it never raises on request data and examines at most ``max_hops`` entries.
    """

    __slots__ = (
        "_balancers",
        "_client_slots",
        "_context_slots",
        "_contextual",
        "_entry",
        "_hosts",
        "_layers",
        "_names",
        "_networks",
        "_nothing",
        "_nslots",
        "_order",
        "_parsed",
        "_plain",
        "_slots",
        "_trust",
        "_unix",
        "_walk",
        "allowed_hosts",
        "chain",
        "header",
        "host_header",
        "layer4_proxies",
        "max_hops",
        "port_header",
        "prefix_header",
        "proto_header",
        "read_headers",
        "strip_untrusted",
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
        layer4_proxies: Iterable[str] | None = None,
        host_header: str | None = None,
        port_header: str | None = None,
        prefix_header: str | None = None,
        allowed_hosts: Iterable[str] | None = None,
        strip_untrusted: bool = False,
        chain: str | Sequence[str] | None = None,
    ) -> None:
        self.max_hops: int = _hops("max_hops", max_hops)
        #: The chain of named hops, from the client inwards (``None``: ``trusted_proxies`` alone decides).
        self.chain: tuple[Hop, ...] | None = None
        if chain is not None:
            for option, value in (("trusted_proxies", trusted_proxies), ("trusted_hops", trusted_hops)):
                if value is not None:
                    raise ConfigError(
                        f"chain and {option} are both given: the chain names every trusted hop, in order; move "
                        f"{option}'s proxies into a hop (e.g. 'ingress=10.0.0.0/8') and drop {option}",
                        "chain",
                    )
            self.chain = parse_chain(chain)
            for hop in self.chain:
                if hop.header is not None and hop.header in _header_names(header):
                    raise ConfigError(
                        f"chain: hop {hop.name!r} writes the client into {hop.header!r}, which header= names as the "
                        "chain every proxy appends to: a provider's client header is read apart from it",
                        "chain",
                    )
            trusted_proxies = [entry for hop in self.chain for entry in hop.entries]
        if trusted_hops is not None:
            _hops("trusted_hops", trusted_hops)
            if trusted_hops > max_hops:
                raise ConfigError(
                    f"trusted_hops={trusted_hops} is greater than max_hops={max_hops}: raise max_hops", "trusted_hops"
                )
            if trusted_proxies is None:
                raise ConfigError(
                    f"trusted_hops={trusted_hops} (hop-count mode) also needs trusted_proxies, the peers allowed to "
                    "send the header: name them (e.g. trusted_proxies=['10.0.0.0/8']), or write "
                    "trusted_proxies=['any'] to accept a header from every peer on purpose",
                    "trusted_hops",
                )
        self.trusted_hops: int | None = trusted_hops
        #: The header names forming the chain, lowercase, in chain order (left to right).
        self.header: tuple[str, ...] = _header_names(header)
        #: The headers the client's own hop writes the scheme, host, port and path prefix into (``None``: not read).
        self.proto_header: str | None = _context_header("proto_header", proto_header)
        self.host_header: str | None = _context_header("host_header", host_header)
        self.port_header: str | None = _context_header("port_header", port_header)
        self.prefix_header: str | None = _context_header("prefix_header", prefix_header)
        if self.prefix_header == "forwarded":
            raise ConfigError(
                "prefix_header='forwarded': RFC 7239 has no prefix parameter; name the header your proxy writes it "
                "into, e.g. 'x-forwarded-prefix'",
                "prefix_header",
            )
        self._hosts = HostPolicy(allowed_hosts)
        #: The hosts a forwarded host may name (``None``: any).
        self.allowed_hosts: tuple[str, ...] | None = self._hosts.entries
        if type(strip_untrusted) is not bool:
            raise ConfigError(f"strip_untrusted={strip_untrusted!r} must be True or False", "strip_untrusted")
        #: Whether the adapters remove the forwarding headers realip did not believe before the app sees them.
        self.strip_untrusted = strip_untrusted
        entries = ("loopback",) if trusted_proxies is None else trusted_proxies
        try:
            self._networks: TrustedNetworks = compile_trust(entries)
        except ConfigError as error:
            raise ConfigError(str(error), "chain" if self.chain else "trusted_proxies") from None
        #: What is really trusted: the networks after merging, plus "unix" when UNIX-socket peers are.
        self.trusted_proxies: tuple[str, ...] = self._networks.networks + (("unix",) if self._networks.unix else ())
        self._warn_if_everyone_is_trusted()
        #: The Layer-4 load balancers (TOA, PROXY protocol) whose client address is believed, or ``()``.
        self.layer4_proxies: tuple[str, ...] = ()
        self._balancers: Any = None
        if layer4_proxies is not None:
            try:
                balancers = compile_trust(layer4_proxies)
            except ConfigError as error:
                raise ConfigError(str(error).replace("trusted_proxies", "layer4_proxies"), "layer4_proxies") from None
            self.layer4_proxies = balancers.networks + (("unix",) if balancers.unix else ())
            if self.layer4_proxies:
                self._balancers = (_walk.trust_for(balancers).entry, balancers.unix)
        self._use(_walk.trust_for(self._networks))
        self._unix = self._networks.unix
        # Header name -> slot (the chain headers, then the proto header), in str and bytes forms, so a request's
        # headers are matched with one dict lookup; spellings seen in requests are added (-1: not ours).
        names = self.header
        contexts = (self.proto_header, self.host_header, self.port_header, self.prefix_header)
        hops = self.chain[::-1] if self.chain else ()  # innermost first, as the walk meets them
        for name in (*contexts, *(hop.header for hop in hops)):
            if name is not None and name not in names:
                names += (name,)
        self._names = names
        #: Every header a request is read for: the chain, then the proto, host, port and prefix headers.
        self.read_headers: tuple[str, ...] = names
        self._slots: dict[Any, int] = {}
        self._parsed: dict[tuple[Any, str], Any] = {}  # remembered context values (see _parse)
        for slot, name in enumerate(names):
            self._slots[name] = slot
            self._slots[name.encode("ascii")] = slot
        self._nslots = len(names)
        self._nothing: list[list[Any]] = [[] for _ in names]  # never changed: what no header is walked as
        #: ``(slot, header)`` for the chain headers, rightmost first: the order the walk reads them in.
        self._order: tuple[tuple[int, str], ...] = tuple(reversed(tuple(enumerate(self.header))))
        #: Slot of the proto, host, port and prefix headers (-1: not read).
        self._context_slots = tuple(-1 if name is None else names.index(name) for name in contexts)
        self._contextual = any(name is not None for name in contexts)
        #: ``chain`` mode: each hop's walker and whether it trusts a UNIX socket, innermost first (``None``: off).
        self._layers: tuple[tuple[Any, ...], tuple[bool, ...]] | None = None
        #: Slot of the header each hop writes the client into, innermost first (-1: none).
        self._client_slots: tuple[int, ...] = ()
        if hops:
            walkers = tuple(_walk.trust_for(hop.networks) for hop in hops)
            self._layers = (walkers, tuple(hop.networks.unix for hop in hops))
            self._client_slots = tuple(-1 if hop.header is None else names.index(hop.header) for hop in hops)
        # One list header, no proto header, CIDR mode: the common configuration, walked in one kernel call per line.
        self._plain = len(names) == 1 and names[0] != "forwarded" and trusted_hops is None and not hops

    def _use(self, trust: Any) -> None:
        """Walk with ``trust``: ``realip._kernel.Trust``, or its pure twin (tests compare the two)."""
        self._trust, self._entry, self._walk = trust, trust.entry, trust.walk

    def _warn_if_everyone_is_trusted(self) -> None:
        everyone = self._networks.trusts_everyone
        if everyone is None or self.trusted_proxies in _warned_trust:
            return
        _warned_trust.add(self.trusted_proxies)
        logger.warning(
            "realip: trusted_proxies trusts every %s address, so any client that reaches the app directly can choose "
            "the address realip reports. That is right only when nothing but your own proxies can connect; "
            "otherwise list the proxies' networks.",
            everyone,
        )

    def __repr__(self) -> str:
        return (
            f"Resolver(trusted_proxies={self.trusted_proxies!r}, header={self.header!r}, "
            f"trusted_hops={self.trusted_hops!r}, max_hops={self.max_hops!r}, proto_header={self.proto_header!r}, "
            f"layer4_proxies={self.layer4_proxies!r}"
            + (f", chain={self.chain_text()!r}" if self.chain else "")
            + "".join(
                f", {name}={getattr(self, name)!r}"
                for name in ("host_header", "port_header", "prefix_header", "allowed_hosts", "strip_untrusted")
                if getattr(self, name) not in (None, False)
            )
            + ")"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Resolver:
        """Build a resolver from ``REALIP_*`` environment variables; keyword arguments override them."""
        from .env import ENV_VARIABLES, environ_value, name_setting, resolver_options_from_env

        from_env = resolver_options_from_env(environ)
        try:
            return cls(**{**from_env, **overrides})  # type: ignore[arg-type]
        except ConfigError as error:
            written = {
                option: f"{variable}={environ_value(environ, variable)!r}"
                for variable, option in ENV_VARIABLES.items()
                if option in from_env and option not in overrides
            }
            raise name_setting(error, written) from None

    # -- per request -------------------------------------------------------------------------------------------

    def peer(self, peer: Peer) -> tuple[str | None, int | None, bool, bool]:
        """The socket peer as ``(text, port, trusted, is_ip)``: canonical text for an IP address, the text as given
        for anything else (never trusted), ``None`` for a UNIX socket (trusted when ``"unix"`` is)."""
        host, port = _peer_parts(peer)
        parsed = self._entry(host) if isinstance(host, str) else None
        if parsed is None:
            return (None if host is None else str(host)), port, host is None and self._unix, False
        return parsed[0], port if port is not None else parsed[1], parsed[2], True

    def entry(self, text: str) -> tuple[str, int | None, bool] | None:
        """One address entry as the walk reads it: ``(ip, port, trusted)`` in canonical text, or ``None``."""
        return self._entry(text)  # type: ignore[no-any-return]

    def values(self, headers: Headers) -> list[list[Any]] | None:
        """The configured headers' values, one list per header (chain order, then the proto header), each in
        arrival order; ``None`` when none of them is present. Values are left as they came (str or bytes-like)."""
        slots = self._slots
        found: list[list[Any]] | None = None
        try:
            for name, value in headers if type(headers) is list else _pairs(headers):
                slot = slots.get(name)
                if slot is None:
                    slot = self._slot_of(name)
                if slot >= 0:
                    if found is None:
                        found = [[]] if self._nslots == 1 else [[] for _ in range(self._nslots)]
                    found[slot].append(value)
        except (TypeError, AttributeError):  # a bytearray or memoryview name: again, reading every name as bytes
            return self.values([(_name_text(name), value) for name, value in _pairs(headers)])
        return found

    def _slot_of(self, name: Any) -> int:
        """The slot of a header name seen for the first time (-1: not ours), remembered for the next requests.

        Servers send the same few spellings over and over, so after the first requests every name costs one dict
        lookup. Only a bounded number are remembered: a client making names up costs a ``lower()`` each, no memory.
        """
        slot = self._slots.get(name.lower(), -1)
        if len(self._slots) < _REMEMBERED_NAMES:
            self._slots[name] = slot
        return slot

    def is_balancer(self, peer: str | None) -> bool:
        """Whether ``peer`` (address text, ``None`` for a UNIX socket) is one of the ``layer4_proxies``."""
        if self._balancers is None:
            return False
        entry, unix = self._balancers
        if peer is None:
            return bool(unix)
        found = entry(peer)
        return found is not None and found[2]

    def resolve(self, peer: Peer, headers: Headers, layer4: tuple[str, Peer] | None = None) -> Result:
        """Resolve the client for one request. Never raises on request data; bad entries end the walk safely.

        ``layer4`` is ``(kind, address)`` when a Layer-4 load balancer carried the client for this connection:
        ``("toa", ("198.51.100.7", 4711))`` or ``("proxy-protocol", ...)`` (see ``realip.layer4``). It is believed only
        when the socket peer is one of ``layer4_proxies``; it then takes the peer's place: an untrusted address is the
        client (source: the kind), a trusted one starts the ordinary header walk. A balancer without one is the
        client itself (:attr:`Reason.NO_LAYER4`).
        """
        # Every request of every app runs this, so the common forms are inline and the rest goes through the helpers.
        if type(peer) is tuple and len(peer) == 2:  # ASGI's (host, port)
            host, port = peer
            if type(port) is not int:
                port = _port(port)
        else:
            host, port = _peer_parts(peer)
        parsed = self._entry(host) if isinstance(host, str) else None
        if parsed is None:
            peer_ip = None if host is None else str(host)
            trusted = host is None and self._unix
        else:
            peer_ip, parsed_port, trusted = parsed
            if port is None:
                port = parsed_port
        start_ip, start_port, start_source = peer_ip, port, "peer"
        passed: tuple[str, ...] = ()
        if self._balancers is not None and (parsed is not None or host is None) and self.is_balancer(peer_ip):
            if layer4 is not None and (carried := self.peer(layer4[1]))[3]:  # an IP address: it stands for the peer
                kind, passed = layer4[0], (() if peer_ip is None else (peer_ip,))
                if not carried[2]:
                    return _result(
                        Result,
                        (carried[0], carried[1], kind, peer_ip, passed, None, _LAYER4, port, 0, None, None, None),
                    )
                start_ip, start_port, start_source = carried[0], carried[1], kind
            elif not trusted:  # its bytes are the client's: no header of it is read
                return _result(
                    Result, (peer_ip, port, "peer", peer_ip, (), None, _NO_LAYER4, port, 0, None, None, None)
                )
        elif not trusted:
            return _result(
                Result, (peer_ip, port, "peer", peer_ip, (), None, _UNTRUSTED_PEER, port, 0, None, None, None)
            )
        if self._plain:  # one list header, no proto header, CIDR mode: the common configuration
            lines, line, slots = 0, None, self._slots
            try:
                for name, value in headers if type(headers) is list else _pairs(headers):
                    slot = slots.get(name)
                    if slot is None:
                        slot = self._slot_of(name)
                    if slot == 0:
                        lines += 1
                        line = value
            except (TypeError, AttributeError):  # a bytearray or memoryview name: the general path rereads them
                lines = -1
            if lines == 1:  # one line: the kernel walks it on from the start in one step
                examined, end, ip, client_port, hops = self._walk(line, self.max_hops, start_ip)
                if ip is None:
                    ip, client_port, source = start_ip, start_port, start_source
                    if not examined:
                        end = "none"
                else:
                    source, passed = self.header[0], passed + hops
                return _result(
                    Result,
                    (ip, client_port, source, peer_ip, passed, None, _REASONS[end], port, examined, None, None, None),
                )
            if lines == 0:
                return _result(
                    Result,
                    (start_ip, start_port, start_source, peer_ip, passed, None, _NO_HEADER, port, 0, None, None, None),
                )
        found = self.values(headers)
        if found is None:
            found = self._nothing
        start = (start_ip, start_port, start_source)
        if self._layers is not None:
            chain = self._walk_hops(found, start, passed)
        elif self.trusted_hops is None:
            chain = _walk.walk_chain(self._trust, self._order, found, self.max_hops, start, passed)
        else:
            chain = _walk.count_hops(self._trust, self._order, found, self.trusted_hops, start, passed)
        ip, client_port, source, proxies, end, examined = chain[:6]
        if not self._contextual:
            return _result(
                Result,
                (ip, client_port, source, peer_ip, proxies, None, _REASONS[end], port, examined, None, None, None),
            )
        scheme, host, server_port, prefix = self._context(found, chain, peer_ip)
        return _result(
            Result,
            (
                ip,
                client_port,
                source,
                peer_ip,
                proxies,
                scheme,
                _REASONS[end],
                port,
                examined,
                host,
                server_port,
                prefix,
            ),
        )

    def _walk_hops(
        self, found: list[list[Any]], start: tuple[str | None, int | None, str], passed: tuple[str, ...]
    ) -> _walk.ChainTuple:
        """``chain`` mode: the walk with each hop trusted at its place (:class:`realip._walk.Layers`); then, when the
        hop next to the client names the header it writes the client into, that header's one address is the client
        (an ended walk only: never past an invalid entry or the hop limit)."""
        assert self._layers is not None
        layers = _walk.Layers(self._layers[0], start[0], self._layers[1])
        chain = _walk.walk_chain(layers, self._order, found, self.max_hops, start, passed)
        slot = self._client_slots[layers.hop]
        if slot < 0 or chain[4] not in ("untrusted", "end", "none") or len(found[slot]) != 1:
            return chain
        client = self._entry(_walk._text(found[slot][0]).strip(" \t"))
        if client is None:
            return chain
        ip, _, _, hops, end, examined, position, element = chain
        if end != "untrusted" and ip is not None:  # the walk's client is the hop itself: a proxy passed
            hops = (*hops, ip)
        return client[0], client[1], self._names[slot], hops, "provider", examined, position, element

    def hop_names(self, peer: str | None, texts: Iterable[str | None]) -> list[str | None]:
        """``chain`` mode, for ``realip explain``: the hop each address is trusted as, the peer's first, then each
        entry's as the walk meets them (``None``: not trusted there, or not an address); ``[]`` without a chain."""
        if self._layers is None or self.chain is None:
            return []
        names = [hop.name for hop in reversed(self.chain)]
        layers = _walk.Layers(self._layers[0], peer, self._layers[1])
        hops: list[str | None] = [names[layers.hop] if self.peer(peer)[2] else None]  # trusted: in some hop
        for text in texts:
            found = None if text is None else layers.entry(text)
            hops.append(names[layers.hop] if found is not None and found[2] else None)
            if found is None or not found[2]:
                break
        return hops

    def chain_text(self) -> str | None:
        """The chain of named hops as one string, from the client inwards (``None`` without one)."""
        return None if self.chain is None else chain_text(self.chain)

    def _context(
        self, found: list[list[Any]], chain: _walk.ChainTuple, peer: str | None
    ) -> tuple[str | None, str | None, int | None, str | None]:
        """``(scheme, host, server_port, prefix)`` as the client's own hop wrote them, each validated (``None`` when
        not configured, absent or invalid); a host outside ``allowed_hosts`` is dropped (and logged, rarely)."""
        proto_slot, host_slot, port_slot, prefix_slot = self._context_slots
        length: list[int] = []  # the chain's length, counted once and only if a list header needs aligning
        scheme = host = prefix = None
        server_port = None
        parse = self._parse
        if proto_slot >= 0 and (text := self._hop_value(found, chain, proto_slot, "proto", length)) is not None:
            scheme = parse(_scheme_value, text)
        if host_slot >= 0 and (text := self._hop_value(found, chain, host_slot, "host", length)) is not None:
            found_host = parse(host_value, text)
            if found_host is not None:
                if self._hosts.allows(found_host[0]):
                    host, server_port = found_host
                else:
                    log_refused_host(found_host[0], peer)
        if port_slot >= 0 and (text := self._hop_value(found, chain, port_slot, "host", length)) is not None:
            if self.port_header == "forwarded":  # the port of the element's host=
                parsed = parse(host_value, text)
                server_port = parsed[1] if parsed is not None and parsed[1] is not None else server_port
            elif (port := parse(port_value, text)) is not None:
                server_port = port
        if prefix_slot >= 0 and (text := self._hop_value(found, chain, prefix_slot, "", length)) is not None:
            prefix = parse(prefix_value, text)
        return scheme, host, server_port, prefix

    def _parse(self, parse: Any, text: str) -> Any:
        """``parse(text)``, remembered: a proxy sends the same few hosts, ports, prefixes and schemes over and over.
        Only short texts, and only a bounded number of them, are remembered (a client making values up costs a
        parse each, no memory)."""
        key = (parse, text)
        found = self._parsed.get(key, _MISSING)
        if found is _MISSING:
            found = parse(text)
            if len(text) <= _REMEMBERED_LENGTH and len(self._parsed) < _REMEMBERED_NAMES:
                self._parsed[key] = found
        return found

    def _hop_value(
        self, found: list[list[Any]], chain: _walk.ChainTuple, slot: int, parameter: str, length: list[int]
    ) -> str | None:
        """The value the client's own hop wrote in the header of ``slot``.

        ``Forwarded`` carries it as ``parameter=`` in the client's own element. A list header (X-Forwarded-Proto,
        -Host, ...) is read at the client's position when it has exactly one value per chain entry (every proxy
        appended both), else its rightmost value, the one our peer wrote.
        """
        name = self._names[slot]
        values = found[slot]
        if len(values) == 1 and name != "forwarded":  # one line, one value: whatever the alignment, that value
            text = _walk._text(values[0])
            if "," not in text:
                return text.strip(" \t") or None
        position, element = chain[6], chain[7]
        if name == "forwarded":
            if name in self.header:
                params = element
                if position < 0:  # the client is the peer: the element our peer wrote, if any
                    nearest = _walk.entries_from_right(self._order, found, 1)
                    params = nearest[0][1] if nearest and nearest[0][0] == "forwarded" else None
            else:
                elements = forwarded_from_right(_walk._text(values[-1]), 1) if values else []
                params = elements[0] if elements else None
            return params.get(parameter) if params else None
        texts = [text for value in reversed(values) for text in list_from_right(_walk._text(value), len(value) + 1)]
        if not texts:
            return None
        if position >= 0:
            if not length:
                length.append(self._chain_length(found))
            if len(texts) == length[0]:
                return texts[position]
        return texts[0]

    def believed_headers(self, headers: Headers, result: Result) -> list[tuple[str, str]]:
        """The forwarding headers as this request's walk believed them (``strip_untrusted`` puts these back after
        removing every forwarding header): the chain from the client rightwards, in the last chain header, and the
        scheme, host, port and prefix that were used. Nothing for a peer whose headers were not read."""
        if result.reason is _UNTRUSTED_PEER or result.reason is _NO_LAYER4:
            return []
        believed: list[tuple[str, str]] = []
        count = result.examined - (result.reason is Reason.INVALID_ENTRY)
        found = self.values(headers) if count > 0 else None
        if found is not None:
            entries = _walk.entries_from_right(self._order, found, count)
            texts = [_forwarded_element(item) if name == "forwarded" else item for name, item in entries if item]
            believed.append((self.header[-1], ", ".join(reversed(texts))))
        if result.reason is Reason.PROVIDER_HEADER and result.client_ip is not None:
            believed.append((result.source, result.client_ip))  # the provider's header, as its hop wrote it
        if "forwarded" in self.header:
            return believed  # the believed elements carry their own proto= and host=
        scheme, host, port, prefix = result.scheme, result.host, result.server_port, result.prefix
        if self.proto_header not in (None, "forwarded") and scheme is not None:
            believed.append((self.proto_header, scheme))
        if self.host_header not in (None, "forwarded") and host is not None:
            believed.append((self.host_header, host if self.port_header else host_text(host, port, None)))
        if self.port_header not in (None, "forwarded") and port is not None:
            believed.append((self.port_header, str(port)))
        if self.prefix_header is not None and prefix:
            believed.append((self.prefix_header, prefix))
        return believed

    def strip_names(self) -> frozenset[str]:
        """Every forwarding header name (lowercase) that ``strip_untrusted`` removes unless believed."""
        return FORWARDING_HEADERS | frozenset(self._names)

    def _chain_length(self, found: list[list[Any]]) -> int:
        """How many non-empty entries the whole chain holds (linear; only needed to align the proto header)."""
        total = 0
        for name, values in zip(self.header, found, strict=False):  # found may hold the proto slot too
            split = forwarded_from_right if name == "forwarded" else list_from_right
            total += sum(len(split(_walk._text(value), len(value) + 1)) for value in values)
        return total


def _peer_parts(peer: object) -> tuple[object, int | None]:
    """``(host, port)`` of a peer in any documented form (the port ``None`` unless an int)."""
    if peer is None or isinstance(peer, str):
        return peer, None
    try:
        host, port = peer[0], peer[1]  # type: ignore[index]
    except (TypeError, IndexError, KeyError):
        return str(peer), None
    return host, _port(port)


def _port(port: object) -> int | None:
    """A peer's port: an int as is, a string of digits (granian sends ``'51158'``) as its number, else ``None``."""
    if type(port) is int:
        return port
    if type(port) is str and 0 < len(port) <= 5 and port.isascii() and port.isdigit() and int(port) <= 65535:
        return int(port)
    return None


def _pairs(headers: Headers) -> Iterable[tuple[Any, Any]]:
    """``(name, value)`` pairs of a mapping, or of any iterable of pairs."""
    if type(headers) is tuple or type(headers) is dict:
        return headers.items() if type(headers) is dict else headers
    items = getattr(headers, "items", None)
    return items() if items is not None else headers


def _name_text(name: object) -> object:
    """A header name as ``str`` or ``bytes`` (a bytearray or memoryview name becomes bytes)."""
    return name if isinstance(name, (str, bytes)) else bytes(memoryview(name))  # type: ignore[arg-type]


def _scheme_value(value: str) -> str | None:
    """``http`` or ``https`` (case-insensitive, trimmed); anything else is ignored."""
    return _SCHEMES.get(value.strip(" \t").lower())


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
