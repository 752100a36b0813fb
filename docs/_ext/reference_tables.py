"""The configuration reference's tables, built from the code each time the site is built.

:func:`tables` reads :data:`realip.options.OPTIONS` (every setting: keyword, environment variable and Flask key,
Django key, check id, default, summary), the Django checks' ids and hints (:data:`realip.django.checks.HINTS`, and
the "reported when" table of that module's docstring), and the defaults the Layer-4 readers define, so a setting
added to ``OPTIONS`` appears on the site with no edit here. Only the variables that are not settings of the
resolver or the adapters (the Layer-4 listener's and the pure-twin switches) are listed by hand below;
tests/test_docs_reference.py fails when the code reads a ``REALIP_*`` variable that no table names.

Generated at build time rather than written to a file: there is no generated page to keep current, nothing to
regenerate by hand, and the site can never show an older table than the code it documents. The docs extension
(``realip_reference.py``) turns these rows into tables; this module imports no Sphinx, so the test suite (which
does not install Sphinx) checks exactly the rows the site shows.

:func:`configmap_settings` and :func:`code_for` serve the TKE guide: the ``REALIP_*`` settings of an example's
ConfigMap, and the same settings written for an adapter and for Django's ``REALIP`` dict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[2]
#: What a cell shows when there is nothing to show.
NONE = "—"


class Column(NamedTuple):
    """One column: its title and what its cells are."""

    title: str
    #: ``"text"`` (``literal`` spans allowed), ``"literal"`` (the whole cell), ``"define"`` (the cell names an
    #: object of ``objtype`` and the row is where links to it land) or ``"link"`` (the cell links to such an object).
    kind: str = "text"
    #: The Sphinx std-domain object type the cell names: ``"setting"``, ``"envvar"`` or ``"check"``.
    objtype: str = ""
    #: Shown on a line of its own under the row's other cells, across the table (long text in a wide table).
    wide: bool = False


class Table(NamedTuple):
    """A table of the reference: its columns, its rows (one string per column) and a sentence shown after it."""

    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    def column(self, title: str) -> tuple[str, ...]:
        """Every row's cell in the column called ``title``."""
        index = [column.title for column in self.columns].index(title)
        return tuple(row[index] for row in self.rows)


def options_table() -> Table:
    """Every setting of :data:`realip.options.OPTIONS`, in its order: the one table of the reference."""
    from realip.options import OPTIONS, RESOLVER_KEYWORDS

    columns = (
        Column("setting", "define", "setting"),
        Column("variable and Flask key", "define", "envvar"),
        Column("Django key", "literal"),
        Column("check", "link", "check"),
        Column("default", "literal"),
        Column("what it does", wide=True),
    )
    rows = tuple(
        (
            option.keyword,
            option.variable or NONE,
            option.django,
            option.check,
            option.default,
            option.summary,
        )
        for option in OPTIONS
    )
    others = [f"``{option.keyword}``" for option in OPTIONS if option.keyword not in RESOLVER_KEYWORDS]
    note = "Every setting is a keyword of ``realip.Resolver`` and of every adapter"
    if others:
        listed = ", ".join(others[:-1]) + " and " + others[-1] if len(others) > 1 else others[0]
        note += f", except {listed}: only the adapters take {'those' if len(others) > 1 else 'it'} (see the summary)"
    note += "."
    return Table(columns, rows, note)


#: The Layer-4 listener's and readers' variables: read by realip_toa's sources and server hooks, not by a Resolver.
#: ``(variable, read by, default, meaning)``; a callable reads its text from the code when the table is built.
LAYER4_VARIABLES: tuple[tuple[str, str, Callable[[], str], str | Callable[[], str]], ...] = (
    (
        "REALIP_TOA_KINDS",
        "``toa:*`` modes",
        lambda: ", ".join(f"{kind}/{length}" for kind, length in _toa().DEFAULT_KINDS),
        "the TOA ``kind/length`` pairs believed, comma-separated, e.g. ``200/8`` for Tencent's",
    ),
    (
        "REALIP_TOA_PORTS",
        "``toa:capture``",
        lambda: "every port (the gunicorn hooks: the bound ports)",
        "the local ports whose connections the capture follows, comma-separated",
    ),
    (
        "REALIP_TOA_INTERFACE",
        "``toa:capture``",
        lambda: "every interface",
        "the network interface the capture listens on",
    ),
    (
        "REALIP_PROXY_PROTOCOL_TIMEOUT",
        "PROXY protocol server hooks",
        lambda: f"{_listener().DEFAULT_TIMEOUT:g}",
        "seconds a connection has, from its start, to deliver its whole PROXY header; then it is closed",
    ),
    (
        "REALIP_PROXY_PROTOCOL_MAX_HEADER",
        "PROXY protocol server hooks",
        lambda: f"{_listener().DEFAULT_MAX_HEADER}",
        "the largest PROXY v2 header accepted, in bytes",
    ),
    (
        "REALIP_PROXY_PROTOCOL_MIGRATE_UNTIL",
        "PROXY protocol server hooks",
        lambda: "off",
        lambda: (
            "until then the load balancers may omit the header (switching a listener): seconds from start-up "
            f"or an ISO 8601 time, at most {_listener().MAX_MIGRATE_SECONDS // 86400} days"
        ),
    ),
    (
        "REALIP_PROXY_PROTOCOL_UNTRUSTED",
        "PROXY protocol server hooks",
        lambda: "serve",
        "``serve``: a peer that is not a load balancer is a direct client (a PROXY header from it closes the "
        "connection); ``close``: close every such connection",
    ),
)

