"""Helpers shared by the framework and server tests (aiohttp, Sanic, Tornado, Litestar, Quart, Falcon, Channels,
granian, hypercorn, Daphne): the option sets a probe server routes by path, and the JSON form of a Result.

A probe server serves ``/<n>/...`` through an adapter built with ``CONFIGS[n]`` (passed to it as JSON in
``PROBE_CONFIGS``), so every loopback scenario goes through real sockets in one server start.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from realip import Result
from tests.scenarios import CONTEXT, LOOPBACK_SCENARIOS, Scenario

__all__ = [
    "CONFIGS",
    "PROTO_OPTIONS",
    "STRIP_FORGED",
    "STRIP_OPTIONS",
    "XFF",
    "config_index",
    "configs_env",
    "expected_port",
    "probe_configs",
    "result_json",
    "scenario_path",
]

#: A trusted hop that states a scheme, for the scheme and websocket tests.
PROTO_OPTIONS: dict[str, object] = {"trusted_proxies": ["loopback"], "proto_header": "x-forwarded-proto"}
#: One forwarded client, for the tests that need any.
XFF = (("X-Forwarded-For", "198.51.100.7"),)
#: The forwarded context with ``strip_untrusted``, for the tests that look at the headers an app is left with.
STRIP_OPTIONS: dict[str, object] = {**CONTEXT, "strip_untrusted": True}
#: What a client sends through a trusted proxy (loopback) to try its luck: a forged entry left of its own, a forged
#: X-Real-IP, a host. With STRIP_OPTIONS the app sees X-Forwarded-For: 198.51.100.7 and X-Forwarded-Host:
#: app.example.com (as the walk believed them), no X-Real-IP, and its Host header says app.example.com.
STRIP_FORGED = (
    ("X-Forwarded-For", "192.0.2.66, 198.51.100.7"),
    ("X-Real-IP", "192.0.2.67"),
    ("X-Forwarded-Host", "App.Example.com"),
)

CONFIGS: list[dict[str, Any]] = []
for _options in [s.options for s in LOOPBACK_SCENARIOS] + [PROTO_OPTIONS, STRIP_OPTIONS]:
    _plain = json.loads(json.dumps(_options))
    if _plain not in CONFIGS:
        CONFIGS.append(_plain)


def config_index(options: dict[str, object]) -> int:
    """The index in ``CONFIGS`` (the path prefix on a probe server) of an option set."""
    return CONFIGS.index(json.loads(json.dumps(options)))


def configs_env() -> dict[str, str]:
    """The environment a probe server reads its option sets from."""
    return {"PROBE_CONFIGS": json.dumps(CONFIGS)}


def probe_configs() -> list[dict[str, Any]]:
    """In the probe server: the option sets, from the environment."""
    import os

    configs: list[dict[str, Any]] = json.loads(os.environ["PROBE_CONFIGS"])
    return configs


def scenario_path(scenario: Scenario) -> tuple[str, str]:
    """``/<config>/<unique tag>`` for a loopback scenario, and the tag (to find its access-log line)."""
    tag = uuid.uuid4().hex[:12]
    return f"/{config_index(scenario.options)}/{tag}", tag


def expected_port(scenario: Scenario, peer_port: int | None) -> int | None:
    """``Result.client_port``: the peer's own port when the client is the peer, else the entry's (or None)."""
    return peer_port if scenario.source == "peer" else scenario.client_port


def result_json(result: Result | None) -> dict[str, Any] | None:
    """A Result as JSON-ready data, fields by name."""
    if result is None:
        return None
    data = result._asdict()
    data["proxies"] = list(result.proxies)
    data["reason"] = str(result.reason)
    return data
