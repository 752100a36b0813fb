"""Split forwarding headers into entries, from the right, in time linear in the header and bounded by the walk.

List headers (X-Forwarded-For and single-address headers such as X-Real-IP) follow the RFC 9110 list rule;
``Forwarded`` follows RFC 7239: one entry per element, its ``for=`` parameter as token or quoted-string.
"""

from __future__ import annotations

import re

__all__ = ["environ_key", "forwarded_from_right", "forwarded_params", "is_header_name", "list_from_right"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # one character class: matching it cannot backtrack


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

    Read left to right in one pass: ``name=token`` or ``name="quoted"`` pairs separated by ``;`` (spaces, tabs and
    empty pairs allowed around them). A name that is not a token, a stray quote, text after a quoted value or a
    repeated parameter (RFC 7239 section 4) makes the element malformed.
    """
    params: dict[str, str] = {}
    pos, end = 0, len(element)
    while True:
        while pos < end and element[pos] in " \t;":
            pos += 1
        if pos == end:
            return params
        equals = element.find("=", pos)
        if equals < 0:
            return None
        name = element[pos:equals].lower()
        if _TOKEN.fullmatch(name) is None or name in params:
            return None
        pos = equals + 1
        if pos < end and element[pos] == '"':
            close = _closing_quote(element, pos + 1, end)
            if close < 0:
                return None
            params[name] = _unescape(element[pos + 1 : close])
            pos = close + 1
            while pos < end and element[pos] in " \t":
                pos += 1
            if pos < end and element[pos] != ";":
                return None
        else:
            stop = element.find(";", pos)
            stop = end if stop < 0 else stop
            value = element[pos:stop].rstrip(" \t")
            if '"' in value:
                return None
            params[name] = value
            pos = stop


def _closing_quote(text: str, pos: int, end: int) -> int:
    """The index of the quote closing a quoted-string that opened before ``pos``, or -1: a quote after an odd run of
    backslashes is escaped. Each character is looked at a bounded number of times."""
    while True:
        quote = text.find('"', pos, end)
        if quote < 0:
            return -1
        run = quote
        while run > pos and text[run - 1] == "\\":
            run -= 1
        if (quote - run) % 2 == 0:
            return quote
        pos = quote + 1


def _unescape(text: str) -> str:
    """A quoted-string's content with its backslash escapes resolved (``\\x`` is ``x``)."""
    if "\\" not in text:
        return text
    out: list[str] = []
    pos = 0
    while (slash := text.find("\\", pos)) >= 0:
        out.append(text[pos:slash])
        out.append(text[slash + 1 : slash + 2])
        pos = slash + 2
    out.append(text[pos:])
    return "".join(out)


def _opening_quote(text: str, quote: int) -> int:
    """Reading from the right, the quote that opens the quoted-string closed at ``quote``, or -1 if unmatched.

    A quote after an odd run of backslashes is an escaped one inside the string. Every backslash run is counted once.
    """
    pos = quote
    while True:
        found = text.rfind('"', 0, pos)
        if found < 0:
            return -1
        run = found
        while run > 0 and text[run - 1] == "\\":
            run -= 1
        if (found - run) % 2 == 0:
            return found
        pos = run


def _elements_from_right(value: str, limit: int) -> list[str | None]:
    """Up to ``limit`` non-empty Forwarded elements of a line holding quotes, rightmost first.

    Quotes are paired from the right, so our proxies' (rightmost) elements are read as they wrote them and a stray
    quote the client wrote further left cannot swallow them. ``None`` stands for an element with an unmatched quote;
    it ends at the next comma to its left, and since no quote left of it can be paired either, the rest of the line
    is split on commas alone (an element there holding a quote is ``None`` too). Linear: every character is looked at
    a bounded number of times.
    """
    elements: list[str | None] = []
    end = len(value)  # the current element is value[comma + 1 : end]
    comma = value.rfind(",", 0, end)
    pos = end  # quotes in value[comma + 1 : pos] are still to be paired
    while len(elements) < limit:
        quote = value.rfind('"', comma + 1, pos)
        if quote >= 0:
            opening = _opening_quote(value, quote)
            if opening < 0:
                elements.append(None)
                _split_rest(value, value.rfind(",", 0, quote), limit, elements)
                break
            pos = opening
            if opening < comma:  # that comma was inside the quoted-string
                comma = value.rfind(",", 0, opening)
            continue
        element = value[comma + 1 : end]
        if element.strip(" \t"):
            elements.append(element)
        if comma < 0:
            break
        end = pos = comma
        comma = value.rfind(",", 0, end)
    return elements


def _split_rest(value: str, comma: int, limit: int, elements: list[str | None]) -> None:
    """After an unmatched quote: the elements of ``value[:comma]`` split on commas alone, rightmost first."""
    while comma >= 0 and len(elements) < limit:
        left = value.rfind(",", 0, comma)
        element = value[left + 1 : comma]
        if element.strip(" \t"):
            elements.append(None if '"' in element else element)
        comma = left


def forwarded_from_right(value: str, limit: int) -> list[dict[str, str] | None]:
    """Up to ``limit`` non-empty Forwarded elements of one header line, rightmost first, as parameter dicts.

    ``None`` stands for a malformed element. Empty elements are skipped (RFC 9110 list rule).
    """
    raw: list[str | None] = [*list_from_right(value, limit)] if '"' not in value else _elements_from_right(value, limit)
    return [None if element is None else forwarded_params(element) for element in raw]
