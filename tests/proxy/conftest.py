"""Fixtures for the PROXY protocol parser tests: both implementations, side by side."""

from __future__ import annotations

from types import ModuleType

import pytest

from realip_toa import _proxy_pure


def c_parser() -> ModuleType:
    """The compiled parser; its absence is a failure (the build must produce it), never a skip."""
    from realip_toa import _proxy

    return _proxy


@pytest.fixture(params=["c", "python"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """Each parser implementation in turn: every vector runs through both."""
    return c_parser() if request.param == "c" else _proxy_pure
