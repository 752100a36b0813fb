"""realip's Django settings: one ``REALIP`` dict; a missing key comes from its ``REALIP_*`` variable, then the default.

::

    REALIP = {
        "TRUSTED_PROXIES": ["loopback", "10.0.0.0/8", "cgnat"],  # the realip.Resolver options, upper-case keys
        "HEADER": "x-forwarded-for",
        "TRUSTED_HOPS": None,
        "MAX_HOPS": 20,
        "PROTO_HEADER": None,          # e.g. "x-forwarded-proto": request.scheme / is_secure() follow it
        "REWRITE_REMOTE_ADDR": True,   # write the client into request.META["REMOTE_ADDR"]
        "TOA": None,                   # "capture", "saved-syn" or "kernel": Layer-4 TCP-option client (realip_toa)
    }

A key set to ``None`` means realip's default for it, not its variable.

Settings are read lazily: the configuration is checked and built the first time it is needed (the middleware asks
at start-up, when Django loads it), then kept; ``setting_changed`` (``override_settings``) drops it, so the next
request rebuilds it. ``REALIP_*`` variables are read at that moment only. :func:`read_settings` collects every
problem at once, so ``manage.py check`` (see :mod:`realip.django.checks`) and a failed start-up report the same text.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from django.conf import settings  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.core.signals import setting_changed  # type: ignore[import-untyped]

from ..env import ENV_VARIABLES, resolver_options_from_env
from ..errors import ConfigError
from ..resolver import Resolver
from ..wsgi import environ_key

__all__ = ["KEYS", "OPTION_KEYS", "Config", "Problem", "Reading", "get_config", "meta_key", "read_settings", "reset"]

#: ``REALIP`` key -> :class:`~realip.Resolver` keyword.
OPTION_KEYS: dict[str, str] = {
    "TRUSTED_PROXIES": "trusted_proxies",
    "HEADER": "header",
    "TRUSTED_HOPS": "trusted_hops",
    "MAX_HOPS": "max_hops",
    "PROTO_HEADER": "proto_header",
}
REWRITE_KEY = "REWRITE_REMOTE_ADDR"
TOA_KEY = "TOA"
#: Every key ``REALIP`` accepts.
KEYS: tuple[str, ...] = (*OPTION_KEYS, REWRITE_KEY, TOA_KEY)

_VARIABLE_OF = {option: variable for variable, option in ENV_VARIABLES.items()}
#: Resolver keyword -> the check id reporting a bad value for it (the table is in realip.django.checks).
_ID_OF = {
    "trusted_proxies": "realip.E003",
    "header": "realip.E004",
    "trusted_hops": "realip.E005",
    "max_hops": "realip.E005",
    "proto_header": "realip.E006",
}
_UNSET: Any = object()


class Problem(NamedTuple):
    """One bad setting: its check id, a message naming the entry, and a hint when the id's usual one won't do."""

    id: str
    message: str
    hint: str | None = None


class Reading(NamedTuple):
    """What ``REALIP`` and the environment say: the Resolver options, where each came from, and every problem."""

    options: dict[str, object]
    origins: dict[str, str]
    rewrite_remote_addr: bool
    problems: list[Problem]
    #: The TOA source, unstarted (``REALIP["TOA"]``, else ``REALIP_TOA``), or None.
    toa: Any = None


class Config(NamedTuple):
    """The built configuration the middleware uses per request."""

    resolver: Resolver
    rewrite_remote_addr: bool
    #: ``(header name, request.META key)`` for the chain headers and the proto header, precomputed.
    meta_keys: tuple[tuple[str, str], ...]
    #: The started TOA source (a ``realip_toa.TOASource``), or None.
    toa: Any = None


def meta_key(header: str) -> str:
    """The ``request.META`` key a WSGI server stores this header under (``x-real-ip`` -> ``HTTP_X_REAL_IP``)."""
    return environ_key(header)


def _unknown_key(key: object) -> Problem:
    guess = difflib.get_close_matches(str(key).upper(), KEYS, n=1, cutoff=0.6)
    hint = f'Did you mean "{guess[0]}"? ' if guess else ""
    return Problem(
        "realip.E002", f"REALIP has an unknown key {key!r}.", hint + "The keys are: " + ", ".join(KEYS) + "."
    )


def _check(problems: list[Problem], option: str, origins: dict[str, str], **options: object) -> bool:
    """Build a throw-away Resolver from ``options``; on failure record a problem for ``option`` and say so."""
    try:
        Resolver(**options)  # type: ignore[arg-type]
    except ConfigError as error:
        problems.append(Problem(_ID_OF[option], f"{origins[option]}: {error}"))
        return False
    except (TypeError, ValueError) as error:  # e.g. TRUSTED_PROXIES = 5 (not iterable)
        value = options[option]
        problems.append(Problem(_ID_OF[option], f"{origins[option]}: {value!r} is not accepted ({error})."))
        return False
    return True


def _option_problems(options: dict[str, object], origins: dict[str, str]) -> list[Problem]:
    """Check each option on its own, so every bad one is reported, not just the first."""
    problems: list[Problem] = []
    for option in ("trusted_proxies", "header", "proto_header"):
        if option in options:
            _check(problems, option, origins, **{option: options[option]})
    max_ok = "max_hops" not in options or _check(problems, "max_hops", origins, max_hops=options["max_hops"])
    if "trusted_hops" in options:
        # Against the configured max_hops when that one is good, so "TRUSTED_HOPS > MAX_HOPS" is reported here.
        bound = options.get("max_hops", 20) if max_ok else 2**31
        _check(problems, "trusted_hops", origins, trusted_hops=options["trusted_hops"], max_hops=bound)
    return problems


def read_settings(setting: object = _UNSET, environ: Mapping[str, str] | None = None) -> Reading:
    """Read ``setting`` (default ``settings.REALIP``) and ``environ`` (default ``os.environ``); never raises."""
    if setting is _UNSET:
        setting = getattr(settings, "REALIP", _UNSET)
    if setting is _UNSET:
        given: Mapping[Any, object] = {}
    elif isinstance(setting, Mapping):
        given = setting
    else:
        problem = Problem("realip.E001", f"REALIP is a {type(setting).__name__} ({setting!r}), not a dict.")
        return Reading({}, {}, True, [problem])
    problems = [_unknown_key(key) for key in given if key not in KEYS]
    environ = os.environ if environ is None else environ
    options: dict[str, object] = {}
    origins: dict[str, str] = {}
    for key, option in OPTION_KEYS.items():
        if key in given:
            options[option] = given[key]
            origins[option] = f'REALIP["{key}"]'
            continue
        variable = _VARIABLE_OF[option]
        value = environ.get(variable, "")
        if not value.strip():
            continue
        origins[option] = f"{variable}={value!r} (environment)"
        try:
            options.update(resolver_options_from_env({variable: value}))
        except ConfigError as error:  # its text already names the variable and its value
            problems.append(Problem(_ID_OF[option], f"{error} (environment)"))
    problems += _option_problems(options, origins)
    rewrite = given.get(REWRITE_KEY, True)
    if type(rewrite) is not bool:
        problems.append(Problem("realip.E007", f'REALIP["{REWRITE_KEY}"] is {rewrite!r}, not True or False.'))
        rewrite = True
    toa = _read_toa(given.get(TOA_KEY), environ, problems)
    return Reading(options, origins, rewrite, problems, toa)


def _read_toa(value: object, environ: Mapping[str, str], problems: list[Problem]) -> Any:
    """The unstarted TOA source ``REALIP["TOA"]`` (else ``REALIP_TOA``) asks for; a problem (E009) if it is bad."""
    if value is None and not environ.get("REALIP_TOA", "").strip():
        return None
    from realip_toa import TOASource

    try:
        return TOASource.coerce(value) if value is not None else TOASource.from_env(environ)  # type: ignore[arg-type]
    except ConfigError as error:
        origin = f'REALIP["{TOA_KEY}"]' if value is not None else "REALIP_TOA (environment)"
        problems.append(Problem("realip.E009", f"{origin}: {error}"))
        return None


def build(reading: Reading) -> Config:
    """The configuration from a reading; :class:`ImproperlyConfigured` listing every problem if there are any."""
    if reading.problems:
        from .checks import HINTS  # the one table of ids and hints

        lines = [f"{p.id}: {p.message}\n    HINT: {p.hint or HINTS[p.id]}" for p in reading.problems]
        raise ImproperlyConfigured("realip: bad settings (manage.py check lists them too):\n" + "\n".join(lines))
    resolver = Resolver(**reading.options)  # type: ignore[arg-type]  # checked above
    names = resolver.header
    if resolver.proto_header is not None and resolver.proto_header not in names:
        names += (resolver.proto_header,)
    toa = reading.toa
    if toa is not None:
        try:
            toa.start()  # a capture without CAP_NET_RAW fails here, at start-up
        except ConfigError as error:
            raise ImproperlyConfigured(f"realip: realip.E009: {error}") from None
    return Config(resolver, reading.rewrite_remote_addr, tuple((name, meta_key(name)) for name in names), toa)


_config: Config | None = None


def get_config() -> Config:
    """The current configuration, built on first use and after any change to ``settings.REALIP``."""
    global _config
    config = _config
    if config is None:
        config = _config = build(read_settings())
    return config


def reset() -> None:
    """Forget the built configuration (tests that change ``REALIP_*`` variables call this)."""
    global _config
    _config = None


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "REALIP":
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="realip.django.conf")
