"""A chain of named hops: the path a request takes, written from the client inwards, such as
``"cloudflare[cf-connecting-ip] -> tke-clb=cgnat -> ingress=private"``.

Each hop is a set of trusted proxies with a name; the walk (:class:`realip._walk.Layers`) believes an address only in
its own hop or one further out, so a hop's addresses are trusted at their place in the chain and nowhere else. A hop
may name the header it writes the client into (a provider's ``CF-Connecting-IP``): that header is believed only when
the hop next to the client is that hop, never from anyone else.

This module parses the declaration, at start-up; a mistake is a :class:`~realip.ConfigError` naming the hop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ._headers import is_header_name
from ._trust import NAMED_SETS, TrustedNetworks, compile_trust
from .errors import ConfigError
from .ranges import PRESETS

__all__ = ["ARROW", "Hop", "chain_text", "parse_chain"]

#: What separates hops in the one-string form.
ARROW = "->"

#: Header names a hop may not claim: the ones every proxy writes or realip reports as a source.
_NOT_CLIENT_HEADERS = frozenset(("x-forwarded-for", "forwarded", "x-real-ip", "peer", "toa", "proxy-protocol"))


class Hop(NamedTuple):
    """One hop of the chain."""

    #: Its name: a named set or preset (``cloudflare``, ``private``), or a label for the entries after ``=``.
    name: str
    #: The trusted-proxy entries as written (the name itself when it is a named set or preset).
    entries: tuple[str, ...]
    #: The header this hop writes the client into (lowercase), believed only from it; ``None``.
    header: str | None
    #: The entries, compiled.
    networks: TrustedNetworks

    def text(self) -> str:
        """The hop as it is written in a chain: ``name[header]=entry,entry`` with the parts it has."""
        header = f"[{self.header}]" if self.header else ""
        entries = "" if self.entries == (self.name,) else "=" + ",".join(self.entries)
        return f"{self.name}{header}{entries}"


def chain_text(hops: Sequence[Hop]) -> str:
    """The chain as one string, from the client inwards."""
    return f" {ARROW} ".join(hop.text() for hop in hops)


def parse_chain(chain: object) -> tuple[Hop, ...]:
    """The hops of ``chain`` (one string with ``->`` between hops, or a sequence of hop strings), from the client
    inwards. Raises :class:`ConfigError` (option ``chain``) naming the first hop that is wrong and how to write it."""
    if isinstance(chain, str):
        parts = chain.split(ARROW)
    elif isinstance(chain, (list, tuple)):
        parts = list(chain)
    else:
        raise ConfigError(f"chain={chain!r} must be a string such as 'cloudflare -> ingress=10.0.0.0/8'", "chain")
    hops: list[Hop] = []
    for index, part in enumerate(parts):
        if not isinstance(part, str) or not part.strip():
            raise ConfigError(
                f"chain={chain!r}: hop {index} is empty: write each hop as NAME, NAME=ENTRIES or NAME[HEADER]=ENTRIES, "
                f"separated by '{ARROW}'",
                "chain",
            )
        hop = _hop(chain, index, part.strip())
        if any(seen.name == hop.name for seen in hops):
            raise ConfigError(f"chain={chain!r}: hop {hop.name!r} appears twice: give each hop its own name", "chain")
        hops.append(hop)
    if not hops:
        raise ConfigError(f"chain={chain!r} has no hop: write e.g. 'cloudflare -> ingress=10.0.0.0/8'", "chain")
    return tuple(hops)


def _hop(chain: object, index: int, text: str) -> Hop:
    """One hop: ``NAME``, ``NAME=ENTRY[,ENTRY...]``, each with an optional ``[HEADER]`` after the name."""
    head, equals, listed = text.partition("=")
    head = head.strip()
    name, bracket, rest = head.partition("[")
    name = name.strip()
    header: str | None = None
    if bracket:
        header_text, closing, after = rest.partition("]")
        header_text = header_text.strip()
        if not closing or after.strip() or not is_header_name(header_text):
            raise ConfigError(
                f"chain={chain!r}: hop {index} {text!r}: write the header it writes the client into in brackets after "
                "the name, e.g. cloudflare[cf-connecting-ip]",
                "chain",
            )
        header = header_text.lower()
        if header in _NOT_CLIENT_HEADERS:
            raise ConfigError(
                f"chain={chain!r}: hop {index} {text!r}: {header!r} is not a header one hop writes the client into "
                "(every proxy writes it, or realip reports it as a source): name the provider's own header, such as "
                "cf-connecting-ip",
                "chain",
            )
    if not name or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in name):
        raise ConfigError(
            f"chain={chain!r}: hop {index} {text!r} has no usable name: start it with a name of letters, digits, "
            "'-', '_' or '.', e.g. ingress=10.0.0.0/8",
            "chain",
        )
    if equals:
        entries = tuple(entry.strip() for entry in listed.split(","))
    elif name.lower() in NAMED_SETS or name.lower() in PRESETS:
        name = name.lower()
        entries = (name,)
    else:
        known = ", ".join([*NAMED_SETS, *PRESETS])
        raise ConfigError(
            f"chain={chain!r}: hop {index} {name!r} is not a named set or preset ({known}): say which proxies it is, "
            f"e.g. {name}=10.0.0.0/8",
            "chain",
        )
    try:
        networks = compile_trust(entries)
    except ConfigError as error:
        why = str(error).replace("trusted_proxies", "entries")
        raise ConfigError(f"chain={chain!r}: hop {name!r}: {why}", "chain") from None
    if not networks:
        raise ConfigError(f"chain={chain!r}: hop {name!r} trusts nothing: name its proxies", "chain")
    return Hop(name, entries, header, networks)
