"""A hanging receiver delays only its own account's deliveries (no head-of-line blocking)."""

from __future__ import annotations

import time
from typing import Any

from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from prometheus_client import REGISTRY
from webhook_testkit import Account, publish_events, status_event


def _deferred() -> float:
    value = REGISTRY.get_sample_value("parley_webhook_deferred_total", {"kind": "status"})
    return value or 0.0


async def test_hanging_receiver_does_not_slow_other_accounts(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """With one endpoint hanging on every request, another account's burst arrives promptly."""
    stuck = Account(master, status_webhook=status_hook(receiver.url("/hang")))
    healthy = Account(master, status_webhook=status_hook(receiver.url("/ok")))
    await stuck.publish(js)
    await healthy.publish(js)
    receiver.script("/hang", ["hang"] * 1000)
    deferred_before = _deferred()
    service = await start_service(
        endpoint_concurrency=4,
        endpoint_max_pending=20,
        endpoint_slow_seconds=0.2,
        defer_seconds=30.0,
    )
    await publish_events(js, [status_event(stuck.account_id) for _ in range(4)])
    await eventually(lambda: len(receiver.on("/hang")) == 4, 5, "stuck endpoint saturated")
    await eventually(lambda: time.time() - receiver.on("/hang")[-1].at > 0.3, 5, "slow")
    await publish_events(js, [status_event(stuck.account_id) for _ in range(200)])
    await eventually(lambda: _deferred() - deferred_before >= 184, 5, "overflow deferred")
    started = time.monotonic()
    events = [status_event(healthy.account_id) for _ in range(100)]
    await publish_events(js, events)
    await eventually(lambda: len(receiver.on("/ok")) == 100, 5, "healthy deliveries")
    assert time.monotonic() - started < 2.0
    assert sorted(receiver.event_ids("/ok")) == sorted(e["id"] for e in events)
    assert len(receiver.on("/hang")) == 4
    # The stuck endpoint holds only its share, `endpoint_max_pending` (events the pull loop
    # has just handed over may count for a moment, until their overflow batch is deferred).
    await eventually(lambda: service.sources[0].held == 20, 5, "the stuck endpoint's share")
