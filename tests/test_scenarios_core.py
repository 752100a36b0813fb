"""The shared scenario table through the core resolver."""

from __future__ import annotations

import pytest

from realip import Resolver
from tests.scenarios import SCENARIOS, Scenario


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(scenario: Scenario) -> None:
    result = Resolver(**scenario.options).resolve(scenario.peer, scenario.headers)  # type: ignore[arg-type]
    assert (result.client_ip, result.client_port, result.source) == (
        scenario.client_ip,
        scenario.client_port,
        scenario.source,
    )
    assert result.scheme == scenario.scheme
    assert (result.host, result.server_port, result.prefix) == (scenario.host, scenario.server_port, scenario.prefix)
