"""The lab fixture: built once per session, always torn down. Not root or a tool missing: every lab test fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .build import Running, build
from .netns import Lab, missing_requirements, remove_stale


@pytest.fixture(scope="session")
def lab() -> Iterator[Running]:
    problems = missing_requirements()
    if problems:
        pytest.fail("the TKE lab cannot run: " + "; ".join(problems), pytrace=False)
    remove_stale()
    network = Lab()
    try:
        yield build(network)
    finally:
        network.close()
