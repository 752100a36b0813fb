"""The walk: from a trusted start (the socket peer, or a Layer-4 address standing in for it), read the forwarding
headers from the right, believing each entry only while it is a trusted proxy. The first untrusted address is the
client; everything left of it was written by the client and is never read.

This module is the whole rule, in Python: :func:`walk_chain` goes over the configured headers and their lines from
the right; one header value is walked by ``trust.walk`` (list headers) or :func:`walk_entries` (``Forwarded``
elements). ``trust`` is :class:`PureTrust`, the reference, or ``realip._kernel.Trust``, its compiled twin (same
methods, same answers; ``tests/kernel`` checks them against each other). Hop-count mode is :func:`count_hops`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from ._address import parse_address
from ._headers import forwarded_from_right, list_from_right
from ._trust import TrustedNetworks

__all__ = [
    "IMPLEMENTATION",
    "MAX_BUDGET",
    "Chain",
    "Layers",
    "PureTrust",
    "Step",
    "count_hops",
    "trust_for",
    "walk_chain",
]

#: The most entries one walk may examine (``max_hops`` is bounded by it).
MAX_BUDGET = 1000

#: A header value as it arrives: text, or bytes-like (read as latin-1, as HTTP/1.1 servers do).
Value = str | bytes | bytearray | memoryview

_kernel: Any = None
if os.environ.get("REALIP_PURE", "") in ("", "0"):
    try:
        from . import _kernel
    except ImportError:  # the install could not compile it (it said so then): say it once more, now
        warnings.warn(
            "realip: the compiled kernel (realip._kernel) is not built, so the pure-Python walk runs (same answers, "
            "slower). Reinstall with a C compiler and the Python headers (Debian: apt-get install gcc python3-dev), "
            "or set REALIP_PURE=1 to choose the pure walk and silence this warning.",
            RuntimeWarning,
            stacklevel=2,
        )

#: ``"c"`` when ``realip._kernel`` walks header values, ``"python"`` when :class:`PureTrust` does (same answers).
IMPLEMENTATION = "c" if _kernel is not None else "python"


class Step(NamedTuple):
    """What walking one header value from a trusted start gave (the kernel returns these fields as a plain tuple)."""

    #: Non-empty entries examined in this value (an invalid one included).
    examined: int
    #: ``"end"`` (no entry left), ``"untrusted"``, ``"invalid"`` or ``"limit"`` (the budget ran out, entries left).
    end: str
    #: The client: the untrusted address, else the last trusted address reached; None if no address was reached
    #: (the start stays the client).
    ip: str | None
    port: int | None
    #: The trusted hops passed on the way to the client, nearest first (the start among them once left behind).
    passed: tuple[str, ...]


def _text(value: Value) -> str:
    """Header text: str as is, bytes-like as latin-1 (every byte is one character, so nothing can fail)."""
    if type(value) is str:
        return value
    if type(value) is bytes:
        return value.decode("latin-1")
    if isinstance(value, str):
        return str(value)
    return bytes(memoryview(value)).decode("latin-1")


class PureTrust:
    """The reference for ``realip._kernel.Trust``: parse entries strictly and test them against the trusted networks."""

    __slots__ = ("_networks",)

    def __init__(self, networks: TrustedNetworks) -> None:
        self._networks = networks

    def entry(self, text: Value) -> tuple[str, int | None, bool] | None:
        """One address entry: ``(ip, port, trusted)`` in canonical text, or ``None`` when it is not an address."""
        address = parse_address(_text(text))
        if address is None:
            return None
        return address.ip, address.port, self._networks.contains(address.value, address.v6)

    def walk(self, value: Value, budget: int, start_ip: str | None) -> StepTuple:
        """One list-header value from the right (empty elements skipped), on from a trusted start: see :class:`Step`."""
        return walk_entries(self.entry, list_from_right(_text(value), budget + 1), budget, start_ip)


#: :class:`Step` as a plain tuple.
StepTuple = tuple[int, str, str | None, int | None, tuple[str, ...]]


def walk_entries(entry: Any, entries: Iterable[str | None], budget: int, start_ip: str | None) -> StepTuple:
    """Walk entries (rightmost first; ``None`` for one that is not even text) from a trusted start until an untrusted
    or invalid one, or until ``budget`` were examined and one more is there: see :class:`Step`."""
    examined, end, ip, port = 0, "end", None, None
    passed = [] if start_ip is None else [start_ip]
    for text in entries:
        if examined == budget:
            end = "limit"
            break
        examined += 1
        found = None if text is None else entry(text)
        if found is None:
            end = "invalid"
            break
        ip, port, trusted = found
        if not trusted:
            end = "untrusted"
            break
        passed.append(ip)
    if ip is None:  # nothing reached: the start stays the client, no hop is passed
        return examined, end, None, None, ()
    if end != "untrusted":
        passed.pop()  # the client is the last trusted address reached, not a hop passed through
    return examined, end, ip, port, tuple(passed)


class Chain(NamedTuple):
    """Where the walk over every configured header ended (:func:`walk_chain` returns these fields as a tuple)."""

    ip: str | None
    port: int | None
    #: The header the client came from, or the start's own source (``"peer"``, ``"toa"``).
    source: str
    #: Trusted hops passed on the way to the client, nearest first (the start included, the client not).
    passed: tuple[str, ...]
    #: ``"end"``, ``"untrusted"``, ``"invalid"`` or ``"limit"``; ``"none"`` when no entry was there at all.
    end: str
    examined: int
    #: The client's entry counted from the right of the whole chain (0 is the rightmost), -1 for the start.
    position: int
    #: The client's ``Forwarded`` element (its parameters), when it came from one.
    element: dict[str, str] | None


def walk_chain(
    trust: Any,
    order: Sequence[tuple[int, str]],
    found: Sequence[Sequence[Value]],
    budget: int,
    start: tuple[str | None, int | None, str],
    passed: tuple[str, ...],
) -> ChainTuple:
    """Walk the chain from the right: ``order`` is ``(slot, header)`` for each chain header, rightmost first, and
    ``found[slot]`` that header's lines in arrival order. The walk starts from the trusted ``start`` = ``(ip, port,
    source)``; ``passed`` holds the hops before it (the load balancer when the start is a Layer-4 address). Each
    value goes on from where the one right of it ended. Returns the fields of :class:`Chain`."""
    ip, port, source = start
    examined, end, position, element = 0, "end", -1, None
    for slot, name in order:
        for value in reversed(found[slot]):
            if name == "forwarded":
                elements = forwarded_from_right(_text(value), budget - examined + 1)
                fors = [None if params is None else params.get("for") for params in elements]
                count, end, step_ip, step_port, hops = walk_entries(trust.entry, fors, budget - examined, ip)
            else:
                count, end, step_ip, step_port, hops = trust.walk(value, budget - examined, ip)
            if step_ip is not None:  # an address was reached: the client comes from this value
                index = count - 2 if end == "invalid" else count - 1  # an invalid entry is not the client
                ip, port, source, position, passed = step_ip, step_port, name, examined + index, passed + hops
                element = elements[index] if name == "forwarded" else None
            examined += count
            if end != "end":
                return ip, port, source, passed, end, examined, position, element
    return ip, port, source, passed, "end" if examined else "none", examined, position, element


#: :class:`Chain` as a plain tuple.
ChainTuple = tuple[str | None, int | None, str, tuple[str, ...], str, int, int, dict[str, str] | None]


def entries_from_right(
    order: Sequence[tuple[int, str]], found: Sequence[Sequence[Value]], limit: int
) -> list[tuple[str, Any]]:
    """Up to ``limit`` non-empty chain entries, rightmost first (``order`` and ``found`` as for :func:`walk_chain`):
    ``(header, text)`` for list headers, ``(header, params or None)`` for ``Forwarded`` elements."""
    entries: list[tuple[str, Any]] = []
    for slot, name in order:
        for value in reversed(found[slot]):
            need = limit - len(entries)
            if need <= 0:
                return entries
            split = forwarded_from_right if name == "forwarded" else list_from_right
            entries.extend((name, item) for item in split(_text(value), need))
    return entries


def entry_text(name: str, item: Any) -> str | None:
    """The address text of an entry from :func:`entries_from_right` (a ``Forwarded`` element's ``for=``)."""
    if name != "forwarded":
        return item  # type: ignore[no-any-return]
    return None if item is None else item.get("for")


def count_hops(
    trust: Any,
    order: Sequence[tuple[int, str]],
    found: Sequence[Sequence[Value]],
    hops: int,
    start: tuple[str | None, int | None, str],
    passed: tuple[str, ...],
) -> ChainTuple:
    """Hop-count mode: the client is the ``hops``-th entry from the right, whatever the entries before it say (they
    are not even parsed); fewer entries (``"short"``), or an invalid one there (``"invalid"``), leave the start.
    Arguments and answer as :func:`walk_chain`."""
    entries = entries_from_right(order, found, hops)
    ip, port, source = start
    if len(entries) < hops:
        end = "none" if not entries else "short"
    else:
        name, item = entries[-1]
        text = entry_text(name, item)
        address = None if text is None else trust.entry(text)
        if address is not None:
            element = item if name == "forwarded" else None
            hopped = passed if ip is None else (*passed, ip)
            return address[0], address[1], name, hopped, "hops", len(entries), hops - 1, element
        end = "invalid"
    return ip, port, source, passed, end, len(entries), -1, None


class Layers:
    """The walk's trust for a chain of named hops (``chain``), for one request: an address is trusted when it is in
    the hop the walk is at or in one further out, and the walk then is at that hop. So the walk only moves outwards,
    and a hop's addresses are believed only at their place in the chain (a hop may be absent, or several proxies in
    a row). Same methods as :class:`PureTrust`; :attr:`hop` afterwards is the hop of the last address trusted.
    """

    __slots__ = ("_trusts", "hop")

    def __init__(self, trusts: Sequence[Any], start_ip: str | None, start_unix: Sequence[bool]) -> None:
        #: Each hop's walker (``trust_for``), innermost first.
        self._trusts = trusts
        #: Where the walk is: the innermost hop holding the start (a UNIX-socket start: the first hop trusting one).
        self.hop = 0
        for index, trust in enumerate(trusts):
            found = None if start_ip is None else trust.entry(start_ip)
            if found[2] if found is not None else start_ip is None and start_unix[index]:
                self.hop = index
                break

    def entry(self, text: Value) -> tuple[str, int | None, bool] | None:
        """One address entry: ``(ip, port, trusted)``, trusted at this hop or one further out (the walk moves there)."""
        trusts = self._trusts
        found = trusts[self.hop].entry(text)
        if found is None or found[2]:
            return found  # type: ignore[no-any-return]
        for index in range(self.hop + 1, len(trusts)):
            if trusts[index].entry(found[0])[2]:
                self.hop = index
                return found[0], found[1], True
        return found  # type: ignore[no-any-return]

    def walk(self, value: Value, budget: int, start_ip: str | None) -> StepTuple:
        """One list-header value, as :meth:`PureTrust.walk`."""
        return walk_entries(self.entry, list_from_right(_text(value), budget + 1), budget, start_ip)


def trust_for(networks: TrustedNetworks) -> Any:
    """The walker for these networks: ``realip._kernel.Trust`` when built, else :class:`PureTrust`."""
    if _kernel is None:
        return PureTrust(networks)
    return _kernel.Trust(*networks.ranges)
