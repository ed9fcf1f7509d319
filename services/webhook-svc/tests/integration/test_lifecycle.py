"""Stopping gracefully: events held in open batches or waiting on a receiver are given back."""

from __future__ import annotations

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
