"""The ``realip`` command: ``realip explain`` walks a request by hand; ``realip serve`` runs the who-am-I probe;
``realip doctor`` lints a configuration and the live path (:mod:`realip.doctor`)."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .errors import ConfigError
from .ranges.command import add_parser as add_ranges_parser
from .resolver import Resolver

__all__ = ["main"]


def _header_line(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not 'Name: value'")
    return name.strip(), value.strip(" \t")


def _add_resolver_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust",
        action="append",
        metavar="ENTRY",
        help="a trusted proxy: address, CIDR, range, glob or named set (repeatable); "
        "default: REALIP_TRUSTED_PROXIES, else loopback",
    )
    parser.add_argument(
        "--header",
        metavar="NAME",
        action="append",
        help="the forwarding header (repeat for a chain of names); default x-forwarded-for",
    )
    parser.add_argument(
        "--chain",
        metavar="HOPS",
        help="the hops from the client inwards, each trusted only at its place, instead of --trust: "
        "'cloudflare[cf-connecting-ip] -> clb=100.64.0.0/10 -> ingress=10.0.0.0/8'; default: REALIP_CHAIN",
    )
    parser.add_argument("--hops", type=int, metavar="N", help="hop-count mode: the client is entry N from the right")
    parser.add_argument("--max-hops", type=int, metavar="N", help="bound on entries examined (default 20)")
    parser.add_argument("--proto-header", metavar="NAME", help="header giving the scheme, e.g. x-forwarded-proto")
    parser.add_argument("--host-header", metavar="NAME", help="header giving the host, e.g. x-forwarded-host")
    parser.add_argument("--port-header", metavar="NAME", help="header giving the port, e.g. x-forwarded-port")
    parser.add_argument("--prefix-header", metavar="NAME", help="header giving the path prefix (x-forwarded-prefix)")
    parser.add_argument(
        "--allowed-host", action="append", metavar="HOST", help="a host a forwarded host may name (repeatable)"
    )
    parser.add_argument(
        "--strip-untrusted",
        action="store_true",
        default=None,
        help="remove the forwarding headers realip did not believe before the app sees them",
    )
    parser.add_argument(
        "--layer4-proxy",
        action="append",
        metavar="ENTRY",
        help="a Layer-4 load balancer whose TOA or PROXY protocol client is believed (repeatable); "
        "default: REALIP_LAYER4_PROXIES",
    )


def _resolver(args: argparse.Namespace) -> Resolver:
    overrides: dict[str, object] = {}
    if args.trust is not None:
        overrides["trusted_proxies"] = tuple(args.trust)
    if args.chain is not None:
        overrides["chain"] = args.chain
        if args.trust is None:  # the chain replaces trusted_proxies, from the environment's too
            overrides["trusted_proxies"] = None
    if args.header:
        overrides["header"] = args.header[0] if len(args.header) == 1 else tuple(args.header)
    if args.hops is not None:
        overrides["trusted_hops"] = args.hops
    if args.max_hops is not None:
        overrides["max_hops"] = args.max_hops
    if args.proto_header is not None:
        overrides["proto_header"] = args.proto_header
    for option in ("host_header", "port_header", "prefix_header", "strip_untrusted"):
        if getattr(args, option) is not None:
            overrides[option] = getattr(args, option)
    if args.allowed_host is not None:
        overrides["allowed_hosts"] = tuple(args.allowed_host)
    if args.layer4_proxy is not None:
        overrides["layer4_proxies"] = tuple(args.layer4_proxy)
    return Resolver.from_env(None, **overrides)


def _explain(args: argparse.Namespace) -> int:
    from .explain import explain
    from .ranges import describe as describe_presets

    resolver = _resolver(args)
    peer: str | None = None if args.peer in ("unix", "") else args.peer
    explanation = explain(resolver, peer, list(args.H or ()))
    presets = describe_presets(resolver)  # the provider presets trusted: source and snapshot date
    if args.json:
        print(json.dumps({**explanation.as_dict(), "presets": [use.as_dict() for use in presets]}, indent=2))
    else:
        if resolver.chain is None:  # a chain prints its hops below
            trusted = ", ".join(resolver.trusted_proxies) or "(nothing)"
            print(f"trusted: {trusted}; header: {', '.join(resolver.header)}")
        print("\n".join(use.text() for use in presets), end="\n" if presets else "")
        print(explanation.text())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .serve import run

    layer4 = args.layer4 or ("proxy-protocol" if args.proxy_protocol else f"toa:{args.toa}" if args.toa else None)
    run(_resolver(args), host=args.host, port=args.port, layer4=layer4)
    return 0


def version_line() -> str:
    """What ``realip --version`` prints: the version, which implementation each package runs, and the Python.

    A bug report that quotes it says whether the compiled parts were built (``c``) or the pure-Python twins run.
    """
    import realip
    import realip_toa

    return (
        f"realip {realip.__version__} (realip: {realip.IMPLEMENTATION}, realip_toa: {realip_toa.IMPLEMENTATION}; "
        f"{platform.python_implementation()} {platform.python_version()})"
    )


class _Version(argparse.Action):
    """``--version``, computed only when asked (it imports realip_toa, which no other command needs)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        print(version_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="realip", description="Resolve the real client IP behind proxies.")
    parser.add_argument("--version", action=_Version, help="print the version and the implementation in use, and exit")
    commands = parser.add_subparsers(dest="command", required=True)

    explain = commands.add_parser("explain", help="walk one request's forwarding headers hop by hop")
    explain.add_argument("--peer", required=True, help="the socket peer address ('unix' for a UNIX socket)")
    explain.add_argument(
        "-H",
        action="append",
        type=_header_line,
        metavar="'NAME: VALUE'",
        help="a request header (repeatable, in order)",
    )
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_resolver_options(explain)
    explain.set_defaults(func=_explain)

    serve = commands.add_parser("serve", help="run the who-am-I probe under uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    layer4 = serve.add_mutually_exclusive_group()
    layer4.add_argument(
        "--layer4",
        metavar="KIND",
        help="read the client a Layer-4 load balancer carries: proxy-protocol, toa:capture, toa:saved-syn or "
        "toa:kernel (default: REALIP_LAYER4); the balancers are --layer4-proxy / REALIP_LAYER4_PROXIES",
    )
    layer4.add_argument("--proxy-protocol", action="store_true", help="the same as --layer4 proxy-protocol")
    layer4.add_argument(
        "--toa", metavar="MODE", choices=("capture", "saved-syn", "kernel"), help="the same as --layer4 toa:MODE"
    )
    _add_resolver_options(serve)
    serve.set_defaults(func=_serve)

    add_ranges_parser(commands)  # realip ranges show / update (realip/ranges/command.py)
    from .doctor import add_doctor  # imports no framework until it runs

    add_doctor(commands, _add_resolver_options, _resolver)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``realip`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as error:
        print(f"realip: configuration error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
