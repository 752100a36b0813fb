"""Rate-limited warnings for a trusted peer that sends no header (kube-proxy SNAT) and for a hop-limit stop."""

from __future__ import annotations

import logging

import pytest

from realip import Resolver, diagnostics


@pytest.fixture(autouse=True)
def _fresh() -> None:
    diagnostics.reset()


def test_trusted_peer_without_header_warns_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    result = Resolver(trusted_proxies=("10.0.0.0/8",)).resolve("10.1.2.3", {})
    with caplog.at_level(logging.WARNING, logger="realip"):
        diagnostics.report(result, now=1000.0)
        diagnostics.report(result, now=1000.0 + diagnostics.INTERVAL / 2)
        diagnostics.report(result, now=1000.0 + diagnostics.INTERVAL + 1)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("realip: trusted peer 10.1.2.3 sent no forwarding header")
    assert "externalTrafficPolicy: Local" in messages[0]


def test_hop_limit_warns_and_ordinary_results_do_not(caplog: pytest.LogCaptureFixture) -> None:
    resolver = Resolver(trusted_proxies=("10.0.0.0/8",), max_hops=2)
    with caplog.at_level(logging.WARNING, logger="realip"):
        diagnostics.report(resolver.resolve("10.1.2.3", {"X-Forwarded-For": "198.51.100.7"}))
        diagnostics.report(resolver.resolve("203.0.113.9", {}))
        assert caplog.records == []
        diagnostics.report(resolver.resolve("10.1.2.3", {"X-Forwarded-For": "10.0.0.1, 10.0.0.2, 10.0.0.3"}))
    assert "stopped at max_hops" in caplog.records[0].getMessage()


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_a_loopback_peer_without_header_is_a_local_request_not_a_warning(
    caplog: pytest.LogCaptureFixture, peer: str
) -> None:
    """`realip serve` on a laptop, curl without a header: no Kubernetes advice for a request from this machine."""
    result = Resolver().resolve(peer, {})
    with caplog.at_level(logging.WARNING, logger="realip"):
        diagnostics.report(result)
    assert caplog.records == []


@pytest.mark.parametrize("peer", ["10.1.2.3", "128.0.0.1", "::2", "fe80::1"])
def test_a_trusted_peer_just_outside_loopback_still_warns(caplog: pytest.LogCaptureFixture, peer: str) -> None:
    result = Resolver(trusted_proxies=("10.0.0.0/8", "128.0.0.0/8", "::/126", "link-local")).resolve(peer, {})
    with caplog.at_level(logging.WARNING, logger="realip"):
        diagnostics.report(result)
    assert [r.getMessage().split(" sent ")[0] for r in caplog.records] == [f"realip: trusted peer {peer}"]
