"""Retry-After parsing and the route-wide back-off window of the HTTP providers."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from routing_svc.adapters.providers.http_common import DOWN_AFTER, RouteHealth, retry_after_s

NOW = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


def test_retry_after_in_seconds_or_http_date() -> None:
    """Delta seconds and an HTTP-date both give seconds; garbage or absence gives None."""
    assert retry_after_s({"Retry-After": "7"}, NOW) == 7.0
    assert retry_after_s({"Retry-After": "Thu, 26 Nov 2026 10:00:30 GMT"}, NOW) == 30.0
    assert retry_after_s({"Retry-After": "Thu, 26 Nov 2026 09:00:00 GMT"}, NOW) == 0.0
    assert retry_after_s({"Retry-After": "soon"}, NOW) is None
    assert retry_after_s({}, NOW) is None


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_is_one_window_for_concurrent_sends_and_doubles_after_it() -> None:
    """Sends put off within one window wait for its end; a throttle after it doubles it."""
    clock = Clock()
    health = RouteHealth(["r"], random.Random(1), clock)
    first = health.backoff_s("r")
    assert 0.5 <= first <= 0.6
    clock.now += 0.25
    assert 0.25 <= health.backoff_s("r") <= 0.3  # same window: no escalation
    clock.now += 0.3
    assert 1.0 <= health.backoff_s("r") <= 1.2  # the next window doubles
    health.answered("r")
    assert 0.5 <= health.backoff_s("r") <= 0.6  # a good answer resets it
    assert health.backoff_s("r", asked=99) == 30.0  # Retry-After, capped
    assert health.backoff_s("r", asked=2) == 2.0


def test_a_route_is_down_after_unanswered_requests_and_up_at_any_answer() -> None:
    """DOWN_AFTER requests without an answer in a row take the route down; any answer, up."""
    health = RouteHealth(["r"])
    for _ in range(DOWN_AFTER - 1):
        health.unreachable("r")
    assert health.up("r")
    health.unreachable("r")
    assert not health.up("r")
    health.answered("r", throttled=True)
    assert health.up("r")
