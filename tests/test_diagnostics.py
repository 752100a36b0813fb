"""Rate-limited warnings for a trusted peer that sends no header (kube-proxy SNAT) and for a hop-limit stop."""

from __future__ import annotations

import logging

import pytest

from realip import Reason, Resolver, Result, diagnostics


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


# -- listeners -----------------------------------------------------------------------------------------------------


def test_no_listener_means_only_the_warning_reasons_are_reported() -> None:
    assert not diagnostics.listening()
    assert diagnostics.WARNING_REASONS == {Reason.NO_HEADER, Reason.HOP_LIMIT}


def test_listener_sees_every_reason_while_subscribed_and_none_after() -> None:
    seen: list[tuple[Reason, object]] = []
    unsubscribe = diagnostics.subscribe(lambda result, request: seen.append((result.reason, request)))
    try:
        assert diagnostics.WARNING_REASONS == set(Reason)  # the adapters now report every request
        resolver = Resolver(trusted_proxies=("10.0.0.0/8",))
        diagnostics.report(resolver.resolve("203.0.113.9", {}), "the request")
        diagnostics.report(resolver.resolve("10.1.2.3", {"X-Forwarded-For": "198.51.100.7"}))
    finally:
        unsubscribe()
    assert seen == [(Reason.UNTRUSTED_PEER, "the request"), (Reason.UNTRUSTED_ENTRY, None)]
    assert diagnostics.WARNING_REASONS == {Reason.NO_HEADER, Reason.HOP_LIMIT}
    unsubscribe()  # twice is harmless


def test_listener_for_some_reasons_and_the_warning_still_logged(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Reason] = []
    unsubscribe = diagnostics.subscribe(lambda result, request: seen.append(result.reason), [Reason.NO_HEADER])
    try:
        assert diagnostics.WARNING_REASONS == {Reason.NO_HEADER, Reason.HOP_LIMIT}
        resolver = Resolver(trusted_proxies=("10.0.0.0/8",))
        with caplog.at_level(logging.WARNING, logger="realip"):
            diagnostics.report(resolver.resolve("10.1.2.3", {}))
            diagnostics.report(resolver.resolve("203.0.113.9", {}))
    finally:
        unsubscribe()
    assert seen == [Reason.NO_HEADER]
    assert "sent no forwarding header" in caplog.records[0].getMessage()


def test_a_failing_listener_is_logged_once_and_never_reaches_the_request(caplog: pytest.LogCaptureFixture) -> None:
    def broken(result: Result, request: object) -> None:
        raise RuntimeError("boom")

    after: list[Reason] = []
    unsubscribe = [diagnostics.subscribe(broken), diagnostics.subscribe(lambda r, q: after.append(r.reason))]
    try:
        result = Resolver().resolve("203.0.113.9", {})
        with caplog.at_level(logging.DEBUG, logger="realip"):
            diagnostics.report(result)
            diagnostics.report(result)
    finally:
        for undo in unsubscribe:
            undo()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "listener" in errors[0].getMessage() and errors[0].exc_info
    assert after == [Reason.UNTRUSTED_PEER, Reason.UNTRUSTED_PEER]  # the next listener still ran
