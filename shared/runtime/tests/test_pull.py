"""The one JetStream pull loop (`parley_runtime.pull`) against a real nats-server: handover as
stored, bounded in flight, term, delayed redelivery, poison copy then term, keep-alive of held
messages, shared durables and a consumer deleted under it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.js.api import StreamConfig
from parley_devtools.waiting import eventually
from parley_runtime.pull import Durable, Follower, Poisoned, PullLoop, PullSettings

STREAM, SUBJECTS, DURABLE = "PULLTEST", "pulltest.>", "pulltest-worker"
FAST = {"redelivery_delay_seconds": 0.05, "redelivery_delay_max_seconds": 0.1}


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A connection to a server holding an empty PULLTEST stream."""
    conn = await nats.connect(nats_url)
    await conn.jetstream().add_stream(StreamConfig(name=STREAM, subjects=[SUBJECTS]))
    yield conn
    await conn.close()


class Harness:
    """A loop over PULLTEST whose handover, poison store and counts the test can see."""

    def __init__(self, nc: Any, handover: Callable[[PullLoop, Any], Awaitable[None]]) -> None:
        self.nc, self.handover = nc, handover
        self.seen: list[tuple[int, int, bytes]] = []  # (stream seq, deliveries, data)
        self.copies: list[Poisoned] = []
        self.counts: list[str] = []
        self.refuse = 0  # poison copies to refuse before storing

    def build(self, nc: Any | None = None, **settings: Any) -> PullLoop:
        """A loop on `nc` (default the harness's) with these settings."""

        async def handover(msg: Any) -> None:
            meta = msg.metadata
            self.seen.append((meta.sequence.stream, meta.num_delivered, msg.data))
            await self.handover(loop, msg)

        async def poison(copy: Poisoned) -> None:
            if self.refuse:
                self.refuse -= 1
                raise RuntimeError("poison stream full")
            self.copies.append(copy)

        loop = PullLoop(
            nc or self.nc,
            Durable(STREAM, DURABLE, SUBJECTS),
            handover=handover,
            poison=poison,
            settings=PullSettings(**settings),
            count=self.counts.append,
        )
        return loop


async def _ack(loop: PullLoop, msg: Any) -> None:
    await loop.ack([msg.reply])


async def _raise(_: PullLoop, __: Any) -> None:
    raise ValueError("cannot handle")


async def _consumer(nc: Any) -> Any:
    return await nc.jetstream().consumer_info(STREAM, DURABLE)


async def _settled(nc: Any) -> bool:
    info = await _consumer(nc)
    return bool(info.num_ack_pending == 0 and info.num_pending == 0)


async def test_a_message_is_handed_over_as_it_is_stored_and_acked(nc: Any) -> None:
    """A message published after start is handed over with its bytes and acked on the server."""
    harness = Harness(nc, _ack)
    loop = harness.build()
    await loop.start()
    try:
        ack = await nc.jetstream().publish("pulltest.a", b"one")
        await eventually(lambda: harness.seen, 5, "the handover")
        assert harness.seen == [(ack.seq, 1, b"one")]
        await eventually(lambda: _settled(nc), 5, "acknowledged")
        assert loop.held == 0
    finally:
        await loop.stop()
        await loop.close()


async def test_no_more_than_max_in_flight_are_held(nc: Any) -> None:
    """With 5 in flight, 40 stored messages are held at most 5 at a time, and all are handled."""
    held: list[Any] = []
    most: list[int] = []

    async def hold(loop: PullLoop, msg: Any) -> None:
        most.append(loop.held)
        held.append(msg)

    harness = Harness(nc, hold)
    loop = harness.build(batch=4, max_in_flight=5)
    js = nc.jetstream()
    for i in range(40):
        await js.publish("pulltest.a", str(i).encode())
    await loop.start()
    try:
        while len(harness.seen) < 40:
            await eventually(lambda: len(held) == 5 or len(harness.seen) == 40, 5, "5 held")
            assert (await _consumer(nc)).num_ack_pending <= 5
            batch, held[:] = list(held), []
            await loop.ack([m.reply for m in batch])
        assert max(most) <= 5
        assert sorted(int(data) for _, _, data in harness.seen) == list(range(40))
        await eventually(lambda: _settled(nc), 5, "all acknowledged")
    finally:
        await loop.stop()
        await loop.close()


