"""Rate-limit keys from a Result: buckets (IPv4 per address, IPv6 per /64), the no-client policy, the ``limits``
library driven directly, and the classic failures shown gone on the core alone. The framework limiters (slowapi,
flask-limiter, django-ratelimit) are tested through their own test clients in ``test_ratelimit_*.py``."""

from __future__ import annotations

import pytest
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from realip import ConfigError, Reason, Resolver
from realip.ratelimit import (
    UNRESOLVED_REASONS,
    KeyPolicy,
    NotResolved,
    UnresolvedClient,
    bucket,
    client_key,
    is_unresolved,
)

PROXY = "10.0.0.5"
RESOLVER = Resolver(trusted_proxies=["10.0.0.0/8"])


def key_of(xff: str | None, peer: str = PROXY, policy: KeyPolicy | None = None) -> str:
    headers = {} if xff is None else {"X-Forwarded-For": xff}
    result = RESOLVER.resolve((peer, 40000), headers)
    return (policy or KeyPolicy()).key(result)


@pytest.mark.parametrize(
    ("scenario", "xff", "peer", "key"),
    [
        ("ipv4 client behind the proxy", "198.51.100.7", PROXY, "198.51.100.7"),
        ("ipv4 client connecting directly", None, "203.0.113.9", "203.0.113.9"),
        ("forged entry left of the real client", "192.0.2.66, 198.51.100.7", PROXY, "198.51.100.7"),
        ("ipv6 client: its /64", "2001:db8:1:2:aaaa::1", PROXY, "2001:db8:1:2::/64"),
        ("ipv6 client, another address in the same /64", "2001:db8:1:2:ffff::9", PROXY, "2001:db8:1:2::/64"),
        ("ipv6 client with a port", "[2001:db8:1:3::1]:443", PROXY, "2001:db8:1:3::/64"),
        ("ipv4-mapped ipv6 is the ipv4 client", "::ffff:198.51.100.7", PROXY, "198.51.100.7"),
        ("direct ipv6 peer", None, "2001:db8:9::1", "2001:db8:9::/64"),
        ("trusted proxy without header: unresolved", None, PROXY, "unresolved:10.0.0.5"),
        ("malformed entry written by a trusted hop: unresolved", "bogus, 10.0.0.9", PROXY, "unresolved:10.0.0.9"),
    ],
)
def test_keys(scenario: str, xff: str | None, peer: str, key: str) -> None:
    assert key_of(xff, peer) == key, scenario


def test_prefixes_are_configurable() -> None:
    assert key_of("2001:db8:1:2:aaaa::1", policy=KeyPolicy(ipv6_prefix=48)) == "2001:db8:1::/48"
    assert key_of("2001:db8:1:2:aaaa::1", policy=KeyPolicy(ipv6_prefix=128)) == "2001:db8:1:2:aaaa::1"
    assert key_of("198.51.100.7", policy=KeyPolicy(ipv4_prefix=24)) == "198.51.100.0/24"
    assert bucket("testclient") == "testclient"  # not an address: its own bucket


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ipv6_prefix": 0}, r"ipv6_prefix=0 must be a whole number from 1 to 128"),
        ({"ipv6_prefix": 129}, r"ipv6_prefix=129 must be a whole number from 1 to 128"),
        ({"ipv4_prefix": 33}, r"ipv4_prefix=33 must be a whole number from 1 to 32"),
        ({"ipv4_prefix": "24"}, r"ipv4_prefix='24' must be a whole number"),
        ({"unresolved": "peer"}, r"unresolved='peer' must be 'bucket' .* or 'error'"),
    ],
)
def test_bad_policy_is_a_config_error(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        KeyPolicy(**options)  # type: ignore[arg-type]
    assert raised.value.option == next(iter(options))


def test_unresolved_error_policy_and_missing_result() -> None:
    result = RESOLVER.resolve(PROXY, {})
    assert result.reason is Reason.NO_HEADER and is_unresolved(result)
    with pytest.raises(UnresolvedClient, match=r"reason no-header, stopped at 10\.0\.0\.5") as raised:
        KeyPolicy(unresolved="error").key(result)
    assert raised.value.result is result
    with pytest.raises(NotResolved, match=r"Install realip's middleware and make it run before the limiter"):
        client_key(None)


def test_unix_socket_peer_is_unresolved() -> None:
    result = Resolver(trusted_proxies=["unix"]).resolve(None, {})
    assert result.client_ip is None
    assert client_key(result) == "unresolved:unix"


def test_which_reasons_are_unresolved() -> None:
    """Every reason is classified on purpose: a reason added to Reason must be added here too."""
    resolved = {Reason.UNTRUSTED_PEER, Reason.UNTRUSTED_ENTRY, Reason.ALL_TRUSTED, Reason.HOP_COUNT, Reason.LAYER4}
    resolved.add(Reason.PROVIDER_HEADER)
    assert resolved | UNRESOLVED_REASONS == set(Reason)
    assert not resolved & UNRESOLVED_REASONS


# -- the limits library, driven directly ---------------------------------------------------------------------------


def test_limits_library_each_client_its_own_bucket_and_no_escape_by_rotation() -> None:
    limiter = FixedWindowRateLimiter(MemoryStorage())
    rate = RateLimitItemPerMinute(3)

    def allowed(xff: str) -> bool:
        return limiter.hit(rate, "login", key_of(xff))

    # The whole site is not one bucket: five clients behind the same proxy each get their three requests.
    for n in range(5):
        assert [allowed(f"198.51.100.{n}") for _ in range(3)] == [True, True, True]
    # Rotating a forged X-Forwarded-For (the proxy appends the real client) does not make a new bucket.
    assert [allowed(f"192.0.2.{n}, 203.0.113.9") for n in range(5)] == [True, True, True, False, False]
    # Nor does rotating addresses inside one's own IPv6 /64.
    assert [allowed(f"2001:db8:7:7::{n:x}") for n in range(1, 6)] == [True, True, True, False, False]
