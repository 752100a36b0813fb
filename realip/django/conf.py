"""realip's Django settings: one ``REALIP`` dict; a missing key comes from its ``REALIP_*`` variable, then the default.

::

    REALIP = {
        "TRUSTED_PROXIES": ["loopback", "10.0.0.0/8", "cgnat"],  # the realip.Resolver options, upper-case keys
        "HEADER": "x-forwarded-for",
        "TRUSTED_HOPS": None,
        "MAX_HOPS": 20,
        "PROTO_HEADER": None,          # e.g. "x-forwarded-proto": request.scheme / is_secure() follow it
        "HOST_HEADER": None,           # e.g. "x-forwarded-host": request.get_host() follows it
        "PORT_HEADER": None,           # e.g. "x-forwarded-port"
        "PREFIX_HEADER": None,         # e.g. "x-forwarded-prefix": SCRIPT_NAME and reverse() follow it
        "ALLOWED_HOSTS": None,         # default: settings.ALLOWED_HOSTS
        "STRIP_UNTRUSTED": False,      # remove the forwarding headers realip did not believe
        "CHAIN": None,                 # instead of TRUSTED_PROXIES: "cloudflare[cf-connecting-ip] -> ingress=private"
        "REWRITE_REMOTE_ADDR": True,   # write the client into request.META["REMOTE_ADDR"]
        "LAYER4": None,                # "proxy-protocol", "toa:capture", ...: what a Layer-4 balancer carries
        "LAYER4_PROXIES": None,        # the Layer-4 load balancers, e.g. ["100.64.0.0/10"]
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
from ..layer4 import KINDS, layer4_source
from ..options import BY_KEYWORD, RESOLVER_KEYWORDS
from ..resolver import Resolver
from ..wsgi import environ_key

__all__ = ["KEYS", "OPTION_KEYS", "Config", "Problem", "Reading", "get_config", "meta_key", "read_settings", "reset"]

#: ``REALIP`` key -> :class:`~realip.Resolver` keyword.
OPTION_KEYS: dict[str, str] = {BY_KEYWORD[keyword].django: keyword for keyword in RESOLVER_KEYWORDS}
REWRITE_KEY = BY_KEYWORD["rewrite_remote_addr"].django
LAYER4_KEY = BY_KEYWORD["layer4"].django
#: Every key ``REALIP`` accepts.
KEYS: tuple[str, ...] = (*OPTION_KEYS, REWRITE_KEY, LAYER4_KEY)

_VARIABLE_OF = {option: variable for variable, option in ENV_VARIABLES.items()}
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
    #: ``(value, where it came from)`` of ``REALIP["LAYER4"]`` (else ``REALIP_LAYER4``), checked, unstarted; or None.
    layer4: Any = None


class Config(NamedTuple):
    """The built configuration the middleware uses per request."""

    resolver: Resolver
    rewrite_remote_addr: bool
    #: ``(header name, request.META key)`` for the chain headers and the proto header, precomputed.
    meta_keys: tuple[tuple[str, str], ...]
    #: The started Layer-4 source (a :class:`realip.layer4.Layer4`), or None.
    layer4: Any = None
    #: Whether there is forwarded context to write (host, port, prefix) or forwarding headers to strip.
    rewrites: bool = False
    #: ``META`` keys of every forwarding header (``STRIP_UNTRUSTED``).
    strip_keys: tuple[str, ...] = ()


def meta_key(header: str) -> str:
    """The ``request.META`` key a WSGI server stores this header under (``x-real-ip`` -> ``HTTP_X_REAL_IP``)."""
    return environ_key(header)


def _unknown_key(key: object) -> Problem:
    guess = difflib.get_close_matches(str(key).upper(), KEYS, n=1, cutoff=0.6)
    hint = f'Did you mean "{guess[0]}"? ' if guess else ""
    return Problem(
        "realip.E002", f"REALIP has an unknown key {key!r}.", hint + "The keys are: " + ", ".join(KEYS) + "."
    )


def _check(problems: list[Problem], origins: dict[str, str], **options: object) -> bool:
    """Build a throw-away Resolver from ``options``; on failure record a problem for the option it names."""
    try:
        Resolver(**options)  # type: ignore[arg-type]
    except ConfigError as error:
        option = error.option or next(iter(options))
        problems.append(Problem(BY_KEYWORD[option].check, f"{origins.get(option, option)}: {error}"))
        return False
    except (TypeError, ValueError) as error:  # e.g. TRUSTED_PROXIES = 5 (not iterable)
        option = next(iter(options))
        problems.append(
            Problem(BY_KEYWORD[option].check, f"{origins[option]}: {options[option]!r} is not accepted ({error}).")
        )
        return False
    return True


def _option_problems(options: dict[str, object], origins: dict[str, str]) -> list[Problem]:
    """Check each option on its own, so every bad one is reported, not just the first."""
    problems: list[Problem] = []
    good = {
        option: _check(problems, origins, **{option: options[option]})
        for option in (
            "trusted_proxies",
            "header",
            "proto_header",
            "max_hops",
            "layer4_proxies",
            "host_header",
            "port_header",
            "prefix_header",
            "allowed_hosts",
            "strip_untrusted",
            "chain",
        )
        if option in options
    }
    if options.get("chain") is not None and good["chain"]:  # a chain names every trusted hop: nothing beside it
        for option in ("trusted_proxies", "trusted_hops"):
            if options.get(option) is not None:
                _check(problems, origins, chain=options["chain"], **{option: options[option]})
    if "trusted_hops" in options and options.get("chain") is None:
        # Against the configured max_hops and trusted_proxies when those are good (so "TRUSTED_HOPS > MAX_HOPS" and
        # hop-count mode without trusted proxies are reported here); a bad one is reported already.
        together: dict[str, object] = {"trusted_hops": options["trusted_hops"]}
        together["max_hops"] = options["max_hops"] if good.get("max_hops") else 1000
        if "trusted_proxies" in options:
            together["trusted_proxies"] = options["trusted_proxies"] if good["trusted_proxies"] else ("any",)
        _check(problems, origins, **together)
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
            problems.append(Problem(BY_KEYWORD[option].check, f"{error} (environment)"))
    if "allowed_hosts" not in options and options.get("host_header"):
        # Django's own list of the hosts it serves, unless REALIP names others; a forwarded host outside it is ignored.
        options["allowed_hosts"] = list(getattr(settings, "ALLOWED_HOSTS", None) or ()) or None
        origins["allowed_hosts"] = "settings.ALLOWED_HOSTS"
    problems += _option_problems(options, origins)
    rewrite = given.get(REWRITE_KEY, True)
    if type(rewrite) is not bool:
        problems.append(Problem("realip.E007", f'REALIP["{REWRITE_KEY}"] is {rewrite!r}, not True or False.'))
        rewrite = True
    layer4 = _read_layer4(given.get(LAYER4_KEY), environ, options, problems)
    return Reading(options, origins, rewrite, problems, layer4)


def _read_layer4(
    value: object, environ: Mapping[str, str], options: Mapping[str, object], problems: list[Problem]
) -> Any:
    """``(value, where)`` for ``REALIP["LAYER4"]`` (else ``REALIP_LAYER4``), checked without starting anything; a
    problem (E009: not a kind; E010: a kind that needs ``LAYER4_PROXIES`` without them) if it is bad."""
    where = f'REALIP["{LAYER4_KEY}"]'
    if value is None:
        value, where = environ.get("REALIP_LAYER4", "").strip() or None, "REALIP_LAYER4 (environment)"
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() not in KINDS:
            problems.append(Problem("realip.E009", f"{where}={value!r} is not one of {', '.join(KINDS)}."))
            return None
        if value.strip().lower() != "toa:kernel" and not options.get("layer4_proxies"):
            problems.append(
                Problem(
                    "realip.E010", f"{where}={value!r} needs LAYER4_PROXIES, the Layer-4 load balancers' addresses."
                )
            )
            return None
    elif not hasattr(value, "lookup_asgi"):
        problems.append(Problem("realip.E009", f"{where}={value!r} is not a Layer-4 kind or a realip_toa source."))
        return None
    return value, where


def build(reading: Reading) -> Config:
    """The configuration from a reading; :class:`ImproperlyConfigured` listing every problem if there are any."""
    if reading.problems:
        from .checks import HINTS  # the one table of ids and hints

        lines = [f"{p.id}: {p.message}\n    HINT: {p.hint or HINTS[p.id]}" for p in reading.problems]
        raise ImproperlyConfigured("realip: bad settings (manage.py check lists them too):\n" + "\n".join(lines))
    resolver = Resolver(**reading.options)  # type: ignore[arg-type]  # checked above
    names = resolver.read_headers
    layer4 = None
    if reading.layer4 is not None:
        value, where = reading.layer4
        try:
            layer4 = layer4_source(value, resolver, from_env=False, setting=where)  # a capture starts here
        except ConfigError as error:
            raise ImproperlyConfigured(f"realip: {BY_KEYWORD[error.option or 'layer4'].check}: {error}") from None
    contexts = (resolver.host_header, resolver.port_header, resolver.prefix_header)
    return Config(
        resolver,
        reading.rewrite_remote_addr,
        tuple((name, meta_key(name)) for name in names),
        layer4,
        resolver.strip_untrusted or any(name is not None for name in contexts),
        tuple(meta_key(name) for name in sorted(resolver.strip_names())),
    )


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
