"""Provider presets: the networks Cloudflare, Fastly and Amazon CloudFront publish, as named sets.

``trusted_proxies=["cloudflare"]`` (or ``layer4_proxies``) trusts the networks of a dated snapshot of the provider's
published list. The snapshots ship in this package (``realip/ranges/NAME.json``); ``realip ranges update NAME``
fetches a fresh one on the operator's machine, never at import or at start-up, and writes it into the directory
named by ``REALIP_RANGES_DIR``, which the app reads too. Of the two snapshots, the shipped one and the one in
``REALIP_RANGES_DIR``, the more recent (by its ``fetched`` date) is used; ``realip explain`` and ``realip ranges show``
say which, from where, and how old it is.

Threat model: a preset says "every address in these networks is the provider's edge, and its headers are the
provider's word". That holds only while the peer really is the provider: behind another proxy (a load balancer in
front of the app, a second CDN), the peer is that proxy, so name it too, or the provider's entry is the client.
A stale snapshot fails safe for forgeries (a network the provider added is not trusted, so its requests resolve to
the edge address) but not for a network the provider gave up and someone else now holds: update regularly.

Snapshot files are JSON: ``{"name", "source" (the URL or URLs, separated by spaces), "fetched" (ISO date),
"networks": [CIDR, ...]}`` and an optional ``"note"``. Every network is checked when loaded, as when fetched
(:func:`check_networks`), so a hand-edited file cannot smuggle in ``10.0.0.0/8`` or ``0.0.0.0/0``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import netaddr

from .._address import parse_address
from ..errors import ConfigError

if TYPE_CHECKING:
    import datetime

# json and datetime are imported by the functions that read a snapshot: `import realip` (which imports this module
# for the preset names) costs no more than it did before presets existed.

__all__ = [
    "PRESETS",
    "RANGES_DIR_VARIABLE",
    "STALE_AFTER_DAYS",
    "Preset",
    "PresetUse",
    "Snapshot",
    "check_networks",
    "describe",
    "describe_lines",
    "load",
    "parse_snapshot",
    "preset_networks",
    "user_dir",
]

logger = logging.getLogger("realip")

#: The environment variable naming the directory of updated snapshots (read by the app and by the command).
RANGES_DIR_VARIABLE = "REALIP_RANGES_DIR"
#: A snapshot older than this many days is used, with one warning at start-up saying how to refresh it.
STALE_AFTER_DAYS = 180


class Preset(NamedTuple):
    """A provider whose published ranges realip knows how to read."""

    #: The name written in ``trusted_proxies`` / ``layer4_proxies``.
    name: str
    #: The provider, as people call it.
    title: str
    #: Where ``realip ranges update`` fetches the list by default (each is fetched; the networks are joined).
    urls: tuple[str, ...]
    #: The header the provider writes the client into besides appending to X-Forwarded-For, for the docs.
    client_header: str | None


#: The presets, by name. Each name is also a named set of ``trusted_proxies`` and ``layer4_proxies``.
PRESETS: dict[str, Preset] = {
    "cloudflare": Preset(
        "cloudflare",
        "Cloudflare",
        ("https://www.cloudflare.com/ips-v4", "https://www.cloudflare.com/ips-v6"),
        "cf-connecting-ip",
    ),
    "fastly": Preset("fastly", "Fastly", ("https://api.fastly.com/public-ip-list",), "fastly-client-ip"),
    # Both CLOUDFRONT and CLOUDFRONT_ORIGIN_FACING: debatable, the origin-facing servers alone are a smaller set,
    # but AWS documents that some requests (PUT, POST, PATCH, OPTIONS, DELETE, and those a regional edge cache does
    # not hold) go to the origin straight from an edge location, whose address is only in CLOUDFRONT.
    "cloudfront": Preset("cloudfront", "Amazon CloudFront", ("https://ip-ranges.amazonaws.com/ip-ranges.json",), None),
}


class Snapshot(NamedTuple):
    """One provider's networks as fetched on one day, and where realip read them from."""

    name: str
    #: The URL (or URLs, separated by spaces) the networks were fetched from.
    source: str
    #: The day they were fetched (UTC), ISO format.
    fetched: str
    #: The networks, in canonical CIDR text.
    networks: tuple[str, ...]
    #: The file they were read from.
    path: str
    #: Whether the file is the one shipped in the package (else it is in ``REALIP_RANGES_DIR`` or given by path).
    shipped: bool = False
    #: A remark recorded with the snapshot (how a shipped snapshot was made), or ``None``.
    note: str | None = None

    def age_days(self, today: datetime.date | None = None) -> int:
        """How many days old the snapshot is (0 on the day it was fetched)."""
        import datetime

        today = today or datetime.datetime.now(datetime.UTC).date()
        return (today - datetime.date.fromisoformat(self.fetched)).days

    def as_dict(self) -> dict[str, Any]:
        """The JSON file's content (``note`` only when there is one)."""
        data: dict[str, Any] = {"name": self.name, "source": self.source, "fetched": self.fetched}
        if self.note:
            data["note"] = self.note
        data["networks"] = list(self.networks)
        return data


