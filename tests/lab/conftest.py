"""The lab fixture: built once per session, always torn down. Without root every lab test is skipped, naming what it
needs (tests/privileges.py); as root, a missing tool fails every lab test, naming the package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.privileges import needs_root

from .build import Running, build
from .netns import Lab, missing_requirements, remove_stale


@pytest.fixture(scope="session")
@needs_root("network namespaces, veth pairs and iptables NAT (the TKE lab)")
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
