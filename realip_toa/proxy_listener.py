"""PROXY protocol on a listener: who must send a header, who may not, how long to wait, and what was received.

Threat model: anyone who can reach the port can send a PROXY header naming any client (a 2025 study found 170k
hosts believing such headers from anyone), and "detect a header if one is present" lets every client choose its
address. So the policy is per listener and never guesses:

* a **trusted** peer (a load balancer) MUST start with a valid header; a missing, malformed or truncated header
  closes the connection, and so does silence past the ``timeout`` (counted from the connection's start, so a peer
  trickling one byte at a time is cut too);
* an **untrusted** peer is a direct client: its connection is served as is, and if it starts with a PROXY
  signature it is closed (``untrusted="close"`` closes every untrusted connection instead);
* ``migrate_until`` (a deadline, for switching a load balancer listener to PROXY protocol, which Tencent CLB cannot
  do without a restart) lets trusted peers connect without a header until then; a header they do send is still
  required to be valid. After the deadline the listener is strict again by itself.

A header's source takes the peer's place exactly as a TOA address does: the hooks record each connection's header
by its 4-tuple, and :class:`ProxyProtocolSource` answers ``lookup_asgi(scope)`` / ``lookup_wsgi(environ)`` with the
``(ip, port)`` the header carried, which realip's ``layer4="proxy-protocol"`` option hands to the resolver. realip
believes it only from its ``layer4_proxies``: an untrusted source address is the client, a trusted one continues the
header walk.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any, NamedTuple

from . import TOAConfigError
from ._table import ConnKey, ConnTable, conn_key
from ._trust import compile_trust
from .proxy_protocol import V2_MAX, Complete, Invalid, ProxyHeader, parse

__all__ = [
    "DEFAULT_MAX_HEADER",
    "DEFAULT_TIMEOUT",
    "HEADERS",
    "STATE_KEY",
    "Pass",
    "ProxyProtocolPolicy",
    "ProxyProtocolSource",
    "Refuse",
    "Wait",
    "read_header",
]

_log = logging.getLogger("realip_toa")

#: Seconds a connection has to deliver its whole header.
DEFAULT_TIMEOUT = 5.0
#: The largest v2 header accepted: room for every standard TLV and a client certificate's names, not for 64 KiB.
DEFAULT_MAX_HEADER = 4096
#: The longest migrate window accepted: a migration is an event, not a setting to forget.
MAX_MIGRATE_SECONDS = 7 * 24 * 3600
_V1, _V2 = b"PROXY ", b"\r\n\r\n\x00\r\nQUIT\n"

#: The ASGI ``scope["state"]`` key under which the uvicorn hook hands each request its connection's header (uvicorn
#: copies a connection's state into every request's scope, so the lookup costs a dict read, not an address parse).
STATE_KEY = "realip_toa.proxy_header"
#: Headers recorded by the server hooks, by the connection's 4-tuple; entries leave when the connection closes
#: (never by age, so a long-lived connection keeps its client).
HEADERS: ConnTable[ProxyHeader] = ConnTable(max_entries=1 << 18, ttl=math.inf)
os.register_at_fork(after_in_child=HEADERS.after_fork)


class Wait(NamedTuple):
    """Not decided yet: keep reading (the timeout runs). ``total`` is the bytes wanted in all, when known."""

    total: int | None


class Pass(NamedTuple):
    """Serve the connection: ``header`` (``None`` when none was sent: an untrusted direct client, or a trusted one
    during the migrate window); ``consumed`` header bytes are dropped, the rest is the request."""

    header: ProxyHeader | None
    consumed: int


class Refuse(NamedTuple):
    """Close the connection: ``reason`` (and ``counter``, the statistic it counts under)."""

    reason: str
    counter: str


Verdict = Wait | Pass | Refuse


def _signature_prefix(data: bytes) -> bool | None:
    """True if ``data`` starts with a PROXY signature, None while it could still become one, False if not."""
    for signature in (_V1, _V2):
        size = min(len(data), len(signature))
        if data[:size] == signature[:size]:
            return True if size == len(signature) else None
    return False


def parse_deadline(text: str, setting: str, now: float) -> float | None:
    """A migrate deadline: empty/``off`` (none), seconds from now (``"900"``), or an ISO 8601 time with a zone."""
    text = text.strip()
    if text.lower() in ("", "0", "off", "none", "false"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise TOAConfigError(
                f"{setting}={text!r}: expected seconds from start-up (900) or an ISO 8601 time with a zone "
                "(2026-12-01T08:00:00Z)"
            ) from None
        if moment.tzinfo is None:
            raise TOAConfigError(f"{setting}={text!r}: give the time zone (a trailing Z for UTC)") from None
        deadline = moment.timestamp()
    else:
        if not math.isfinite(seconds) or seconds <= 0:
            raise TOAConfigError(f"{setting}={text!r}: the window must be a positive number of seconds")
        deadline = now + seconds
    if deadline - now > MAX_MIGRATE_SECONDS:
        raise TOAConfigError(f"{setting}={text!r}: a migrate window ends within 7 days; finish the switch first")
    return deadline


class ProxyProtocolPolicy:
    """One listener's PROXY protocol rules; cheap to consult per connection, safe to share between threads.

    ``trusted`` is a predicate (``peer ip or None -> bool``) or entries for :class:`realip_toa._trust.Trust`
    (addresses, CIDRs, ``unix``, ``loopback``/``private``/``link-local``/``cgnat``). ``timeout`` bounds the header's
    arrival, ``max_header`` a v2 header's size, ``migrate_until`` (epoch seconds) the migrate window,
    ``untrusted`` is ``"serve"`` or ``"close"``. Bad values raise :class:`~realip_toa.TOAConfigError` naming the
    parameter.
    """

    def __init__(
        self,
        trusted: Iterable[str] | str | Callable[[str | None], bool],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_header: int = DEFAULT_MAX_HEADER,
        migrate_until: float | None = None,
        untrusted: str = "serve",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.is_trusted = compile_trust(trusted, "trusted")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
            raise TOAConfigError(f"timeout={timeout!r}: expected seconds, more than 0 and at most 300")
        if isinstance(max_header, bool) or not isinstance(max_header, int) or not 28 <= max_header <= V2_MAX:
            raise TOAConfigError(f"max_header={max_header!r}: expected bytes, 28 (an IPv4 header) to {V2_MAX}")
        if untrusted not in ("serve", "close"):
            raise TOAConfigError(f"untrusted={untrusted!r}: expected 'serve' (direct clients) or 'close'")
        if migrate_until is not None and migrate_until - clock() > MAX_MIGRATE_SECONDS:
            raise TOAConfigError("migrate_until: a migrate window ends within 7 days; finish the switch first")
        self.timeout = float(timeout)
        self.max_header = max_header
        self.migrate_until = migrate_until
        self.untrusted = untrusted
        self._clock = clock
        self._lock = threading.Lock()
        #: Trust per peer text, cached: the load balancers are few, and matching CIDRs costs microseconds.
        self._verdicts: dict[str | None, bool] = {}
        #: Connections by outcome: ``header``, ``local``, ``untrusted`` (served plain), ``migrate_plain``, and the
        #: refusals ``refused_untrusted``, ``invalid``, ``missing``, ``timeout``, ``closed``, ``full``, ``error``.
        self.counts: dict[str, int] = {}
        self._migrate_announced = False

    def __repr__(self) -> str:
        return f"ProxyProtocolPolicy(timeout={self.timeout}, untrusted={self.untrusted!r}, migrating={self.migrating})"

    @property
    def migrating(self) -> bool:
        """Whether the migrate window is open now."""
        return self.migrate_until is not None and self._clock() < self.migrate_until

    def count(self, outcome: str) -> None:
        """Add one to an outcome's statistic."""
        with self._lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def reader(self, peer: str | None) -> HeaderReader:
        """The per-connection reader for a connection from ``peer`` (address text, ``None`` for UNIX)."""
        trusted = self._verdicts.get(peer)
        if trusted is None:
            try:
                trusted = bool(self.is_trusted(peer))
            except Exception:  # a caller's predicate failing is a refusal, never a crash or a belief
                return HeaderReader(self, False, False)
            if len(self._verdicts) >= 4096:  # bounded: direct clients come from anywhere
                self._verdicts.clear()
            self._verdicts[peer] = trusted
        return HeaderReader(self, trusted, trusted and self.migrate_until is not None and self.migrating)

    def status(self) -> str:
        """One line for start-up logs."""
        window = ""
        if self.migrate_until is not None:
            until = datetime.datetime.fromtimestamp(self.migrate_until, datetime.UTC).isoformat()
            window = f"; migrate window (trusted peers may omit the header) until {until}"
        return (
            f"PROXY protocol required from trusted peers, refused from others (untrusted connections: "
            f"{self.untrusted}); header timeout {self.timeout:g}s, v2 header at most {self.max_header} bytes{window}"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProxyProtocolPolicy:
        """From ``REALIP_LAYER4_PROXIES`` (the load balancers: the same variable realip's adapters read), and
        ``REALIP_PROXY_PROTOCOL_TIMEOUT``, ``..._MAX_HEADER``, ``..._MIGRATE_UNTIL`` and ``..._UNTRUSTED``."""
        env = os.environ if environ is None else environ
        setting = "REALIP_LAYER4_PROXIES"
        trusted = env.get(setting, "").strip()
        if not trusted:
            raise TOAConfigError(
                "PROXY protocol needs the load balancers' addresses: set REALIP_LAYER4_PROXIES, e.g. 100.64.0.0/10 "
                "for Tencent CLB (a header is required from them and refused from everyone else)"
            )
        number: dict[str, float] = {}
        for key, default in (("TIMEOUT", DEFAULT_TIMEOUT), ("MAX_HEADER", DEFAULT_MAX_HEADER)):
            name = f"REALIP_PROXY_PROTOCOL_{key}"
            raw = env.get(name, "").strip()
            try:
                number[key] = float(raw) if raw else default
            except ValueError:
                raise TOAConfigError(f"{name}={raw!r}: expected a number") from None
        untrusted = env.get("REALIP_PROXY_PROTOCOL_UNTRUSTED", "").strip().lower() or "serve"
        if untrusted not in ("serve", "close"):
            raise TOAConfigError(f"REALIP_PROXY_PROTOCOL_UNTRUSTED={untrusted!r}: expected 'serve' or 'close'")
        migrate = "REALIP_PROXY_PROTOCOL_MIGRATE_UNTIL"
        deadline = parse_deadline(env.get(migrate, ""), migrate, time.time())
        trust = compile_trust(trusted, setting)
        try:
            return cls(
                trust,
                timeout=number["TIMEOUT"],
                max_header=int(number["MAX_HEADER"]),
                migrate_until=deadline,
                untrusted=untrusted,
            )
        except TOAConfigError as exc:
            raise TOAConfigError(f"REALIP_PROXY_PROTOCOL_*: {exc}") from None


class HeaderReader:
    """One connection's header state: :meth:`start` at accept, :meth:`feed` with each chunk until it decides.

    Sans-IO (the server hooks do the reading, closing and timing) and stateless between calls apart from the bytes
    buffered, which are bounded by the header size limits (v1: 107 bytes, v2: ``max_header``).
    """

    __slots__ = ("buffer", "migrate", "policy", "trusted")

    def __init__(self, policy: ProxyProtocolPolicy, trusted: bool, migrate: bool) -> None:
        self.policy = policy
        self.trusted = trusted
        self.migrate = migrate
        self.buffer = b""

    def start(self) -> Verdict:
        """The verdict before any byte: refuse untrusted peers at once when the listener closes them."""
        if not self.trusted and self.policy.untrusted == "close":
            return Refuse("connection from an untrusted peer", "refused_untrusted")
        return Wait(None)

    def feed(self, data: bytes) -> Verdict:
        """Add the bytes received; the verdict on everything received so far. Never raises on any input."""
        buffer = self.buffer = self.buffer + data if self.buffer else bytes(data)
        if not self.trusted:
            started = _signature_prefix(buffer)
            if started is None:
                return Wait(None)
            if started:
                return Refuse("PROXY protocol header from an untrusted peer", "refused_untrusted")
            return Pass(None, 0)
        answer = parse(buffer, self.policy.max_header)
        if isinstance(answer, Complete):
            return Pass(answer.header, answer.consumed)
        if isinstance(answer, Invalid):
            if answer.reason != "not a PROXY protocol header":
                return Refuse(answer.reason, "invalid")
            if self.migrate:
                return Pass(None, 0)  # the migrate window: a trusted peer without a header
            return Refuse("a trusted peer (a load balancer) sent no PROXY protocol header", "missing")
        return Wait(answer.total)

    def served(self, verdict: Pass) -> str:
        """The statistic a served connection counts under."""
        header = verdict.header
        if header is None:
            return "migrate_plain" if self.trusted else "untrusted"
        return "local" if header.command == "LOCAL" else "header"

    def end(self, why: str) -> Refuse:
        """The verdict when the connection ends or times out before a decision."""
        if why == "timeout":
            return Refuse(f"no complete PROXY protocol header within {self.policy.timeout:g}s", "timeout")
        return Refuse("connection closed before a complete PROXY protocol header", "closed")


def _receive_timeout(sock: socket.socket, seconds: float) -> None:
    """``SO_RCVTIMEO`` (0: none) on a blocking socket: a blocking ``recv`` then returns after at most ``seconds``."""
    whole = int(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", whole, int((seconds - whole) * 1e6)))


def read_header(sock: socket.socket, peer: str | None, policy: ProxyProtocolPolicy) -> Pass | Refuse:
    """Read a blocking socket's header for a threaded or synchronous server, consuming exactly the header bytes.

    Bytes are peeked (``MSG_PEEK``) until the reader decides, so nothing of the request is read: the server's own
    parser then reads the request from the socket as if there had been no header. The whole wait is bounded by the
    policy's timeout (``SO_RCVTIMEO`` on the blocking socket: a Python socket timeout would make the socket
    non-blocking, and a non-blocking peek cannot wait for *more* bytes). Never raises: socket errors are refusals.
    """
    reader = policy.reader(peer)
    verdict: Verdict = reader.start()
    if isinstance(verdict, Refuse):
        return verdict
    deadline = time.monotonic() + policy.timeout
    cap = max(policy.max_header, 107)
    seen = 0
    try:
        sock.settimeout(None)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return reader.end("timeout")
            _receive_timeout(sock, max(remaining, 0.001))
            if seen == 0:
                data = sock.recv(cap, socket.MSG_PEEK)  # blocks until something is queued
            else:
                # Block until more than was seen is queued (MSG_WAITALL), then look at all that is there.
                more = sock.recv(seen + 1, socket.MSG_PEEK | socket.MSG_WAITALL)
                data = sock.recv(cap, socket.MSG_PEEK) if len(more) > seen else more
            if len(data) <= seen:
                return reader.end("timeout" if time.monotonic() >= deadline - 0.005 else "closed")
            seen = len(data)
            reader.buffer = b""
            verdict = reader.feed(data)
            if isinstance(verdict, Refuse):
                return verdict
            if isinstance(verdict, Pass):
                if verdict.consumed:
                    got = sock.recv(verdict.consumed, socket.MSG_WAITALL)  # queued already: returns at once
                    if len(got) != verdict.consumed:
                        return reader.end("closed")
                return verdict
    except (BlockingIOError, TimeoutError):  # SO_RCVTIMEO expired with nothing new
        return reader.end("timeout")
    except OSError:
        return reader.end("closed")
    finally:
        try:
            _receive_timeout(sock, 0)
        except OSError:
            pass


class ProxyProtocolSource:
    """The PROXY protocol as a Layer-4 source for realip's adapters, with the listener ``policy`` the hooks enforce.

    ``lookup_asgi(scope)`` / ``lookup_wsgi(environ)`` return the ``(ip, port)`` the connection's header carried
    (``None`` without one: LOCAL, UNKNOWN/UNSPEC, UNIX, an untrusted direct client, the migrate window), which
    realip's ``layer4=`` option hands to the resolver; ``header_asgi`` / ``header_wsgi`` return the whole
    :class:`~realip_toa.proxy_protocol.ProxyHeader` (TLVs included, e.g. ``header.tlvs.aws_vpce_id`` for an
    allow-list). Lookups never raise.
    """

    mode = "proxy-protocol"

    def __init__(self, policy: ProxyProtocolPolicy, table: ConnTable[ProxyHeader] = HEADERS) -> None:
        self.policy = policy
        self.table = table
        self._announced = False

    def __repr__(self) -> str:
        return f"ProxyProtocolSource({self.policy!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProxyProtocolSource:
        """A source whose policy comes from ``REALIP_LAYER4_PROXIES`` and the ``REALIP_PROXY_PROTOCOL_*`` variables."""
        return cls(ProxyProtocolPolicy.from_env(environ))

    def start(self) -> None:
        """Log, once, what the listener enforces (the hooks do the work; nothing to start)."""
        if not self._announced:
            self._announced = True
            _log.info("realip_toa: %s", self.policy.status())

    def status(self) -> str:
        return self.policy.status()

    # -- what the hooks call ------------------------------------------------------------------------------------

    def record(self, key: ConnKey | None, header: ProxyHeader | None) -> bool:
        """Remember a connection's header (a no-op without one); ``False`` if the table is full (refuse then)."""
        if key is None or header is None:
            return True
        return self.table.put_if_room(key, header)

    def forget(self, key: ConnKey | None) -> None:
        """Drop a closed connection's entry (its 4-tuple may be reused)."""
        if key is not None:
            self.table.forget(key)

    # -- lookups ------------------------------------------------------------------------------------------------

    def header(self, peer: Any, local: Any) -> ProxyHeader | None:
        """The header of the connection ``peer`` -> ``local`` (``(host, port)`` pairs as servers give them)."""
        try:
            key = conn_key(peer, local)
            return None if key is None else self.table.get(key)
        except Exception:
            return None

    def lookup(self, peer: Any, local: Any, sock: socket.socket | None = None) -> tuple[str, int] | None:
        """The ``(ip, port)`` the connection's header carried, else ``None``."""
        if sock is not None:
            peer, local = _socket_addresses(sock)
        header = self.header(peer, local)
        return None if header is None else header.source

    def header_asgi(self, scope: Mapping[str, Any]) -> ProxyHeader | None:
        """The header of an ASGI connection: from ``scope["state"]`` where the uvicorn hook put it, else by
        ``scope["client"]`` and ``scope["server"]`` (as long as nothing rewrote them yet)."""
        state = scope.get("state")
        if isinstance(state, Mapping):
            found = state.get(STATE_KEY)
            if isinstance(found, ProxyHeader):
                return found
        return self.header(scope.get("client"), scope.get("server"))

    def lookup_asgi(self, scope: Mapping[str, Any]) -> tuple[str, int] | None:
        """The header's source for an ASGI scope: ``(ip, port)``."""
        header = self.header_asgi(scope)
        return None if header is None else header.source

    def header_wsgi(self, environ: MutableMapping[str, Any]) -> ProxyHeader | None:
        """The header of a WSGI request: by ``gunicorn.socket`` when present, else the environ's addresses."""
        sock = environ.get("gunicorn.socket")
        if isinstance(sock, socket.socket):
            return self.header(*_socket_addresses(sock))
        try:
            peer = (environ.get("REMOTE_ADDR"), int(environ.get("REMOTE_PORT", "")))
            local = (environ.get("SERVER_ADDR"), int(environ.get("SERVER_PORT", "")))
        except (TypeError, ValueError):
            return None
        return self.header(peer, local)

    def lookup_wsgi(self, environ: MutableMapping[str, Any]) -> tuple[str, int] | None:
        """The header's source for a WSGI environ: ``(ip, port)``."""
        header = self.header_wsgi(environ)
        return None if header is None else header.source


def _socket_addresses(sock: socket.socket) -> tuple[Any, Any]:
    try:
        return sock.getpeername(), sock.getsockname()
    except OSError:
        return None, None