# -- checking networks ---------------------------------------------------------------------------------------------

#: Networks no provider's edge is in. A preset reaching into one would let a machine there (or a spoofed private
#: address inside your own network) speak for the provider, so a list that does is refused whole.
_SPECIAL = (
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/3",  # multicast and reserved, up to 255.255.255.255
    "::/8",  # unspecified, loopback, IPv4-mapped and -compatible
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)


@functools.cache
def _special() -> tuple[tuple[int, int, int], ...]:
    """:data:`_SPECIAL` as ``(version, first, last)``, built when first needed."""
    return tuple((net.version, net.first, net.last) for net in map(netaddr.IPNetwork, _SPECIAL))


#: The widest network a provider's list may hold, per IP version: a /8 of IPv4 is already far beyond any one
#: provider's edge, and a wider entry (0.0.0.0/0 above all) would trust the Internet.
_WIDEST = {4: 8, 6: 16}


def _network(entry: object) -> netaddr.IPNetwork | None:
    """``address/prefix`` in the strict forms :func:`realip._address.parse_address` accepts (no port, zone, brackets
    or IPv4-mapped IPv6), else ``None``."""
    if not isinstance(entry, str):
        return None
    address_text, slash, prefix_text = entry.strip().partition("/")
    address = parse_address(address_text)
    if (
        not slash
        or address is None
        or address.port is not None
        or address_text != address_text.strip(' \t"[')
        or "%" in address_text
        or (address_text.count(":") > 1 and not address.v6)  # ::ffff:a.b.c.d: lists write IPv4 as IPv4
        or not (prefix_text.isascii() and prefix_text.isdigit() and len(prefix_text) <= 3)
        or int(prefix_text) > (128 if address.v6 else 32)
    ):
        return None
    return netaddr.IPNetwork(f"{address.ip}/{int(prefix_text)}")


def check_networks(entries: object, where: str) -> tuple[str, ...]:
    """The networks in canonical text, sorted (IPv4 first) and without duplicates; :class:`ValueError` naming
    ``where`` and the first bad entry when one is not a CIDR network (host bits clear), is wider than a /8 (IPv4) or
    /16 (IPv6), or reaches into a private, loopback, link-local, CGNAT, multicast or reserved network."""
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Iterable):
        raise ValueError(f"{where}: the networks are not a list")
    networks: dict[tuple[int, int, int], str] = {}
    for index, entry in enumerate(entries):
        label = f"{where}: networks[{index}]={entry!r}"
        network = _network(entry)
        if network is None:
            raise ValueError(f"{label} is not a CIDR network such as '198.51.100.0/24' or '2001:db8::/32'")
        if network.ip != network.network:
            raise ValueError(f"{label} has host bits set (the network is {str(network.cidr)!r})")
        if network.prefixlen < _WIDEST[network.version]:
            raise ValueError(
                f"{label} is wider than /{_WIDEST[network.version]}: no provider's edge is that large, refused"
            )
        if any(v == network.version and lo <= network.last and network.first <= hi for v, lo, hi in _special()):
            raise ValueError(
                f"{label} reaches into a private, loopback, link-local, CGNAT, multicast or reserved network: refused"
            )
        networks[(network.version, network.first, network.prefixlen)] = str(network.cidr)
    return tuple(networks[key] for key in sorted(networks))


def parse_snapshot(data: object, name: str, path: str, shipped: bool = False) -> Snapshot:
    """A :class:`Snapshot` from a snapshot file's decoded JSON; :class:`ValueError` naming ``path`` if malformed."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: a snapshot is a JSON object with name, source, fetched and networks")
    missing = [key for key in ("name", "source", "fetched", "networks") if key not in data]
    if missing:
        raise ValueError(f"{path}: the snapshot has no {', '.join(missing)}")
    if data["name"] != name:
        raise ValueError(f"{path}: the snapshot is named {data['name']!r}, not {name!r}")
    import datetime

    source, fetched, note = data["source"], data["fetched"], data.get("note")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"{path}: source={source!r} is not the URL the networks came from")
    try:
        day = datetime.date.fromisoformat(fetched) if isinstance(fetched, str) and len(fetched) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise ValueError(f"{path}: fetched={fetched!r} is not a date such as '2026-07-02'")
    if note is not None and not isinstance(note, str):
        raise ValueError(f"{path}: note={note!r} is not text")
    networks = check_networks(data["networks"], path)
    if not networks:
        raise ValueError(f"{path}: the snapshot holds no network")
    return Snapshot(name, source, day.isoformat(), networks, path, shipped, note)


# -- loading -------------------------------------------------------------------------------------------------------


def user_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The directory of updated snapshots, from ``REALIP_RANGES_DIR`` (``None`` when unset or empty)."""
    value = (os.environ if environ is None else environ).get(RANGES_DIR_VARIABLE, "").strip()
    return Path(value).expanduser() if value else None


