"""Compile trusted-proxy entries once, at start-up, into sets for constant-time membership per request.

netaddr parses the configuration (CIDRs, ranges, globs); per request only integers and built-in sets are touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import netaddr

from ._address import parse_address
from .errors import ConfigError
from .ranges import PRESETS, preset_networks

__all__ = ["NAMED_SETS", "TrustedNetworks", "compile_trust"]

#: The named sets, with their exact networks. ``unix`` trusts connections over a UNIX domain socket (no address);
#: ``any`` (also written ``*``, as uvicorn does) trusts every peer, which must be said on purpose.
NAMED_SETS: dict[str, tuple[str, ...]] = {
    "any": ("0.0.0.0/0", "::/0"),
    "loopback": ("127.0.0.0/8", "::1/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
    "link-local": ("169.254.0.0/16", "fe80::/10"),
    "cgnat": ("100.64.0.0/10",),
    "unix": (),
}

_FORMS = "an address, CIDR network, range, glob or named set (" + ", ".join([*NAMED_SETS, *PRESETS]) + ")"
_ANY = "*"  # uvicorn's spelling of "any"
_LEADING_ZERO_OCTET = re.compile(r"(?:^|[.\-*])0\d")
_MAPPED_BASE = 0xFFFF << 32


class TrustedNetworks:
    """Networks as ``{prefix length: set of network numbers}`` per family, so a test is a few set lookups."""

    __slots__ = ("_v4", "_v6", "networks", "octets", "ranges", "tables", "unix")

    def __init__(self, networks: Iterable[netaddr.IPNetwork], unix: bool) -> None:
        merged = netaddr.cidr_merge(list(networks))
        #: The merged networks, for display (``realip explain``) and tests.
        self.networks: tuple[str, ...] = tuple(str(net) for net in merged)
        #: Whether a peer on a UNIX domain socket (``peer=None``) is trusted.
        self.unix = unix
        self._v4 = self._index(net for net in merged if net.version == 4)
        self._v6 = self._index(net for net in merged if net.version == 6)
        #: ``(IPv4 table, IPv6 table)`` of ``(shift, network numbers)`` pairs, for callers that inline the test.
        self.tables = (self._v4, self._v6)
        #: IPv4 by first octet: 0 nothing trusted in that /8, 1 all of it trusted, 2 part of it (ask the table).
        #: Most IPv4 addresses are decided by this one index.
        octets = bytearray(256)
        for net in merged:
            if net.version != 4:
                continue
            first = int(net.network) >> 24
            if net.prefixlen <= 8:
                octets[first : first + (1 << (8 - net.prefixlen))] = b"\x01" * (1 << (8 - net.prefixlen))
            elif octets[first] == 0:
                octets[first] = 2
        self.octets = bytes(octets)
        #: ``(IPv4, IPv6)`` ranges packed for :mod:`realip._kernel`: sorted ``first, last`` pairs of big-endian
        #: addresses (4 or 16 bytes each), merged so they never overlap.
        self.ranges = (self._pack(merged, 4), self._pack(merged, 6))

    @staticmethod
    def _pack(networks: Iterable[netaddr.IPNetwork], version: int) -> bytes:
        width = 4 if version == 4 else 16
        ranges = sorted((net.first, net.last) for net in networks if net.version == version)
        return b"".join(first.to_bytes(width, "big") + last.to_bytes(width, "big") for first, last in ranges)

    @property
    def trusts_everyone(self) -> str | None:
        """``"IPv4"``, ``"IPv6"`` or ``"IPv4 and IPv6"`` when every address of that family is trusted, else None."""
        widest = (("IPv4", self._v4, 32), ("IPv6", self._v6, 128))  # a table's first shift is its widest network
        return " and ".join(name for name, table, shift in widest if table and table[0][0] == shift) or None

    @staticmethod
    def _index(networks: Iterable[netaddr.IPNetwork]) -> tuple[tuple[int, frozenset[int]], ...]:
        by_shift: dict[int, set[int]] = {}
        for net in networks:
            shift = (32 if net.version == 4 else 128) - net.prefixlen
            by_shift.setdefault(shift, set()).add(int(net.network) >> shift)
        # Widest networks first: in practice the big private blocks answer most lookups.
        return tuple((shift, frozenset(keys)) for shift, keys in sorted(by_shift.items(), reverse=True))

    def contains(self, value: int, v6: bool) -> bool:
        """Whether the address with this integer value (and family) is in a trusted network."""
        if not v6:
            octet = self.octets[value >> 24]
            if octet != 2:
                return octet == 1
        for shift, keys in self._v6 if v6 else self._v4:
            if value >> shift in keys:
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self._v4 or self._v6 or self.unix)


def _error(index: int, entry: object, why: str) -> ConfigError:
    return ConfigError(f"trusted_proxies[{index}]={entry!r} {why}")


def _cidr(index: int, entry: str) -> netaddr.IPNetwork:
    address_text, _, prefix_text = entry.partition("/")
    address = parse_address(address_text)
    if address is None or address.port is not None or "%" in address_text or address_text.startswith("["):
        raise _error(index, entry, f"is not {_FORMS}: {address_text!r} is not an IP address")
    if not (prefix_text.isascii() and prefix_text.isdigit()) or len(prefix_text) > 3:
        raise _error(index, entry, f"has a bad prefix length {prefix_text!r}: write a number such as /8 or /64")
    prefix = int(prefix_text)
    mapped = address_text.count(":") > 1 and not address.v6
    if mapped:
        # ::ffff:10.0.0.0/104 is 10.0.0.0/8; a shorter prefix would reach past the mapped range and, read as
        # IPv4, trust everything (the proxy-addr AIKIDO-2026-101201 bug), so it is refused.
        if prefix < 96:
            raise _error(index, entry, "is an IPv4-mapped network with a prefix below /96: write the IPv4 network")
        prefix -= 96
    limit = 128 if address.v6 else 32
    if prefix > limit:
        raise _error(index, entry, f"has prefix /{prefix_text}, beyond /{limit + (96 if mapped else 0)}")
    network = netaddr.IPNetwork(f"{address.ip}/{prefix}")
    if network.ip != network.network:
        raise _error(
            index,
            entry,
            f"has host bits set: write {str(network.cidr)!r} for the network "
            f"or {address.ip + ('/128' if address.v6 else '/32')!r} for one host",
        )
    return network


def _range(index: int, entry: str) -> list[netaddr.IPNetwork]:
    first_text, _, last_text = entry.partition("-")
    first, last = parse_address(first_text), parse_address(last_text)
    if first is None or last is None or first.port is not None or last.port is not None:
        raise _error(index, entry, f"is not {_FORMS}: a range is two addresses, 'first-last'")
    if first.v6 != last.v6:
        raise _error(index, entry, "mixes IPv4 and IPv6: a range's ends must be of one family")
    if first.value > last.value:
        raise _error(index, entry, f"is reversed: write '{last.ip}-{first.ip}'")
    return list(netaddr.iprange_to_cidrs(first.ip, last.ip))


def _glob(index: int, entry: str) -> list[netaddr.IPNetwork]:
    if _LEADING_ZERO_OCTET.search(entry) or not netaddr.valid_glob(entry):
        hint = "a glob is four octets such as '10.0.*.*' or '10.0.1-3.*'"
        if "-" in entry and "*" not in entry:
            hint += "; a range is two addresses, 'first-last'"
        raise _error(index, entry, f"is not {_FORMS}: {hint}")
    return list(netaddr.glob_to_cidrs(entry))


def _address(index: int, entry: str) -> netaddr.IPNetwork:
    address = parse_address(entry)
    if address is None or address.port is not None or "%" in entry or entry.startswith(("[", '"')):
        raise _error(index, entry, f"is not {_FORMS}")
    return netaddr.IPNetwork(f"{address.ip}/{128 if address.v6 else 32}")


def compile_trust(entries: Iterable[str]) -> TrustedNetworks:
    """Parse every entry (raising :class:`ConfigError` naming the first bad one) and build the lookup sets."""
    if isinstance(entries, (str, bytes)):
        raise ConfigError(
            f"trusted_proxies={entries!r} is a single string: pass a list or tuple of entries, "
            f"for example [{entries!r}]"
        )
    networks: list[netaddr.IPNetwork] = []
    unix = False
    for index, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise _error(index, entry, f"is a {type(entry).__name__}, not a string: write {_FORMS}")
        text = entry.strip()
        if not text:
            raise _error(index, entry, f"is empty: write {_FORMS}")
        named = NAMED_SETS.get("any" if text == _ANY else text.lower())
        if named is None and text.lower() in PRESETS:  # a provider's ranges: its snapshot is read only when named
            try:
                named = preset_networks(text.lower())
            except ConfigError as error:
                raise _error(index, entry, f"names a preset realip cannot load: {error}") from None
        if named is not None:
            unix = unix or named is NAMED_SETS["unix"] or named is NAMED_SETS["any"]  # "any" peer: sockets too
            networks.extend(netaddr.IPNetwork(net) for net in named)
        elif "/" in text:
            networks.append(_cidr(index, text))
        elif "*" in text or (":" not in text and "-" in text and text.count(".") == 3):
            networks.extend(_glob(index, text))
        elif "-" in text:
            networks.extend(_range(index, text))
        else:
            networks.append(_address(index, text))
    return TrustedNetworks(networks, unix)
