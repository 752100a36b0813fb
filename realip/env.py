"""Resolver options from ``REALIP_*`` environment variables, so a Kubernetes ConfigMap configures any app.

| variable | option | form |
|---|---|---|
| ``REALIP_TRUSTED_PROXIES`` | ``trusted_proxies`` | entries separated by commas (spaces allowed) |
| ``REALIP_HEADER`` | ``header`` | one name, or names separated by commas (one chain, in order) |
| ``REALIP_TRUSTED_HOPS`` | ``trusted_hops`` | a whole number |
| ``REALIP_MAX_HOPS`` | ``max_hops`` | a whole number |
| ``REALIP_PROTO_HEADER`` | ``proto_header`` | one name |
| ``REALIP_LAYER4_PROXIES`` | ``layer4_proxies`` | entries separated by commas |
| ``REALIP_HOST_HEADER``, ``REALIP_PORT_HEADER``, ``REALIP_PREFIX_HEADER`` | ``host_header``, ... | one name |
| ``REALIP_ALLOWED_HOSTS`` | ``allowed_hosts`` | names separated by commas |
| ``REALIP_STRIP_UNTRUSTED`` | ``strip_untrusted`` | ``true`` or ``false`` (also 1/0, yes/no, on/off) |
| ``REALIP_CHAIN`` | ``chain`` | hops separated by ``->``, e.g. ``cloudflare -> ingress=10.0.0.0/8,10.1.0.0/16`` |

An unset or empty variable leaves the option at its default. A bad value raises :class:`~realip.ConfigError` naming
the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigError
from .options import BY_KEYWORD, RESOLVER_KEYWORDS

__all__ = ["ENV_VARIABLES", "environ_value", "name_setting", "resolver_options_from_env"]

#: Environment variable -> Resolver keyword.
ENV_VARIABLES: dict[str, str] = {BY_KEYWORD[keyword].variable or "": keyword for keyword in RESOLVER_KEYWORDS}


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(","))


def _integer(variable: str, option: str, value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise ConfigError(
            f"{variable}={value!r} is not a whole number from 1 to 1000: write, e.g., {variable}=2", option
        )
    return int(text)


def _boolean(variable: str, option: str, value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{variable}={value!r} is not true or false: write {variable}=true", option)


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
        if option == "strip_untrusted":
            options[option] = _boolean(variable, option, value)
        elif option in ("trusted_proxies", "layer4_proxies", "allowed_hosts"):
            entries = _split(value)
            for index, entry in enumerate(entries):
                if not entry:
                    raise ConfigError(
                        f"{variable}={value!r}: entry {index} is empty: separate entries with single commas", option
                    )
            options[option] = entries
        elif option == "header":
            names = _split(value)
            options[option] = names[0] if len(names) == 1 else names
        elif option in ("trusted_hops", "max_hops"):
            options[option] = _integer(variable, option, value)
        else:
            options[option] = value.strip()
    return options


def name_setting(error: ConfigError, given: Mapping[str, str], source: str = "") -> ConfigError:
    """``error`` restated for the setting the user wrote: ``given`` maps option keywords to how that setting was
    written (``"REALIP_MAX_HOPS='0'"``); an error about another option comes back as it is."""
    written = given.get(error.option or "")
    if written is None:
        return error
    return ConfigError(f"{written}{source}: {error}", error.option)
