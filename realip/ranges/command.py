"""``realip ranges show [NAME]`` and ``realip ranges update NAME``: the preset snapshots from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import PRESETS, RANGES_DIR_VARIABLE, load, user_dir

__all__ = ["add_parser"]


def _show(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else list(PRESETS)
    shown: list[dict[str, Any]] = []
    for name in names:
        snapshot = load(name)
        entry = snapshot.as_dict()
        entry.update(path=snapshot.path, shipped=snapshot.shipped, age_days=snapshot.age_days())
        shown.append(entry)
    if args.json:
        print(json.dumps(shown if not args.name else shown[0], indent=2))
        return 0
    directory = user_dir()
    print(f"{RANGES_DIR_VARIABLE}: {directory if directory is not None else '(not set: the shipped snapshots)'}")
    for entry in shown:
        where = "shipped with realip" if entry["shipped"] else "updated"
        print(
            f"{entry['name']}: {len(entry['networks'])} networks, snapshot of {entry['fetched']} "
            f"({entry['age_days']} days old, {where}: {entry['path']})"
        )
        print(f"  source: {entry['source']}")
        if args.name:
            print("\n".join(f"  {network}" for network in entry["networks"]))
    return 0


def _update(args: argparse.Namespace) -> int:
    from .update import UpdateError, update

    try:
        report = update(args.name, args.url, args.output, args.force)
    except UpdateError as error:
        print(f"realip ranges update {args.name}: refused: {error}", file=sys.stderr)
        return 1
    print(report.text())
    return 0


def add_parser(commands: Any) -> None:
    """Add ``ranges`` with its ``show`` and ``update`` subcommands to the ``realip`` command's subparsers."""
    ranges = commands.add_parser("ranges", help="show or refresh the provider presets (cloudflare, fastly, cloudfront)")
    actions = ranges.add_subparsers(dest="ranges_command", required=True)

    show = actions.add_parser("show", help="which snapshot each preset uses: source, date, networks")
    show.add_argument("name", nargs="?", choices=list(PRESETS), help="one preset (its networks are listed)")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=_show)

    refresh = actions.add_parser(
        "update",
        help="fetch a preset's published list and write a new snapshot",
        description="Fetch the provider's published list, check every network, refuse an empty answer or one that "
        "loses networks (more than 10% needs --force, more than half is always refused), and write the snapshot "
        f"atomically into ${RANGES_DIR_VARIABLE} (which the app reads too) or --output.",
    )
    refresh.add_argument("name", choices=list(PRESETS), help="the preset")
    refresh.add_argument(
        "--url",
        action="append",
        metavar="URL",
        help="fetch this list instead of the provider's (repeatable; https://, file:, or http:// on loopback)",
    )
    refresh.add_argument(
        "--output", metavar="PATH", help=f"the file (or directory) to write; default ${RANGES_DIR_VARIABLE}/NAME.json"
    )
    refresh.add_argument(
        "--force", action="store_true", help="accept losing more than 10%% (never more than half) of the networks"
    )
    refresh.set_defaults(func=_update)
