"""The per-address login rate limit: token buckets, IPv6 by /64, a bounded table."""

from __future__ import annotations

import ipaddress

import pytest
from account_svc.domain.rate_limit import RateLimiter, rate_key


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_a_refusal_that_says_when() -> None:
    """`burst` attempts pass at once; the next is refused with the seconds until a token."""
    clock = Clock()
    limiter = RateLimiter(per_minute=30, burst=3, clock=clock)
    assert [limiter.take("198.51.100.7") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("198.51.100.7") == pytest.approx(2.0)


def test_tokens_come_back_at_the_rate_and_no_more_than_the_burst() -> None:
    """After a refusal, one attempt a rate period passes; a long idle refills only the burst."""
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    limiter.take("a")
    limiter.take("a")
    assert limiter.take("a") > 0
    clock.now += 1.0
    assert limiter.take("a") == 0.0
    clock.now += 3600.0
    assert [limiter.take("a") for _ in range(3)][2] > 0


def test_addresses_are_counted_apart() -> None:
    """One address at its limit does not limit another."""
    limiter = RateLimiter(per_minute=1, burst=1, clock=Clock())
    assert limiter.take("203.0.113.1") == 0.0
    assert limiter.take("203.0.113.1") > 0
    assert limiter.take("203.0.113.2") == 0.0


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    """Two addresses of one /64 share a key; another /64 does not."""
    one = ipaddress.ip_address("2001:db8:1:2::1")
    two = ipaddress.ip_address("2001:db8:1:2:ffff::9")
    other = ipaddress.ip_address("2001:db8:1:3::1")
    assert rate_key(one) == rate_key(two) == "2001:db8:1:2::/64"
    assert rate_key(other) != rate_key(one)
    assert rate_key(ipaddress.ip_address("192.0.2.1")) == "192.0.2.1"
    assert rate_key(None) == "unknown"


def test_the_table_forgets_the_address_idle_longest() -> None:
    """Past `max_keys` the least recently seen address is dropped, and only that one."""
    clock = Clock()
    limiter = RateLimiter(per_minute=1, burst=1, max_keys=2, clock=clock)
    limiter.take("old")
    limiter.take("busy")
    limiter.take("old")  # seen again: now the most recent
    limiter.take("new")  # a third key: "busy" is dropped
    assert len(limiter) == 2
    assert limiter.take("old") > 0  # still remembered as spent
    assert limiter.take("busy") == 0.0  # forgotten: a fresh bucket