async def test_a_terminated_message_never_comes_back(nc: Any) -> None:
    """A message termed by its handler is counted invalid and never redelivered."""

    async def judge(loop: PullLoop, msg: Any) -> None:
        if msg.data == b"garbage":
            assert await loop.term(msg.reply, "not JSON")
        else:
            await loop.ack([msg.reply])

    harness = Harness(nc, judge)
    loop = harness.build(ack_wait_seconds=1, **FAST)
    await loop.start()
    try:
        await nc.jetstream().publish("pulltest.a", b"garbage")
        await nc.jetstream().publish("pulltest.a", b"good")
        await eventually(lambda: _settled(nc), 5, "both settled")
        assert (await _consumer(nc)).num_redelivered == 0
        assert [data for _, _, data in harness.seen] == [b"garbage", b"good"]
        assert harness.counts == ["invalid"]
    finally:
        await loop.stop()
        await loop.close()


async def test_a_failed_message_comes_back_after_its_delay(nc: Any) -> None:
    """A handler's exception gives the message back with the delay of its first delivery
    (0.5 s): it is handed over again as delivery 2, not before the delay."""
    failures: list[float] = []

    async def fail_once(loop: PullLoop, msg: Any) -> None:
        if not failures:
            failures.append(time.monotonic())
            raise ValueError("not now")
        await loop.ack([msg.reply])

    harness = Harness(nc, fail_once)
    loop = harness.build(redelivery_delay_seconds=0.5, redelivery_delay_max_seconds=5.0)
    await loop.start()
    try:
        await nc.jetstream().publish("pulltest.a", b"retry me")
        await eventually(lambda: len(harness.seen) == 2, 10, "the redelivery")
        again = time.monotonic()
        assert [deliveries for _, deliveries, _ in harness.seen] == [1, 2]
        assert again - failures[0] >= 0.45
        assert harness.counts == ["failed"]
        await eventually(lambda: _settled(nc), 5, "acknowledged")
    finally:
        await loop.stop()
        await loop.close()


@pytest.mark.parametrize(
    ("give_up", "tries", "copied_at"), [("on_failure", 3, 3), ("on_arrival", 3, 4)]
)
async def test_a_message_failing_every_try_is_copied_then_terminated(
    nc: Any, give_up: str, tries: int, copied_at: int
) -> None:
    """With max_deliver 3 a message failing every try is handed over 3 times, copied (bytes and
    origin intact) once the poison store accepts it (a refused copy leaves it to come back),
    and only then terminated: nothing is left pending or looping."""
    harness = Harness(nc, _raise)
    harness.refuse = 1
    loop = harness.build(max_deliver=3, give_up=give_up, ack_wait_seconds=2, **FAST)
    await loop.start()
    try:
        ack = await nc.jetstream().publish("pulltest.poison", b"\x00broken")
        await eventually(lambda: harness.copies, 10, "the poison copy")
        await eventually(lambda: _settled(nc), 5, "terminated")
        [copy] = harness.copies
        assert (copy.stream, copy.subject, copy.sequence) == (STREAM, "pulltest.poison", ack.seq)
        assert (copy.consumer, copy.data) == (DURABLE, b"\x00broken")
        assert copy.deliveries == copied_at + 1  # the refused copy's delivery came back once
        assert harness.counts.count("not_stored") == 1
        assert harness.counts.count("poisoned") == 1
        assert len(harness.seen) == tries + (1 if give_up == "on_failure" else 0)
    finally:
        await loop.stop()
        await loop.close()


async def test_a_message_held_past_the_ack_wait_is_delivered_once(nc: Any) -> None:
    """A handler holding a message 3 s under a 1 s ack wait gets it once: the loop touches it."""
    done = asyncio.Event()

    async def slow(loop: PullLoop, msg: Any) -> None:
        async def later() -> None:
            await asyncio.sleep(3)
            await loop.ack([msg.reply])
            done.set()

        asyncio.get_running_loop().create_task(later())

    harness = Harness(nc, slow)
    loop = harness.build(ack_wait_seconds=1)
    await loop.start()
    try:
        await nc.jetstream().publish("pulltest.a", b"slow")
        await eventually(done.is_set, 10, "handled")
        await asyncio.sleep(1.5)  # past another ack wait: a late redelivery would show now
        assert [deliveries for _, deliveries, _ in harness.seen] == [1]
    finally:
        await loop.stop()
        await loop.close()


