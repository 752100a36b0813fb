"""The rest of the forwarded request: host, port and path prefix, validated as strictly as addresses are.

A trusted proxy tells the app which host, port, scheme and path prefix the client used, so the app can build URLs,
redirects, cookies and CSRF origins. These values are attacker input that a proxy passed on, so each is accepted only
in its plain form and anything else is ignored (never "cleaned up"):

* a host is a registered name (letters, digits, ``-``, ``.``, ``_``, ``~``) or an IP literal (``[2001:db8::1]`` for
  IPv6), with an optional ``:port``; no ``/``, ``?``, ``@``, spaces or non-ASCII (they make host-header injection);
* a port is 1 to 65535;
* a prefix is an absolute path of plain segments; percent-escapes are decoded once, and a segment that is ``.`` or
  ``..``, an escaped ``/``, ``\\`` or control character, or text that is not UTF-8 makes it invalid.

Every check is one pass over the value (no backtracking).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Iterable
from urllib.parse import quote, unquote

from ._address import parse_address
from .errors import ConfigError

__all__ = ["HostPolicy", "host_value", "port_value", "prefix_value"]

_HOST_NAME = re.compile(r"[A-Za-z0-9._~-]{1,253}")  # one character class: it cannot backtrack
_PREFIX_TEXT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]{1,1024}")  # RFC 3986 pchar and "/"
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")  # a "%" that does not start an escape
_FORBIDDEN_ESCAPES = ("%2f", "%5c", "%00")  # an escaped "/" or "\" would split or merge segments; NUL is no path
_MAX_PORT = 65535
logger = logging.getLogger("realip")


def port_value(text: str) -> int | None:
    """A port: 1 to 5 ASCII digits, 1 to 65535; ``None`` for anything else."""
    text = text.strip(" \t")
    if 0 < len(text) <= 5 and text.isascii() and text.isdigit() and 0 < int(text) <= _MAX_PORT:
        return int(text)
    return None


def host_value(text: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a Host-style value: a lowercase name, a dotted quad or a bracketed IPv6 literal; ``None``
    if it is anything else."""
    text = text.strip(" \t")
    port: int | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        host, rest = text[: close + 1], text[close + 1 :]
        address = parse_address(host)
        if address is None or not address.v6 or "%" in host:
            return None
        host = f"[{address.ip}]"
    else:
        host, colon, rest = text.partition(":")
        rest = colon + rest
        if _HOST_NAME.fullmatch(host) is None or host.startswith((".", "-")) or ".." in host:
            return None
        host = host.lower()
    if rest:
        if rest[0] != ":" or (port := port_value(rest[1:])) is None:
            return None
    return host, port


def prefix_value(text: str) -> str | None:
    """A path prefix, decoded, without a trailing ``/`` (``""`` for the root); ``None`` if it is not a plain absolute
    path."""
    text = text.strip(" \t")
    if not text.startswith("/") or _PREFIX_TEXT.fullmatch(text) is None:
        return None
    decoded = text  # printable ASCII only (the pattern), so nothing to decode unless there is an escape
    if "%" in text:
        lowered = text.lower()
        if _ESCAPE.search(text) is not None or any(escape in lowered for escape in _FORBIDDEN_ESCAPES):
            return None
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            return None
        if any(ord(char) < 32 for char in decoded):
            return None
    segments = decoded.rstrip("/").split("/")[1:]
    if "" in segments or "." in segments or ".." in segments:
        return None
    return "/" + "/".join(segments) if segments else ""


@functools.lru_cache(maxsize=256)  # a proxy sends the same few prefixes
def quoted(prefix: str) -> bytes:
    """A decoded prefix as the bytes of a raw path (``raw_path`` in ASGI)."""
    return quote(prefix, safe="/!$&'()*+,;=:@~").encode("ascii")


