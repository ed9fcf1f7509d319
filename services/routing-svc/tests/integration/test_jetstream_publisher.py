"""The pipelined JetStream publisher: acks, and JetStream's error answers, resolve at once."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js.api import StreamConfig
from nats.js.errors import APIError
from routing_svc.adapters.jetstream import JetStreamPublisher
from routing_svc.adapters.kv import is_wrong_last


async def test_an_error_answer_fails_the_future_at_once(nats_url: str) -> None:
    """A failed compare-and-set (wrong last sequence) raises JetStream's error within a second
    instead of leaving the caller to the 10 s ack timeout; a good publish gets its sequence."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="T", subjects=["t.*"]))
    publisher = JetStreamPublisher(nc)
    await publisher.start()
    try:
        ok = await asyncio.wait_for(await publisher.publish("t.a", b"1"), 1)
        assert ok.seq == 1
        headers = {"Nats-Expected-Last-Subject-Sequence": "7"}
        future = await publisher.publish("t.a", b"2", headers)
        with pytest.raises(APIError) as caught:
            await asyncio.wait_for(future, 1)
        assert is_wrong_last(caught.value)
    finally:
        await publisher.stop()
        await nc.close()