def _read(path: Path | Any, name: str, shipped: bool) -> Snapshot:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or error})") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: is not JSON ({error})") from None
    return parse_snapshot(data, name, str(path), shipped)


def _known(name: str) -> Preset:
    preset = PRESETS.get(name)
    if preset is None:
        raise ConfigError(f"{name!r} is not a preset: the presets are {', '.join(PRESETS)}")
    return preset


#: The snapshot each preset was last loaded from in this process, for :func:`describe`.
_loaded: dict[str, Snapshot] = {}
_warned_stale: set[tuple[str, str]] = set()


def load(name: str, environ: Mapping[str, str] | None = None, today: datetime.date | None = None) -> Snapshot:
    """The snapshot of preset ``name`` in use: the more recent of the shipped one and the one in
    ``REALIP_RANGES_DIR`` (the latter on a tie). Raises :class:`~realip.ConfigError` when the name is not a preset,
    ``REALIP_RANGES_DIR`` is set but not a directory, or a snapshot file there is unreadable or malformed (a file an
    operator wrote is never skipped silently)."""
    _known(name)
    try:
        shipped = _read(resources.files(__name__).joinpath(f"{name}.json"), name, shipped=True)
    except ValueError as error:  # a damaged installation: say so at start-up, like any other bad configuration
        raise ConfigError(f"the {name} snapshot shipped with realip is damaged ({error}): reinstall realip") from None
    chosen = shipped
    directory = user_dir(environ)
    if directory is not None:
        if not directory.is_dir():
            raise ConfigError(
                f"{RANGES_DIR_VARIABLE}={str(directory)!r} is not a directory: create it with "
                f"'realip ranges update {name}', or unset it to use the snapshot shipped with realip"
            )
        candidate = directory / f"{name}.json"
        if candidate.exists():
            try:
                updated = _read(candidate, name, shipped=False)
            except ValueError as error:
                raise ConfigError(f"the {name} snapshot {error}") from None
            if updated.fetched >= shipped.fetched:
                chosen = updated
    age = chosen.age_days(today)
    if age > STALE_AFTER_DAYS and (name, chosen.path) not in _warned_stale:
        _warned_stale.add((name, chosen.path))
        logger.warning(
            "realip: the %s preset is a snapshot of %s, %d days old: refresh it with 'realip ranges update %s' "
            "(%s names the directory it is written to and read from)",
            name,
            chosen.fetched,
            age,
            name,
            RANGES_DIR_VARIABLE,
        )
    _loaded[name] = chosen
    return chosen


def preset_networks(name: str) -> tuple[str, ...]:
    """The networks of preset ``name`` (what ``trusted_proxies=[name]`` trusts); see :func:`load`."""
    return load(name).networks


# -- describing a resolver's presets -------------------------------------------------------------------------------


class PresetUse(NamedTuple):
    """A preset a resolver trusts, with the snapshot behind it."""

    #: ``"trusted_proxies"`` or ``"layer4_proxies"``.
    option: str
    snapshot: Snapshot
    age_days: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``realip explain --json``, ``realip serve``)."""
        snap = self.snapshot
        return {
            "name": snap.name,
            "option": self.option,
            "source": snap.source,
            "fetched": snap.fetched,
            "age_days": self.age_days,
            "networks": len(snap.networks),
            "path": snap.path,
            "shipped": snap.shipped,
        }

    def text(self) -> str:
        """One line: which preset, its source and its date."""
        snap = self.snapshot
        where = "shipped with realip" if snap.shipped else f"from {snap.path}"
        return (
            f"preset {snap.name} ({self.option}): {len(snap.networks)} networks from {snap.source}, "
            f"snapshot of {snap.fetched} ({self.age_days} days old, {where})"
        )


def describe(resolver: Any, today: datetime.date | None = None) -> list[PresetUse]:
    """The presets ``resolver`` trusts (in ``trusted_proxies``, then ``layer4_proxies``), with their snapshots.

    A resolver keeps its merged networks, not the names it was given, so a preset counts as in use when it was
    loaded in this process (snapshots are loaded only when named) and every one of its networks is in the option's
    networks. Debatable: a resolver that also trusts a wider network covering a loaded preset is reported as using
    it; that only adds a line about a date, and no trust.
    """
    uses: list[PresetUse] = []
    for option in ("trusted_proxies", "layer4_proxies"):
        entries: Sequence[str] = [entry for entry in getattr(resolver, option, ()) if entry != "unix"]
        if not entries or not _loaded:
            continue
        trusted = netaddr.IPSet(entries)
        for name in PRESETS:
            snapshot = _loaded.get(name)
            if snapshot is not None and netaddr.IPSet(snapshot.networks).issubset(trusted):
                uses.append(PresetUse(option, snapshot, snapshot.age_days(today)))
    return uses


def describe_lines(resolver: Any, today: datetime.date | None = None) -> list[str]:
    """:func:`describe` as text, one line per preset in use (none when no preset is)."""
    return [use.text() for use in describe(resolver, today)]