async def test_two_processes_sharing_a_durable_never_get_a_message_twice(
    nc: Any, nats_url: str
) -> None:
    """Two loops on their own connections share one durable: 200 messages are each handed
    over exactly once, between them."""
    other = await nats.connect(nats_url)
    harness = Harness(nc, _ack)
    loops = [
        harness.build(batch=8, max_in_flight=16),
        harness.build(other, batch=8, max_in_flight=16),
    ]
    for loop in loops:
        await loop.start()
    try:
        js = nc.jetstream()
        for i in range(200):
            await js.publish("pulltest.a", str(i).encode())
        await eventually(lambda: _settled(nc), 15, "all acknowledged")
        sequences = [seq for seq, _, _ in harness.seen]
        assert sorted(sequences) == list(range(1, 201))
    finally:
        for loop in loops:
            await loop.stop()
            await loop.close()
        await other.close()


async def test_a_deleted_consumer_is_recreated_and_consumed(nc: Any) -> None:
    """When the durable consumer is deleted under a running loop, the loop re-creates it and
    goes on handing over messages stored afterwards."""
    harness = Harness(nc, _ack)
    loop = harness.build(heartbeat_seconds=1, **FAST)  # silent requests are given up after 3 s
    await loop.start()
    try:
        await nc.jetstream().delete_consumer(STREAM, DURABLE)
        await nc.jetstream().publish("pulltest.a", b"after")
        await eventually(lambda: harness.seen, 20, "the message stored after the delete")
        assert harness.seen[0][2] == b"after"
    finally:
        await loop.stop()
        await loop.close()


async def test_messages_given_back_at_stop_go_to_the_next_process_once(
    nc: Any, nats_url: str
) -> None:
    """Seven held messages given back after `stop` are not handed round to the stopping loop's
    own open requests: the next process gets each at its second delivery, long before the
    60 s ack wait."""
    held: list[Any] = []

    async def hold(_: PullLoop, msg: Any) -> None:
        held.append(msg)

    first = Harness(nc, hold).build()
    await first.start()
    js = nc.jetstream()
    for i in range(7):
        await js.publish("pulltest.a", str(i).encode())
    await eventually(lambda: len(held) == 7, 5, "7 held")
    await first.stop()
    await first.nak([m.reply for m in held])
    await asyncio.sleep(0.3)  # a shutdown's other work: nothing may go round meanwhile
    await first.close()
    assert (await _consumer(nc)).delivered.consumer_seq == 7
    other = await nats.connect(nats_url)
    harness = Harness(other, _ack)
    second = harness.build()
    await second.start()
    try:
        await eventually(lambda: len(harness.seen) == 7, 5, "the next process's handovers")
        assert sorted(seq for seq, _, _ in harness.seen) == list(range(1, 8))
        assert {deliveries for _, deliveries, _ in harness.seen} == {2}
    finally:
        await second.stop()
        await second.close()
        await other.close()


async def test_a_loop_started_again_after_stop_pulls_at_once(nc: Any) -> None:
    """A loop stopped and closed, then started again, asks for messages at once (the requests
    of its old inbox are forgotten, not waited out for 30 s)."""
    harness = Harness(nc, _ack)
    loop = harness.build()
    await loop.start()
    await loop.stop()
    await loop.close()
    await loop.start()
    try:
        await nc.jetstream().publish("pulltest.a", b"again")
        await eventually(lambda: harness.seen, 5, "the handover after the new start")
        assert harness.seen[0][2] == b"again"
    finally:
        await loop.stop()
        await loop.close()


async def test_a_follower_settles_through_its_handler_and_stops_after_the_one_in_hand(
    nc: Any,
) -> None:
    """A `Follower` hands each message to `handle`, which acks it itself; a stop that comes
    while a message is being handled waits for it, and the message ends acknowledged."""
    acked: list[bytes] = []
    slow = asyncio.Event()

    class Acker(Follower):
        async def handle(self, msg: Any) -> None:
            if msg.data == b"slow":
                await slow.wait()
            await msg.ack()
            acked.append(msg.data)

    follower = Acker(nc, Durable(STREAM, DURABLE, SUBJECTS), PullSettings(batch=4))
    await follower.start()
    js = nc.jetstream()
    await js.publish("pulltest.a", b"one")
    await eventually(lambda: acked == [b"one"], 5, "the first message acked by its handler")
    await js.publish("pulltest.a", b"slow")
    await eventually(lambda: _holds_one(nc), 5, "the second message in hand")
    stopping = asyncio.create_task(follower.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()  # it waits for the message in hand
    slow.set()
    await stopping
    assert acked == [b"one", b"slow"]
    await eventually(lambda: _settled(nc), 5, "both acknowledged on the server")


async def _holds_one(nc: Any) -> bool:
    return bool((await _consumer(nc)).num_ack_pending == 1)
