"""Tests that need root, and what a run without root does with them.

A test needs root when it builds network namespaces, opens raw or packet sockets, or changes iptables. It says so
with the ``root`` marker, naming what it needs: on the test, ``@pytest.mark.root("CAP_NET_RAW: a raw socket")``,
or, for every test that uses a fixture, on the fixture (below the ``@pytest.fixture`` line)::

    @pytest.fixture
    @needs_root("CAP_NET_RAW: injects segments with a raw socket")
    def inject() -> ...

tests/conftest.py marks every test that uses such a fixture, directly or through another fixture. Without root,
each of them is skipped with one line naming what it needs, and the run ends with one line saying how many there
were and how to run them; ``pytest -m "not root"`` leaves them out silently. As root they run like any other test.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import pytest

__all__ = ["HOW_TO_RUN", "MARK", "is_root", "needs_root", "root_needs"]

#: The marker's name: ``pytest -m root`` selects these tests, ``-m "not root"`` the unprivileged subset.
MARK = "root"

#: The command that runs every test, the root-only ones included.
HOW_TO_RUN = "sudo ./scripts/test"

_ATTRIBUTE = "_realip_needs_root"

F = TypeVar("F", bound=Callable[..., object])


def needs_root(what: str) -> Callable[[F], F]:
    """Mark a fixture as needing root for ``what``; every test using it, even indirectly, is a root test."""

    def mark(function: F) -> F:
        setattr(function, _ATTRIBUTE, what)
        return function

    return mark


def is_root() -> bool:
    """Whether this process can do what the root tests need (effective uid 0)."""
    return os.geteuid() == 0


def root_needs(item: pytest.Item) -> str | None:
    """What the test needs root for (its ``root`` marker or a fixture's :func:`needs_root`), or None."""
    marker = item.get_closest_marker(MARK)
    if marker is not None:
        return str(marker.args[0]) if marker.args else "root"
    # Every fixture the test uses, directly or through other fixtures (pytest resolves this closure at collection).
    info = getattr(item, "_fixtureinfo", None)
    for definitions in getattr(info, "name2fixturedefs", {}).values():
        for definition in definitions:
            what = getattr(definition.func, _ATTRIBUTE, None)
            if what is not None:
                return str(what)
    return None
