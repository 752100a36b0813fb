"""Resolver options from ``REALIP_*`` environment variables, so a Kubernetes ConfigMap configures any app.

| variable | option | form |
|---|---|---|
| ``REALIP_TRUSTED_PROXIES`` | ``trusted_proxies`` | entries separated by commas (spaces allowed) |
| ``REALIP_HEADER`` | ``header`` | one name, or names separated by commas (one chain, in order) |
| ``REALIP_TRUSTED_HOPS`` | ``trusted_hops`` | an integer >= 1 |
| ``REALIP_MAX_HOPS`` | ``max_hops`` | an integer >= 1 |
| ``REALIP_PROTO_HEADER`` | ``proto_header`` | one name |

An unset or empty variable leaves the option at its default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigError

__all__ = ["ENV_VARIABLES", "environ_value", "resolver_options_from_env"]

#: Environment variable -> Resolver keyword.
ENV_VARIABLES = {
    "REALIP_TRUSTED_PROXIES": "trusted_proxies",
    "REALIP_HEADER": "header",
    "REALIP_TRUSTED_HOPS": "trusted_hops",
    "REALIP_MAX_HOPS": "max_hops",
    "REALIP_PROTO_HEADER": "proto_header",
}


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(","))


def _integer(variable: str, value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise ConfigError(f"{variable}={value!r} is not a whole number: write, for example, {variable}=2")
    return int(text)


def environ_value(environ: Mapping[str, str] | None, variable: str) -> str:
    """The variable's value in ``environ`` (default ``os.environ``), or an empty string."""
    return (os.environ if environ is None else environ).get(variable, "")


def resolver_options_from_env(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The Resolver keyword arguments the ``REALIP_*`` variables set (``environ`` defaults to ``os.environ``)."""
    options: dict[str, object] = {}
    for variable, option in ENV_VARIABLES.items():
        value = environ_value(environ, variable)
        if not value.strip():
            continue
        if option == "trusted_proxies":
            entries = _split(value)
            for index, entry in enumerate(entries):
                if not entry:
                    raise ConfigError(
                        f"{variable}={value!r}: entry {index} is empty: separate entries with single commas"
                    )
            options[option] = entries
        elif option == "header":
            names = _split(value)
            options[option] = names[0] if len(names) == 1 else names
        elif option in ("trusted_hops", "max_hops"):
            options[option] = _integer(variable, value)
        else:
            options[option] = value.strip()
    return options
