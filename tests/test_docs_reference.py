"""The configuration reference on the documentation site is complete: every setting under every name it has.

The site's tables are the rows of docs/_ext/reference_tables.py, built from the code at each build (the Sphinx
extension beside it only turns rows into HTML), so checking the rows checks the page. Sphinx itself is not needed.
The same module writes the TKE guide's "settings in code" from each example ConfigMap: checked here too.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import reference_tables  # noqa: E402

from realip import Resolver  # noqa: E402

TABLES = reference_tables.tables()
OPTIONS = TABLES["options"]
DOCUMENTED_VARIABLES = {
    name
    for table in TABLES.values()
    for index, column in enumerate(table.columns)
    if column.objtype == "envvar"
    for name in (row[index] for row in table.rows)
}
WHERE = "add a row to realip.options.OPTIONS (a setting) or to docs/_ext/reference_tables.py (anything else)"


def test_every_resolver_parameter_is_a_row() -> None:
    parameters = [name for name in inspect.signature(Resolver.__init__).parameters if name != "self"]
    missing = sorted(set(parameters) - set(OPTIONS.column("setting")))
    assert not missing, f"Resolver parameters missing from the reference: {missing}; {WHERE}"


def test_the_adapters_options_are_rows() -> None:
    """The options only the adapters take: ``layer4`` (every adapter) and Django's ``REWRITE_REMOTE_ADDR``."""
    settings = OPTIONS.column("setting")
    assert "layer4" in settings
    assert "REWRITE_REMOTE_ADDR" in OPTIONS.column("Django key")
    assert "``layer4``" in OPTIONS.note and "``rewrite_remote_addr``" in OPTIONS.note  # not Resolver keywords


def test_every_environment_variable_is_a_row() -> None:
    from realip.env import ENV_VARIABLES

    assert set(ENV_VARIABLES) <= set(OPTIONS.column("variable and Flask key")), WHERE


def test_every_django_key_is_a_row() -> None:
    from realip.django.conf import KEYS

    missing = sorted(set(KEYS) - set(OPTIONS.column("Django key")))
    assert not missing, f"REALIP keys missing from the reference: {missing}; {WHERE}"


def test_every_check_id_is_a_row_with_its_hint_and_when() -> None:
    from realip.django.checks import HINTS

    checks = TABLES["checks"]
    described = reference_tables.check_descriptions()
    assert set(checks.column("check")) == set(HINTS)
    assert set(described) == set(HINTS), "realip/django/checks.py's docstring table and HINTS name different ids"
    for check, when, hint in checks.rows:
        assert hint == HINTS[check] and when == described[check]
    # Every id the settings table links to is a row of the checks table (else the link would be broken).
    assert set(OPTIONS.column("check")) <= set(HINTS)


@pytest.mark.parametrize(
    "variable",
    [
        "REALIP_LAYER4",
        "REALIP_LAYER4_PROXIES",
        "REALIP_TOA_KINDS",
        "REALIP_TOA_PORTS",
        "REALIP_TOA_INTERFACE",
        "REALIP_PROXY_PROTOCOL_TIMEOUT",
        "REALIP_PROXY_PROTOCOL_MAX_HEADER",
        "REALIP_PROXY_PROTOCOL_MIGRATE_UNTIL",
        "REALIP_PROXY_PROTOCOL_UNTRUSTED",
        "REALIP_PURE",
        "REALIP_TOA_PURE",
    ],
)
def test_layer4_and_switch_variables_are_rows(variable: str) -> None:
    assert variable in DOCUMENTED_VARIABLES