class HostPolicy:
    """``allowed_hosts``: which forwarded hosts are used. Entries are names (``example.com``), ``.example.com`` (it
    and every subdomain, as Django reads it), or ``*`` (any); ``None`` allows any host."""

    __slots__ = ("_any", "_exact", "_suffixes", "entries")

    def __init__(self, entries: Iterable[str] | None) -> None:
        self.entries: tuple[str, ...] | None = None
        self._any = entries is None
        self._exact: frozenset[str] = frozenset()
        self._suffixes: tuple[str, ...] = ()
        if entries is None:
            return
        if isinstance(entries, str):
            raise ConfigError(
                f"allowed_hosts={entries!r} is a single string: pass a list, e.g. [{entries!r}]", "allowed_hosts"
            )
        exact, suffixes = set(), []
        for index, entry in enumerate(entries):
            if not isinstance(entry, str) or not entry.strip():
                raise ConfigError(f"allowed_hosts[{index}]={entry!r} is not a host name", "allowed_hosts")
            name = entry.strip().lower()
            if name == "*":
                self._any = True
            elif name.startswith("."):
                if host_value(name[1:]) is None:
                    raise ConfigError(f"allowed_hosts[{index}]={entry!r} is not '.example.com'", "allowed_hosts")
                suffixes.append(name)
                exact.add(name[1:])
            elif (parsed := host_value(name)) is None or parsed[1] is not None:
                raise ConfigError(
                    f"allowed_hosts[{index}]={entry!r} is not a host name (no port, no path), e.g. 'example.com'",
                    "allowed_hosts",
                )
            else:
                exact.add(parsed[0])
        self.entries = tuple(entry.strip().lower() for entry in entries)
        self._exact, self._suffixes = frozenset(exact), tuple(suffixes)

    def allows(self, host: str) -> bool:
        """Whether a validated, lowercase host is allowed."""
        return self._any or host in self._exact or host.endswith(self._suffixes)


_last_refusal = 0.0


def log_refused_host(host: str, peer: str | None) -> None:
    """Say, at most once a minute, that a forwarded host outside ``allowed_hosts`` was ignored."""
    global _last_refusal
    now = time.monotonic()
    if now - _last_refusal < 60.0:
        return
    _last_refusal = now
    logger.warning(
        "realip: the forwarded host %r (through peer %s) is not in allowed_hosts, so the request keeps its own Host. "
        "Add it to allowed_hosts if it is yours; otherwise a client or proxy is sending a host you do not serve.",
        host,
        peer,
    )


#: Forwarding headers that exist whether or not realip reads them (``strip_untrusted`` removes them all unless
#: believed): the de facto standards, RFC 7239, what ingress-nginx and Tencent CLB add, and the headers CDNs and
#: platforms write the client into (a forgery of any is what a library reading it unchecked would believe).
FORWARDING_HEADERS = frozenset(
    (
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-forwarded-scheme",
        "x-forwarded-ssl",
        "forwarded",
        "x-real-ip",
        "x-original-forwarded-for",
        "x-client-proto",
        "x-client-ip",
        "x-cluster-client-ip",
        "cf-connecting-ip",
        "cf-connecting-ipv6",
        "true-client-ip",
        "fastly-client-ip",
        "fly-client-ip",
        "eo-connecting-ip",
        "cloudfront-viewer-address",
    )
)


def default_port(scheme: str | None) -> int:
    """443 for https and wss, else 80."""
    return 443 if scheme in ("https", "wss") else 80


def host_text(host: str, port: int | None, scheme: str | None) -> str:
    """A Host header value: the port left out when it is the scheme's default."""
    return host if port is None or port == default_port(scheme) else f"{host}:{port}"


def _forwarded_element(params: dict[str, str]) -> str:
    """One Forwarded element written back from its parameters (values quoted when they need it)."""
    pairs = []
    for name, value in params.items():
        token = value and all(char.isalnum() or char in "!#$%&'*+-.^_`|~" for char in value)
        pairs.append(
            f"{name}={value}" if token else '{}="{}"'.format(name, value.replace("\\", "\\\\").replace('"', '\\"'))
        )
    return ";".join(pairs)
