"""Which peers are the load balancers: a small CIDR list, parsed with the standard library's ``ipaddress``.

realip_toa is the lower layer and imports nothing from ``realip``, so it cannot use the core's trust compiler. A
listener therefore takes either a predicate (``peer ip text or None -> bool``; realip's adapters can hand it their
own compiled trust) or this list of addresses, CIDR networks and four named sets. Debatable: a second, smaller trust
parser; we accept it to keep the layering one-way, and keep it deliberately simple (no ranges, no globs).

IPv4-mapped IPv6 peers (a dual-stack socket's view of an IPv4 client) are folded to IPv4 before matching, so
``10.0.0.0/8`` matches ``::ffff:10.0.0.5``; a mapped network in the list is refused, because a mapped prefix below
/96 would cover IPv6 space the operator never meant (the proxy-addr ``::ffff:10.0.0.0/8`` mistake).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from . import TOAConfigError

__all__ = ["NAMED", "Trust", "TrustError", "compile_trust"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Named sets an entry may use instead of CIDRs.
NAMED: dict[str, tuple[str, ...]] = {
    "loopback": ("127.0.0.0/8", "::1/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
    "link-local": ("169.254.0.0/16", "fe80::/10"),
    "cgnat": ("100.64.0.0/10",),
}
_FORMS = "an address, a CIDR network, 'unix', or a named set (loopback, private, link-local, cgnat)"


class TrustError(TOAConfigError):
    """A trust entry that is not an address, network or named set; the message names the setting and the entry."""


class Trust:
    """A compiled list of trusted peers; :meth:`__call__` answers for one peer (``None`` is a UNIX-socket peer)."""

    __slots__ = ("_v4", "_v6", "entries", "unix")

    def __init__(self, entries: Iterable[str], setting: str = "trusted") -> None:
        self.entries = tuple(str(entry).strip() for entry in entries)
        self.unix = False
        networks: list[Network] = []
        for index, entry in enumerate(self.entries):
            lowered = entry.lower()
            if lowered == "unix":
                self.unix = True
                continue
            for text in NAMED.get(lowered, (entry,)):
                try:
                    network = ipaddress.ip_network(text, strict=True)
                except ValueError as exc:
                    raise TrustError(f"{setting}[{index}]={entry!r} is not {_FORMS} ({exc})") from None
                if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None:
                    raise TrustError(
                        f"{setting}[{index}]={entry!r} is an IPv4-mapped IPv6 network: write the IPv4 form "
                        "(mapped peers are matched as IPv4)"
                    )
                networks.append(network)
        self._v4 = tuple(n for n in networks if isinstance(n, ipaddress.IPv4Network))
        self._v6 = tuple(n for n in networks if isinstance(n, ipaddress.IPv6Network))

    def __repr__(self) -> str:
        return f"Trust({list(self.entries)!r})"

    def __call__(self, peer: str | None) -> bool:
        """Whether ``peer`` (address text, ``None`` for a UNIX socket) is trusted; never raises."""
        if peer is None or peer == "":
            return self.unix
        try:
            address = ipaddress.ip_address(peer.partition("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if isinstance(address, ipaddress.IPv4Address):
            return any(address in network for network in self._v4)
        return any(address in network for network in self._v6)


def compile_trust(
    value: Iterable[str] | str | Callable[[str | None], bool], setting: str
) -> Callable[[str | None], bool]:
    """A predicate from a callable (used as is), a comma-separated string, or an iterable of entries."""
    if callable(value):
        return value
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    trust = Trust(value, setting)
    if not trust.entries:
        raise TrustError(
            f"{setting} is empty: name the load balancers' addresses ({_FORMS}), e.g. 100.64.0.0/10 for Tencent CLB"
        )
    return trust
