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
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from ._address import parse_address
from ._headers import forwarded_from_right, list_from_right
from ._trust import TrustedNetworks

__all__ = ["IMPLEMENTATION", "MAX_BUDGET", "Chain", "PureTrust", "Step", "count_hops", "trust_for", "walk_chain"]

#: The most entries one walk may examine (``max_hops`` is bounded by it).
MAX_BUDGET = 1000

#: A header value as it arrives: text, or bytes-like (read as latin-1, as HTTP/1.1 servers do).
Value = str | bytes | bytearray | memoryview

_kernel: Any = None
if os.environ.get("REALIP_PURE", "") in ("", "0"):
    try:
        from . import _kernel  # type: ignore[attr-defined, no-redef]
    except ImportError:  # the build fell back to Python; realip/__init__.py says so once
        _kernel = None

#: ``"c"`` when ``realip._kernel`` walks header values, ``"python"`` when :class:`PureTrust` does (same answers).
IMPLEMENTATION = "c" if _kernel is not None else "python"


class Step(NamedTuple):
    """What walking one header value gave (the kernel returns the same five fields as a plain tuple)."""

    #: Non-empty entries examined in this value (an invalid one included).
    examined: int
    #: ``"end"`` (no entry left), ``"untrusted"``, ``"invalid"`` or ``"limit"`` (the budget ran out, entries left).
    end: str
    #: The last address reached in this value (the untrusted one, or the last trusted one), or None.
    ip: str | None
    port: int | None
    #: The trusted addresses passed in this value, nearest first.
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

    def walk(self, value: Value, budget: int) -> tuple[int, str, str | None, int | None, tuple[str, ...]]:
        """One list-header value from the right (empty elements skipped): see :class:`Step`."""
        return walk_entries(self.entry, list_from_right(_text(value), budget + 1), budget)


def walk_entries(
    entry: Any, entries: Iterable[str | None], budget: int
) -> tuple[int, str, str | None, int | None, tuple[str, ...]]:
    """Walk entries (rightmost first; ``None`` for one that is not even text) until an untrusted or invalid one, or
    until ``budget`` were examined and one more is there: see :class:`Step`."""
    examined, end, ip, port = 0, "end", None, None
    passed: list[str] = []
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
    return examined, end, ip, port, tuple(passed)


_STOPPED = frozenset(("untrusted", "invalid", "limit"))


class Chain(NamedTuple):
    """Where the walk over every configured header ended."""

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
    names: Sequence[str],
    found: Sequence[Sequence[Value]],
    budget: int,
    start: tuple[str | None, int | None, str],
    passed: list[str],
) -> Chain:
    """Walk the headers ``names`` (chain order, left to right; ``found[slot]`` holds each one's lines in arrival
    order) from the right, starting from the trusted ``start`` = ``(ip, port, source)`` with ``passed`` the hops
    already passed (the peer, and the Layer-4 address when it is the start)."""
    ip, port, source = start
    examined, end, position, element = 0, "none", -1, None
    for slot in range(len(names) - 1, -1, -1):
        name = names[slot]
        for value in reversed(found[slot]):
            remaining = budget - examined
            if name == "forwarded":
                elements = forwarded_from_right(_text(value), remaining + 1)
                fors = [None if params is None else params.get("for") for params in elements]
                count, end, step_ip, step_port, hops = walk_entries(trust.entry, fors, remaining)
            else:
                count, end, step_ip, step_port, hops = trust.walk(value, remaining)
            if step_ip is not None:
                index = count - 2 if end == "invalid" else count - 1  # the invalid entry is not the client
                ip, port, source, position = step_ip, step_port, name, examined + index
                element = elements[index] if name == "forwarded" else None
            examined += count
            passed.extend(hops)
            if end != "end":
                break
        if end in _STOPPED:
            break
    if examined == 0:
        end = "none"
    if end != "untrusted" and passed:
        passed.pop()  # the client is the last trusted address reached, not a hop passed through
    return Chain(ip, port, source, tuple(passed), end, examined, position, element)


def entries_from_right(names: Sequence[str], found: Sequence[Sequence[Value]], limit: int) -> list[tuple[str, Any]]:
    """Up to ``limit`` non-empty chain entries, rightmost first: ``(header, text)`` for list headers and
    ``(header, params or None)`` for ``Forwarded`` elements (for hop counting and for ``realip explain``)."""
    entries: list[tuple[str, Any]] = []
    for slot in range(len(names) - 1, -1, -1):
        name = names[slot]
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
    names: Sequence[str],
    found: Sequence[Sequence[Value]],
    hops: int,
    start: tuple[str | None, int | None, str],
    passed: list[str],
) -> Chain:
    """Hop-count mode: the client is the ``hops``-th entry from the right, whatever the entries before it say (they
    are not even parsed); fewer entries (``"short"``), or an invalid one there (``"invalid"``), leave the start."""
    entries = entries_from_right(names, found, hops)
    if len(entries) < hops:
        end = "none" if not entries else "short"
    else:
        name, item = entries[-1]
        text = entry_text(name, item)
        address = None if text is None else trust.entry(text)
        if address is not None:
            element = item if name == "forwarded" else None
            return Chain(address[0], address[1], name, tuple(passed), "hops", len(entries), hops - 1, element)
        end = "invalid"
    ip, port, source = start
    return Chain(ip, port, source, tuple(passed[:-1]), end, len(entries), -1, None)


def trust_for(networks: TrustedNetworks) -> Any:
    """The walker for these networks: ``realip._kernel.Trust`` when built, else :class:`PureTrust`."""
    if _kernel is None:
        return PureTrust(networks)
    return _kernel.Trust(*networks.ranges)