#: Process-wide switches: ``(variable, meaning)``.
SWITCHES: tuple[tuple[str, str], ...] = (
    ("REALIP_PURE", "``1``: realip walks headers with its pure-Python twin instead of the compiled kernel"),
    ("REALIP_TOA_PURE", "``1``: realip_toa parses TOA options and PROXY headers with its pure-Python twins"),
    (
        "REALIP_RANGES_DIR",
        "a directory of provider snapshots that ``realip ranges update`` writes and the presets read (the newer of "
        "its snapshot and the shipped one wins; a bad file there fails at start-up)",
    ),
)


def _toa() -> Any:
    import realip_toa

    return realip_toa


def _listener() -> Any:
    from realip_toa import proxy_listener

    return proxy_listener


def layer4_table() -> Table:
    """The variables realip_toa's Layer-4 readers and server hooks read besides the settings above."""
    columns = (
        Column("environment variable", "define", "envvar"),
        Column("read by"),
        Column("default", "literal"),
        Column("what it does", wide=True),
    )
    rows = tuple(
        (variable, where, default(), meaning if isinstance(meaning, str) else meaning())
        for variable, where, default, meaning in LAYER4_VARIABLES
    )
    return Table(columns, rows, "The hooks take the load balancers from ``REALIP_LAYER4_PROXIES``, as the adapters do.")


def switches_table() -> Table:
    """The switches that choose the pure-Python twins."""
    columns = (Column("environment variable", "define", "envvar"), Column("what it does"))
    return Table(columns, SWITCHES)


_CHECK_ROW = re.compile(r"^\| ``(realip\.[EW]\d{3})`` \| (.+?) \|$", re.M)


def check_descriptions() -> dict[str, str]:
    """Check id -> "reported when", from the table in :mod:`realip.django.checks`' docstring."""
    from realip.django import checks

    return dict(_CHECK_ROW.findall(checks.__doc__ or ""))


def checks_table() -> Table:
    """Every Django system check id realip reports, with when and its hint."""
    from realip.django.checks import HINTS

    when = check_descriptions()
    columns = (Column("check", "define", "check"), Column("reported when"), Column("hint"))
    rows = tuple((check, when.get(check, NONE), HINTS[check]) for check in sorted(HINTS))
    return Table(columns, rows)


#: The tables by the name the ``realip-reference`` directive takes.
TABLES: dict[str, Callable[[], Table]] = {
    "options": options_table,
    "layer4": layer4_table,
    "switches": switches_table,
    "checks": checks_table,
}


def tables() -> dict[str, Table]:
    """Every table of the reference, built now."""
    return {name: build() for name, build in TABLES.items()}


# -- the TKE guide: an example's realip settings, in code -----------------------------------------------------------


def configmap_settings(path: Path) -> dict[str, str]:
    """The non-empty ``REALIP_*`` entries of the one ConfigMap in a manifest (or a directory of manifests)."""
    import yaml

    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    found = [
        document["data"]
        for file in files
        for document in yaml.safe_load_all(file.read_text(encoding="utf-8"))
        if document
        and document.get("kind") == "ConfigMap"
        and any(key.startswith("REALIP_") for key in document.get("data") or {})
    ]
    if len(found) != 1:
        raise ValueError(f"{path}: expected one ConfigMap with REALIP_* settings, found {len(found)}")
    return {key: str(value) for key, value in found[0].items() if key.startswith("REALIP_") and str(value).strip()}


def code_for(settings: Mapping[str, str]) -> tuple[str, str, list[str]]:
    """``settings`` (``REALIP_*`` variables) as an adapter's keyword arguments and as Django's ``REALIP`` dict, each
    as Python source, and the variables neither takes (read from the environment by the server hooks)."""
    from realip.env import resolver_options_from_env
    from realip.options import OPTIONS

    options: dict[str, Any] = resolver_options_from_env(settings)
    by_variable = {option.variable: option for option in OPTIONS if option.variable}
    for variable, value in settings.items():
        option = by_variable.get(variable)
        if option is not None and option.keyword not in options:
            options[option.keyword] = value.strip()
    listed = {by_variable[variable].keyword for variable in settings if variable in by_variable}
    if listed != set(options):
        raise ValueError(f"cannot write {sorted(set(options) ^ listed)} as code")
    environment = [variable for variable in settings if variable not in by_variable]
    order = [option.keyword for option in OPTIONS if option.keyword in options]

    def source(keyword: str) -> str:
        item = options[keyword]
        if isinstance(item, tuple):  # a chain of header names stays a tuple; lists of networks read as lists
            inner = ", ".join(json.dumps(entry) for entry in item)
            return f"({inner})" if keyword == "header" else f"[{inner}]"
        return json.dumps(item) if isinstance(item, str) else repr(item)

    keywords = "".join(f"    {keyword}={source(keyword)},\n" for keyword in order)
    django_keys = {option.keyword: option.django for option in OPTIONS}
    entries = "".join(f"    {json.dumps(django_keys[keyword])}: {source(keyword)},\n" for keyword in order)
    return f"app = RealIPMiddleware(\n    app,\n{keywords})", "REALIP = {\n" + entries + "}", environment