def variables_in_code() -> set[str]:
    """Every whole ``REALIP_*`` name the packages' Python source mentions (a prefix such as ``REALIP_PROXY_PROTOCOL_``
    in an f-string is not a name; the names it completes are spelled out in the same module's docstrings)."""
    found: set[str] = set()
    for package in ("realip", "realip_toa"):
        for path in (ROOT / package).rglob("*.py"):
            found |= set(re.findall(r"\bREALIP_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    return found


def test_every_variable_the_code_reads_is_documented() -> None:
    found = variables_in_code()
    assert {"REALIP_TRUSTED_PROXIES", "REALIP_TOA_KINDS", "REALIP_PROXY_PROTOCOL_TIMEOUT"} <= found  # the scan works
    missing = sorted(found - DOCUMENTED_VARIABLES)
    assert not missing, f"variables the code reads but the reference does not name: {missing}; {WHERE}"


def test_each_name_is_defined_once() -> None:
    """Each setting and variable is one row (the site makes each row the target of its links)."""
    for title in ("setting", "variable and Flask key"):
        names = [name for name in OPTIONS.column(title) if name != reference_tables.NONE]
        assert len(names) == len(set(names)), title
    everywhere = [
        row[index]
        for table in TABLES.values()
        for index, column in enumerate(table.columns)
        if column.objtype == "envvar"
        for row in table.rows
    ]
    assert len(everywhere) == len(set(everywhere))


def test_the_configuration_page_shows_every_table() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    shown = re.findall(r"^```\{realip-reference\} (\w+)$", page, re.M)
    assert sorted(shown) == sorted(reference_tables.TABLES)


def test_defaults_come_from_the_code() -> None:
    """The Layer-4 table's defaults are read from the modules that define them, not copied."""
    from realip_toa import DEFAULT_KINDS
    from realip_toa.proxy_listener import DEFAULT_MAX_HEADER, DEFAULT_TIMEOUT

    layer4 = TABLES["layer4"]
    defaults = dict(zip(layer4.column("environment variable"), layer4.column("default"), strict=True))
    assert defaults["REALIP_PROXY_PROTOCOL_TIMEOUT"] == f"{DEFAULT_TIMEOUT:g}"
    assert defaults["REALIP_PROXY_PROTOCOL_MAX_HEADER"] == str(DEFAULT_MAX_HEADER)
    assert defaults["REALIP_TOA_KINDS"].split(", ") == [f"{kind}/{length}" for kind, length in DEFAULT_KINDS]


EXAMPLE_CONFIGS = [
    *(
        f"examples/kubernetes/{path.relative_to(ROOT / 'examples' / 'kubernetes').parent}"
        for path in sorted((ROOT / "examples" / "kubernetes").rglob("*.yaml"))
        if "REALIP_TRUSTED_PROXIES" in path.read_text(encoding="utf-8")
    ),
    "examples/layer4/clb-proxy-protocol.yaml",
]


@pytest.mark.parametrize("example", EXAMPLE_CONFIGS)
def test_the_tke_guides_settings_in_code_are_the_configmaps(example: str) -> None:
    """The TKE guide writes each example ConfigMap's settings as adapter keywords and as Django's REALIP dict
    (realip-settings-in-code): both build the resolver the ConfigMap builds."""
    from realip.django.conf import OPTION_KEYS
    from realip.wsgi import RealIPMiddleware

    settings = reference_tables.configmap_settings(ROOT / example)
    adapter, django, environment = reference_tables.code_for(settings)
    expected = Resolver.from_env(settings)
    built: dict[str, object] = {"RealIPMiddleware": RealIPMiddleware, "app": lambda environ, start: []}
    exec(adapter, built)  # our own generated source, as the page shows it
    assert repr(built["app"].resolver) == repr(expected)  # type: ignore[attr-defined]
    exec(django, built)
    keys: dict[str, object] = built["REALIP"]  # type: ignore[assignment]
    options = {OPTION_KEYS[key]: value for key, value in keys.items() if key in OPTION_KEYS}
    assert repr(Resolver(**options)) == repr(expected)  # type: ignore[arg-type]
    assert keys.get("LAYER4") == settings.get("REALIP_LAYER4")
    assert set(environment) == {key for key in settings if key.startswith("REALIP_PROXY_PROTOCOL_")}
