"""The routing consumers keep a message they hold alive: a handler longer than the ack wait is
not given the same message again (no other replica could take it)."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.streams import ensure_streams
from routing_svc.adapters.pull import PullConsumer


async def test_a_message_held_past_the_ack_wait_is_delivered_once(nats_url: str) -> None:
    """A SUBMIT message whose handler takes 7 s under a 2 s ack wait is handed over once."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js, 1)
    deliveries: list[int] = []
    done = asyncio.Event()

    async def slow(msg: Any) -> None:
        deliveries.append(int(msg.metadata.num_delivered))
        await asyncio.sleep(7)
        await msg.ack()
        done.set()

    consumer = PullConsumer(
        nc,
        js,
        stream=subjects.STREAM_SUBMIT,
        durable="test-keepalive",
        filter_subject=subjects.SUBMIT_ALL,
        handler=slow,
        ack_wait_s=2,
    )
    await consumer.start()
    try:
        await js.publish(subjects.submit("acc_1"), b'{"m":"msg_1","a":1}')
        await eventually(done.is_set, 20)
        await asyncio.sleep(2.5)  # past another ack wait: a late redelivery would show now
        assert deliveries == [1]
    finally:
        await consumer.stop()
        await nc.close()
