"""What FastStream costs a hot consumer, against nats-py doing the same work (issue 17).

The services' hot consumers stay on nats-py; the request/reply handlers off the hot path are
FastStream subscribers (`parley_runtime.broker`). This measures the difference on the two
shapes the hot paths have, with the same trivial handler (parse the JSON body):

- `pull`: a durable JetStream pull consumer with explicit acks, as webhook-svc's intake
  (STATUS, INBOUND, WEBHOOK_RETRY) and routing-svc's SUBMIT/DISPATCH/REPORTS consumers
  consume. nats-py: `fetch(500)`, ack each message. FastStream: `pull_sub=PullSub(500)`, its
  ack after the handler; `raw` reads bytes (`decoder=raw_body`, as Parley's FastStream
  handlers do), `typed` takes a pydantic model (FastStream's idiomatic handler). The stream is
  filled first, so only consumption is timed.
- `reply`: a core request/reply responder in a queue group, as routing-svc's NATS send
  (`parley.api.v1.messages.send`) answers; `IN_FLIGHT` requests outstanding from a client in
  the same process (the same client for both, so the ratio holds).

FastStream's per-message logging is off in every FastStream variant, as in the services.
Each figure is bounded in count (`COUNT`) and time (`BUDGET_S`) and runs on a fresh
embedded nats-server on loopback. `python -m parley_devtools.bench.faststream_cost` prints
the figures as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import orjson
from faststream.nats import NatsBroker, PullSub
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from parley_runtime.broker import raw_body
from pydantic import BaseModel

from parley_devtools.bench.ceilings import SMALL_JSON, fresh_nats

COUNT = 30_000
BUDGET_S = 20.0
IN_FLIGHT = 100
STREAM, SUBJECT, DURABLE = "BENCH", "bench.events", "bench"


class Event(BaseModel):
    """The body's shape, for the typed FastStream handler."""

    id: str
    type: str
    data: dict[str, Any]


async def _filled(url: str, count: int) -> Any:
    """A connection to a server whose stream holds `count` events and a durable consumer."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
    for start in range(0, count, 1000):
        acks = [
            await js.publish_async(SUBJECT, SMALL_JSON) for _ in range(min(1000, count - start))
        ]
        await asyncio.gather(*acks)
    config = ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1)
    await js.add_consumer(STREAM, config)
    return nc


class Counter:
    """Messages handled, and an event set once `count` were."""

    def __init__(self, count: int) -> None:
        self.count, self.seen, self.done = count, 0, asyncio.Event()

    def add(self) -> None:
        """One more handled."""
        self.seen += 1
        if self.seen >= self.count:
            self.done.set()

    async def rate(self, started: float) -> float:
        """Messages per second once all are handled (or the budget ran out)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), BUDGET_S)
        return self.seen / (time.perf_counter() - started)


async def pull_nats_py(count: int = COUNT) -> float:
    """Events per second through the durable consumer with nats-py: fetch(500), ack each."""
    async with fresh_nats() as url:
        nc = await _filled(url, count)
        try:
            sub = await nc.jetstream().pull_subscribe_bind(DURABLE, STREAM)
            done, started = 0, time.perf_counter()
            while done < count and time.perf_counter() - started < BUDGET_S:
                for msg in await sub.fetch(500, timeout=5):
                    orjson.loads(msg.data)
                    await msg.ack()
                    done += 1
            return done / (time.perf_counter() - started)
        finally:
            await nc.close()


async def pull_faststream(count: int = COUNT, typed: bool = False) -> float:
    """Events per second through the same consumer as a FastStream pull subscriber."""
    async with fresh_nats() as url:
        nc = await _filled(url, count)
        broker = NatsBroker(url, logger=None)
        seen = Counter(count)
        if typed:

            async def handle_typed(event: Event) -> None:
                seen.add()

            handler: Callable[..., Awaitable[None]] = handle_typed
            options: dict[str, Any] = {}
        else:

            async def handle_raw(body: bytes) -> None:
                orjson.loads(body)
                seen.add()

            handler, options = handle_raw, {"decoder": raw_body}
        broker.subscriber(
            SUBJECT,
            stream=STREAM,
            durable=DURABLE,
            pull_sub=PullSub(batch_size=500, timeout=5.0),
            **options,
        )(handler)
        try:
            started = time.perf_counter()
            await broker.start()
            return await seen.rate(started)
        finally:
            await broker.stop()
            await nc.close()


async def _requests(url: str, count: int) -> float:
    """Requests per second answered, `IN_FLIGHT` outstanding at a time."""
    nc = await nats.connect(url)
    try:
        gate = asyncio.Semaphore(IN_FLIGHT)
        answered = [0]

        async def one() -> None:
            async with gate:
                await nc.request("bench.send", SMALL_JSON, timeout=10)
                answered[0] += 1

        started = time.perf_counter()
        tasks: set[asyncio.Task[None]] = set()
        for _ in range(count):
            if time.perf_counter() - started > BUDGET_S:
                break
            await gate.acquire()
            gate.release()
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.wait_for(asyncio.gather(*tasks), BUDGET_S)
        return answered[0] / (time.perf_counter() - started)
    finally:
        await nc.close()


async def reply_nats_py(count: int = COUNT // 3) -> float:
    """Requests per second answered by a nats-py queue subscription."""
    async with fresh_nats() as url:
        server = await nats.connect(url)

        async def answer(msg: Any) -> None:
            orjson.loads(msg.data)
            await msg.respond(b'{"status":"accepted"}')

        await server.subscribe("bench.send", queue="bench", cb=answer)
        await server.flush()
        try:
            return await _requests(url, count)
        finally:
            await server.close()


async def reply_faststream(count: int = COUNT // 3) -> float:
    """Requests per second answered by a FastStream subscriber (raw bytes in and out)."""
    async with fresh_nats() as url:
        broker = NatsBroker(url, logger=None)

        async def answer(body: bytes) -> bytes:
            orjson.loads(body)
            return b'{"status":"accepted"}'

        broker.subscriber("bench.send", queue="bench", decoder=raw_body)(answer)
        await broker.start()
        await broker.connection.flush()
        try:
            return await _requests(url, count)
        finally:
            await broker.stop()


async def run() -> dict[str, float]:
    """Every figure, and FastStream's share of nats-py's rate for each shape."""
    out = {
        "faststream_cost_pull_nats_py_per_s": await pull_nats_py(),
        "faststream_cost_pull_raw_per_s": await pull_faststream(),
        "faststream_cost_pull_typed_per_s": await pull_faststream(typed=True),
        "faststream_cost_reply_nats_py_per_s": await reply_nats_py(),
        "faststream_cost_reply_raw_per_s": await reply_faststream(),
    }
    pull, reply = (
        out["faststream_cost_pull_nats_py_per_s"],
        out["faststream_cost_reply_nats_py_per_s"],
    )
    out["faststream_cost_pull_raw_ratio"] = out["faststream_cost_pull_raw_per_s"] / pull
    out["faststream_cost_pull_typed_ratio"] = out["faststream_cost_pull_typed_per_s"] / pull
    out["faststream_cost_reply_raw_ratio"] = out["faststream_cost_reply_raw_per_s"] / reply
    return {k: round(v, 3 if k.endswith("ratio") else 1) for k, v in out.items()}


def main() -> None:
    """Print the figures as JSON."""
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
