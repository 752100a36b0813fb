"""Every setting realip reads, in one table: its keyword, its ``REALIP_*`` environment variable (which is also its
Flask config key), its key in Django's ``REALIP`` dict, and the Django system check that reports a bad value.

Adapters map a :class:`~realip.ConfigError` back to the setting the user wrote through ``error.option`` and this
table, never by reading the message.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BY_KEYWORD", "MAX_HOPS_LIMIT", "OPTIONS", "RESOLVER_KEYWORDS", "Option"]

#: The largest ``max_hops`` (and ``trusted_hops``) accepted: far beyond any real chain, and a bound on the work.
MAX_HOPS_LIMIT = 1000


class Option(NamedTuple):
    """One setting, under each of the names it is given by."""

    #: The keyword of :class:`~realip.Resolver` or of the adapters.
    keyword: str
    #: The environment variable, also the Flask ``app.config`` key; ``None`` if it has none.
    variable: str | None
    #: The key in Django's ``REALIP`` setting.
    django: str
    #: The Django system check id reporting a bad value.
    check: str
    #: The default, as documentation shows it.
    default: str
    #: What it does, in a line.
    summary: str


OPTIONS: tuple[Option, ...] = (
    Option(
        "trusted_proxies",
        "REALIP_TRUSTED_PROXIES",
        "TRUSTED_PROXIES",
        "realip.E003",
        "loopback",
        "the proxies whose word is taken: addresses, CIDR networks, ranges, globs or named sets; () trusts nothing",
    ),
    Option(
        "header",
        "REALIP_HEADER",
        "HEADER",
        "realip.E004",
        "x-forwarded-for",
        "the one header the proxies write the client into, or several names read as one chain",
    ),
    Option(
        "trusted_hops",
        "REALIP_TRUSTED_HOPS",
        "TRUSTED_HOPS",
        "realip.E005",
        "None",
        "hop-count mode: the client is this many entries from the right (needs trusted_proxies)",
    ),
    Option(
        "max_hops",
        "REALIP_MAX_HOPS",
        "MAX_HOPS",
        "realip.E005",
        "20",
        f"the most header entries one request may make realip examine (1-{MAX_HOPS_LIMIT})",
    ),
    Option(
        "proto_header",
        "REALIP_PROTO_HEADER",
        "PROTO_HEADER",
        "realip.E006",
        "None",
        "the header the client's own hop writes the scheme into, e.g. x-forwarded-proto, or forwarded",
    ),
    Option(
        "host_header",
        "REALIP_HOST_HEADER",
        "HOST_HEADER",
        "realip.E006",
        "None",
        "the header the client's own hop writes the requested host into, e.g. x-forwarded-host, or forwarded",
    ),
    Option(
        "port_header",
        "REALIP_PORT_HEADER",
        "PORT_HEADER",
        "realip.E006",
        "None",
        "the header the client's own hop writes the requested port into, e.g. x-forwarded-port, or forwarded",
    ),
    Option(
        "prefix_header",
        "REALIP_PREFIX_HEADER",
        "PREFIX_HEADER",
        "realip.E006",
        "None",
        "the header the proxy writes the path prefix it removed into, e.g. x-forwarded-prefix",
    ),
    Option(
        "allowed_hosts",
        "REALIP_ALLOWED_HOSTS",
        "ALLOWED_HOSTS",
        "realip.E011",
        "None (Django: ALLOWED_HOSTS)",
        "the hosts a forwarded host may name: names, .example.com for a domain and its subdomains, or *",
    ),
    Option(
        "strip_untrusted",
        "REALIP_STRIP_UNTRUSTED",
        "STRIP_UNTRUSTED",
        "realip.E012",
        "False",
        "remove the forwarding headers realip did not believe before the app sees them",
    ),
    Option(
        "chain",
        "REALIP_CHAIN",
        "CHAIN",
        "realip.E013",
        "None",
        "the hops from the client inwards, each trusted only at its place: 'cloudflare[cf-connecting-ip] -> "
        "clb=100.64.0.0/10 -> ingress=10.0.0.0/8' (instead of trusted_proxies)",
    ),
    Option(
        "layer4_proxies",
        "REALIP_LAYER4_PROXIES",
        "LAYER4_PROXIES",
        "realip.E010",
        "None",
        "the Layer-4 load balancers whose TOA or PROXY protocol client is believed (their own headers never are)",
    ),
    Option(
        "layer4",
        "REALIP_LAYER4",
        "LAYER4",
        "realip.E009",
        "None",
        "where a Layer-4 load balancer carries the client: proxy-protocol, toa:capture, toa:saved-syn or toa:kernel",
    ),
    Option(
        "rewrite_remote_addr",
        None,
        "REWRITE_REMOTE_ADDR",
        "realip.E007",
        "True",
        "Django only: write the client into request.META['REMOTE_ADDR'] too",
    ),
)

#: The options of :class:`~realip.Resolver` itself, in its signature's order.
RESOLVER_KEYWORDS: tuple[str, ...] = (
    "trusted_proxies",
    "header",
    "trusted_hops",
    "max_hops",
    "proto_header",
    "layer4_proxies",
    "host_header",
    "port_header",
    "prefix_header",
    "allowed_hosts",
    "strip_untrusted",
    "chain",
)

#: Keyword -> option.
BY_KEYWORD: dict[str, Option] = {option.keyword: option for option in OPTIONS}
