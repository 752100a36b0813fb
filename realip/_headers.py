"""Split forwarding headers into entries, from the right, in time linear in the header and bounded by the walk.

List headers (X-Forwarded-For and single-address headers such as X-Real-IP) follow the RFC 9110 list rule;
``Forwarded`` follows RFC 7239: one entry per element, its ``for=`` parameter as token or quoted-string.
"""

from __future__ import annotations

import re

__all__ = ["environ_key", "forwarded_from_right", "forwarded_params", "is_header_name", "list_from_right"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# One Forwarded element of a REVERSED header line: runs of ordinary characters and quoted strings, up to a comma
# outside quotes. Reading from the right pairs every quote of our proxies' (rightmost) elements with its own partner,
# so a stray quote the client wrote further left can never swallow them. Reversed, an escaped quote (\\") reads
# '"' followed by an odd run of backslashes: the lookahead lets exactly those through.
_REVERSED_ELEMENT = re.compile(r'(?:[^",]++|"(?:[^"]++|"(?=(?:\\\\)*+\\(?!\\)))*+")*+', re.S)
# One forwarded-pair and the separator after it (or the end of the element).
_PAIR = re.compile(r'[ \t]*([^=;,"\s]+)=("(?:[^"\\]|\\.)*+"|[^;"]*?)[ \t]*(?:;|\Z)', re.S)
_EMPTY_PAIR = re.compile(r"[ \t]*;")
_ESCAPE = re.compile(r"\\(.)", re.S)


def is_header_name(name: str) -> bool:
    """Whether ``name`` is a valid HTTP field name (an RFC 9110 token)."""
    return _TOKEN.fullmatch(name) is not None


def environ_key(header: str) -> str:
    """The WSGI environ key a header arrives under: ``HTTP_X_FORWARDED_FOR`` for ``x-forwarded-for``."""
    key = header.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def list_from_right(value: str, limit: int) -> list[str]:
    """Up to ``limit`` non-empty elements of a comma-separated ``value``, rightmost first, spaces/tabs trimmed.

    ``rsplit`` with a bound touches only the right end of a long header; only a header whose right end is mostly
    empty elements (``",,,,"``) falls back to one full split, so the cost stays linear.
    """
    parts = value.rsplit(",", limit)
    if len(parts) <= limit:  # the whole header fits: the common case, done with C-level list operations
        entries = [part.strip(" \t") for part in parts]
        entries.reverse()
        return [entry for entry in entries if entry] if "" in entries else entries
    entries = []
    rest = None
    if len(parts) > limit:  # the leftmost part was not split and may hold more elements
        rest = parts[0]
        parts[0] = ""
    for part in reversed(parts):
        part = part.strip(" \t")
        if part:
            entries.append(part)
            if len(entries) == limit:
                return entries
    if rest is not None:
        for part in reversed(rest.split(",")):
            part = part.strip(" \t")
            if part:
                entries.append(part)
                if len(entries) == limit:
                    break
    return entries


def forwarded_params(element: str) -> dict[str, str] | None:
    """The parameters of one Forwarded element (names lowercased, quoted values unescaped); ``None`` if malformed.

    A repeated parameter makes the element malformed (RFC 7239 section 4).
    """
    params: dict[str, str] = {}
    pos, end = 0, len(element)
    while pos < end:
        empty = _EMPTY_PAIR.match(element, pos)
        if empty is not None:
            pos = empty.end()
            continue
        if not element[pos:].strip(" \t"):
            break
        pair = _PAIR.match(element, pos)
        if pair is None:
            return None
        name, value = pair.group(1).lower(), pair.group(2)
        if name in params:
            return None
        if value[:1] == '"':
            value = _ESCAPE.sub(r"\1", value[1:-1]) if "\\" in value else value[1:-1]
        params[name] = value
        pos = pair.end()
    return params


def _elements_from_right(value: str, limit: int) -> list[str | None]:
    """Up to ``limit`` non-empty Forwarded elements of a line holding quotes, rightmost first.

    ``None`` stands for an element with an unmatched quote; it ends at the next comma to its left. Once one quote is
    unmatched, no later quote can be paired (the failed scan reached the start of the line), so the rest is split
    on commas alone: the work stays linear in the line.
    """
    text = value[::-1]
    elements: list[str | None] = []
    pos, end = 0, len(text)
    while pos <= end and len(elements) < limit:
        stop = _REVERSED_ELEMENT.match(text, pos).end()  # type: ignore[union-attr]  # matches the empty string
        if stop < end and text[stop] == '"':
            elements.append(None)
            for rest in text[stop:].split(",")[1:]:
                if len(elements) == limit:
                    break
                if rest.strip(" \t"):
                    elements.append(None if '"' in rest else rest[::-1])
            break
        element = text[pos:stop]
        if element.strip(" \t"):
            elements.append(element[::-1])
        pos = stop + 1
    return elements


def forwarded_from_right(value: str, limit: int) -> list[dict[str, str] | None]:
    """Up to ``limit`` non-empty Forwarded elements of one header line, rightmost first, as parameter dicts.

    ``None`` stands for a malformed element. Empty elements are skipped (RFC 9110 list rule).
    """
    raw: list[str | None] = [*list_from_right(value, limit)] if '"' not in value else _elements_from_right(value, limit)
    return [None if element is None else forwarded_params(element) for element in raw]
