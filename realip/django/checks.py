"""System checks: a bad realip setting stops ``manage.py check``, ``runserver`` and ``migrate`` at start-up.

| id | reported when |
|---|---|
| ``realip.E001`` | ``REALIP`` is not a dict |
| ``realip.E002`` | ``REALIP`` has an unknown key (the hint guesses the one meant) |
| ``realip.E003`` | ``TRUSTED_PROXIES`` (or ``REALIP_TRUSTED_PROXIES``) holds a bad entry; the message names it |
| ``realip.E004`` | ``HEADER`` (or ``REALIP_HEADER``) is not a header name or a tuple of names |
| ``realip.E005`` | ``TRUSTED_HOPS`` / ``MAX_HOPS`` (or their variables) are not ints >= 1, or hops > max |
| ``realip.E006`` | ``PROTO_HEADER`` (or ``REALIP_PROTO_HEADER``) is not a header name |
| ``realip.E007`` | ``REWRITE_REMOTE_ADDR`` is not True or False |
| ``realip.E008`` | the middleware comes after a middleware that reads the client address or scheme |
| ``realip.E009`` | ``LAYER4`` (or ``REALIP_LAYER4``) is not a Layer-4 kind, or its source cannot start |
| ``realip.E011`` | ``ALLOWED_HOSTS`` (or ``REALIP_ALLOWED_HOSTS``) holds something that is not a host name |
| ``realip.E012`` | ``STRIP_UNTRUSTED`` (or ``REALIP_STRIP_UNTRUSTED``) is not True or False |
| ``realip.E013`` | ``CHAIN`` (or ``REALIP_CHAIN``) is not a chain of hops, or is given with ``TRUSTED_PROXIES`` |
| ``realip.E010`` | ``LAYER4_PROXIES`` (or ``REALIP_LAYER4_PROXIES``) holds a bad entry, or ``LAYER4`` needs it unset |
| ``realip.W001`` | the app is installed but the middleware is not in ``MIDDLEWARE`` |
| ``realip.W002`` | ``SECURE_PROXY_SSL_HEADER`` is set too: Django reads it first, so ``PROTO_HEADER`` is ignored |

The same settings problems also stop the app when the middleware loads (gunicorn and uvicorn run no checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core import checks  # type: ignore[import-untyped]

from .conf import read_settings

__all__ = ["HINTS", "MIDDLEWARE_PATHS", "check_middleware", "check_settings"]

_TOP = 'Put "realip.django.RealIPMiddleware" first in MIDDLEWARE.'

#: Every id this app reports -> the hint printed with it.
HINTS: dict[str, str] = {
    "realip.E001": 'Make REALIP a dict, e.g. REALIP = {"TRUSTED_PROXIES": ["10.0.0.0/8"]}, or remove it to use the '
    "REALIP_* environment variables.",
    "realip.E002": "The keys are: TRUSTED_PROXIES, HEADER, TRUSTED_HOPS, MAX_HOPS, PROTO_HEADER, LAYER4_PROXIES, "
    "HOST_HEADER, PORT_HEADER, PREFIX_HEADER, ALLOWED_HOSTS, STRIP_UNTRUSTED, CHAIN, REWRITE_REMOTE_ADDR, LAYER4.",
    "realip.E003": "List the proxies you trust: addresses, CIDR networks, ranges, globs or named sets (loopback, "
    'private, link-local, cgnat, unix), e.g. ["loopback", "10.0.0.0/8"]; [] trusts nothing.',
    "realip.E004": 'Name the one header your proxy sets, e.g. "x-forwarded-for", "x-real-ip" or "forwarded", or a '
    "tuple of names read as one chain.",
    "realip.E005": "Use whole numbers >= 1, with TRUSTED_HOPS <= MAX_HOPS; leave TRUSTED_HOPS unset (None) to trust "
    "by address.",
    "realip.E006": 'Name the header your proxy writes the scheme (host, port, prefix) into, e.g. "x-forwarded-proto" '
    '("x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix"), or leave it unset.',
    "realip.E007": "Set it to True (the default) or False.",
    "realip.E008": _TOP,
    "realip.E009": 'Set LAYER4 to "proxy-protocol", "toa:capture" (needs CAP_NET_RAW), "toa:saved-syn" or '
    '"toa:kernel" (toa.ko loaded), or leave it unset (None) when no Layer-4 load balancer carries the client.',
    "realip.E011": 'List host names, e.g. "ALLOWED_HOSTS": ["example.com", ".example.org"]; unset, Django\'s own '
    "ALLOWED_HOSTS is used.",
    "realip.E012": "Set it to True (remove forwarding headers realip did not believe) or False (the default).",
    "realip.E013": 'Write the hops from the client inwards, e.g. "CHAIN": "cloudflare[cf-connecting-ip] -> '
    'clb=100.64.0.0/10 -> ingress=10.0.0.0/8" (a named set or preset, or NAME=ENTRIES; [HEADER] for the header that '
    "hop writes the client into), instead of TRUSTED_PROXIES and TRUSTED_HOPS.",
    "realip.E010": 'List the Layer-4 load balancers, e.g. "LAYER4_PROXIES": ["100.64.0.0/10"] for Tencent CLB: '
    "addresses, CIDR networks, ranges, globs or named sets. Their TOA or PROXY client is believed; their headers "
    "are not.",
    "realip.W001": _TOP + " Without it request.client_ip is never set.",
    "realip.W002": "Remove SECURE_PROXY_SSL_HEADER: Django takes the header's LEFTMOST value (which the client "
    "writes) from any peer, while realip takes the value its trusted proxy wrote.",
}

#: The paths MIDDLEWARE may name the middleware by.
MIDDLEWARE_PATHS = ("realip.django.RealIPMiddleware", "realip.django.middleware.RealIPMiddleware")

#: Middleware that reads the client address in its own request phase, so it must come after realip.
_ADDRESS_READERS = {
    "debug_toolbar.middleware.DebugToolbarMiddleware": "reads REMOTE_ADDR to compare it with INTERNAL_IPS",
}
_SCHEME_READERS = {
    "django.middleware.security.SecurityMiddleware": "redirects to HTTPS (SECURE_SSL_REDIRECT) by request.is_secure()",
}


def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[Any]:
    """E001-E007, E009-E012: every bad ``REALIP`` key or ``REALIP_*`` variable, each naming the bad entry."""
    return [
        checks.Error(problem.message, hint=problem.hint or HINTS[problem.id], id=problem.id)
        for problem in read_settings().problems
    ]


def check_middleware(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[Any]:
    """W001: the middleware is missing; E008: it comes too late; W002: Django's own scheme header overrides ours."""
    middleware = [str(path) for path in getattr(settings, "MIDDLEWARE", None) or ()]
    found = [index for index, path in enumerate(middleware) if path in MIDDLEWARE_PATHS]
    if not found:
        return [
            checks.Warning(
                "realip.django is installed but its middleware is not in MIDDLEWARE.",
                hint=HINTS["realip.W001"],
                id="realip.W001",
            )
        ]
    reading = read_settings()
    proto = reading.options.get("proto_header") is not None and not reading.problems
    readers = dict(_ADDRESS_READERS)
    if proto and getattr(settings, "SECURE_SSL_REDIRECT", False):
        readers.update(_SCHEME_READERS)
    messages: list[Any] = []
    for path in middleware[: found[0]]:
        if path in readers:
            messages.append(
                checks.Error(
                    f"{path} comes before realip.django.RealIPMiddleware in MIDDLEWARE, but {readers[path]}: it would "
                    "see the proxy, not the client.",
                    hint=HINTS["realip.E008"],
                    id="realip.E008",
                )
            )
    if proto and getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        messages.append(
            checks.Warning(
                f"SECURE_PROXY_SSL_HEADER={settings.SECURE_PROXY_SSL_HEADER!r} decides request.is_secure() before "
                f"realip's PROTO_HEADER ({reading.options['proto_header']!r}) can.",
                hint=HINTS["realip.W002"],
                id="realip.W002",
            )
        )
    return messages
