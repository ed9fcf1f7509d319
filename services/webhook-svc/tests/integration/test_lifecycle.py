"""Stopping gracefully: events held in open batches or waiting on a receiver are given back,
and a worker that ran a while stops at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestServer
from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared.subjects import DURABLE_WEBHOOK_STATUS, STREAM_STATUS
from webhook_svc.bootstrap import SERVICE_KEY, create_app
from webhook_testkit import Account, make_settings, publish_events, status_event


async def test_stop_gives_back_lingering_batches_for_another_worker(
    nats_url: str, master_key_b64: str, js: Any, master: Any, receiver: Receiver
) -> None:
    """Events in a batch still lingering at shutdown are nacked and delivered by the next worker."""
    hook = status_hook(receiver.url("/l"), batch={"enabled": True, "max_events": 50})
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    settings = make_settings(
        nats_url, master_key_b64, batch_linger_ms=1000, batch_eager=False, ack_wait_seconds=60.0
    )
    app = create_app(settings, ("worker",))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    service = app[SERVICE_KEY]
    await eventually(lambda: service.ready()[0], 10, "ready")
    events = [status_event(account.account_id) for _ in range(7)]
    await publish_events(js, events)
    await eventually(lambda: service.sources[0].held == 7, 5, "events held in a lingering batch")
    await server.close()
    assert receiver.on("/l") == []
    status = await js.consumer_info(STREAM_STATUS, DURABLE_WEBHOOK_STATUS)
    # given back once, not bounced between the stopping worker's open requests and its nak
    assert status.delivered.consumer_seq == 7
    settings = make_settings(nats_url, master_key_b64, batch_linger_ms=20, ack_wait_seconds=60.0)
    app = create_app(settings, ("worker",))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        expected = sorted(e["id"] for e in events)
        # within 15 s although ack_wait is 60 s: they were nacked, not abandoned
        await eventually(lambda: sorted(receiver.event_ids("/l")) == expected, 15, "redelivered")
    finally:
        await server.close()


async def test_a_worker_that_ran_a_while_stops_without_waiting_out_the_drain(
    nats_url: str, master_key_b64: str
) -> None:
    """After 11 s of running (two of the purge consumer's 5 s pull cycles), a worker stops at
    once: nothing is left on its connection for the drain to wait on. (The purge consumer on
    nats-py's `fetch` left a message taken off its queue and never marked done, and every stop
    waited out the drain's 30 s timeout: longer than Kubernetes' default grace.)"""
    app = create_app(make_settings(nats_url, master_key_b64), ("worker",))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await eventually(lambda: app[SERVICE_KEY].ready()[0], 10, "ready")
        await asyncio.sleep(11)
    finally:
        began = time.monotonic()
        await server.close()  # (a timeout around it would not tell: nats-py swallows the cancel)
    assert time.monotonic() - began < 5.0  # the drain's own timeout is 30 s
