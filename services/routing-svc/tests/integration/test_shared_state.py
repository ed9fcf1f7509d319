"""What replicas share through NATS KV: route capacity leases and handover claims."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.js.errors import KeyNotFoundError
from parley_devtools.buckets import live_keys
from parley_devtools.waiting import LoopTurns, eventually
from parley_shared.sealing import MasterKey
from routing_svc.adapters import kv
from routing_svc.adapters.capacity import CapacityLeases, window_of
from routing_svc.adapters.handovers import KvHandovers, KvUserParts
from routing_svc.adapters.jetstream import JetStreamPublisher
from routing_svc.domain.channels import Route
from routing_svc.domain.vault import Vault


@pytest.fixture
async def buckets(nats_url: str) -> AsyncIterator[dict[str, Any]]:
    """routing-svc's buckets on a fresh server, with a pipelined publisher."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    publisher = JetStreamPublisher(nc)
    await publisher.start()
    found = {spec.name: await kv.ensure_bucket(js, spec, 1) for spec in kv.bucket_specs(60, 60)}
    yield {"publisher": publisher, "js": js, **found}
    await publisher.stop()
    await nc.close()


class Clock:
    """A clock two leasers share; `sleep` moves it (and yields to the other tasks)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += max(delay, 0.0)
        await asyncio.sleep(0)


async def test_two_replicas_never_exceed_a_routes_capacity_per_window(
    buckets: dict[str, Any],
) -> None:
    """Two leasers (two replicas) taking 200 sends from a 40/s route get at most 40 per window
    between them, and use the windows fully."""
    clock = Clock(1_000_000.0)
    route = Route("sms-x", "sms", 40)
    replicas = [
        CapacityLeases(buckets[kv.CAPACITY], clock=clock, sleep=clock.sleep) for _ in range(2)
    ]
    windows: Counter[int] = Counter()

    async def send(leases: CapacityLeases) -> None:
        await leases.take(route)
        windows[window_of(route, clock())[0]] += 1

    await asyncio.gather(*(send(replicas[i % 2]) for i in range(200)))
    assert sum(windows.values()) == 200
    assert max(windows.values()) <= 40
    assert len(windows) == 5  # 200 sends at 40 per window: five windows, none wasted


async def test_a_route_slower_than_one_a_second_gets_longer_windows(
    buckets: dict[str, Any],
) -> None:
    """At 0.5/s a window lasts 2 s and allows one send."""
    clock = Clock(2_000_000.0)
    leases = CapacityLeases(buckets[kv.CAPACITY], clock=clock, sleep=clock.sleep)
    route = Route("tc-slow", "truecaller", 0.5)
    times = []
    for _ in range(3):
        await leases.take(route)
        times.append(clock())
    assert [round(t - times[0], 3) for t in times] == [0.0, 2.0, 4.0]


async def test_sends_waiting_for_one_lease_all_go_in_one_turn(buckets: dict[str, Any]) -> None:
    """300 sends that find the route's lease empty share one lease and all go on together,
    not one per turn of the event loop (a lock did that: on a busy loop a window's start
    stalled every send for hundreds of turns)."""
    route = Route("sms-busy", "sms", 10_000)  # a chunk of 1,000 covers them all
    clock = Clock(4_000_000.5)  # mid-window: no window change, no prefetch during the test
    leases = CapacityLeases(buckets[kv.CAPACITY], clock=clock, sleep=clock.sleep)
    done_at: list[int] = []

    async with LoopTurns() as turns:

        async def send() -> None:
            await leases.take(route)
            done_at.append(turns.count)

        await asyncio.gather(*(send() for _ in range(300)))
    assert len(done_at) == 300
    assert max(done_at) - min(done_at) <= 1
    entry = await buckets[kv.CAPACITY].get("sms-busy.4000000")
    assert int(entry.value) == 1_000  # one lease of one chunk, shared by all 300


async def test_the_next_windows_lease_is_taken_before_the_window_starts(
    buckets: dict[str, Any],
) -> None:
    """A send in the last tenth of a window leases the next window's first chunk in the
    background; sends in the next window use it without another lease."""
    route = Route("sms-ahead", "sms", 100)  # chunks of 10
    clock = Clock(3_000_000.95)  # 50 ms before window 3,000,001 starts
    leases = CapacityLeases(buckets[kv.CAPACITY], clock=clock, sleep=clock.sleep)
    bucket = buckets[kv.CAPACITY]
    await leases.take(route)

    async def next_window_leased() -> int:
        try:
            return int((await bucket.get("sms-ahead.3000001")).value)
        except KeyNotFoundError:
            return 0

    assert await eventually(next_window_leased, what="the next window's lease") == 10
    revision = (await bucket.get("sms-ahead.3000001")).revision
    clock.now = 3_000_001.2
    for _ in range(10):
        await leases.take(route)
    entry = await bucket.get("sms-ahead.3000001")
    assert (entry.revision, int(entry.value)) == (revision, 10)  # no lease in the window


async def test_a_claim_lets_one_resend_through_then_none(buckets: dict[str, Any]) -> None:
    """First claim sends; a redelivery with no answer heard sends once more; a third does not."""
    handovers = KvHandovers(buckets[kv.HANDOVERS], kv.KvWriter(buckets["publisher"], kv.HANDOVERS))
    first = await handovers.claim("msg_a", 1, "sms-1")
    second = await handovers.claim("msg_a", 1, "sms-2")
    third = await handovers.claim("msg_a", 1, "sms-2")
    assert (first.send, second.send, third.send) == (True, True, False)
    assert second.route == third.route == "sms-1"  # a resend stays on the first route


async def test_a_handed_attempt_is_never_sent_again_and_its_ids_resolve(
    buckets: dict[str, Any],
) -> None:
    """Once the provider's ids are recorded, a claim says do not send, and each id resolves to
    its attempt and part (any id text, dots and slashes included)."""
    handovers = KvHandovers(buckets[kv.HANDOVERS], kv.KvWriter(buckets["publisher"], kv.HANDOVERS))
    await handovers.claim("msg_b", 2, "sms-1")
    ids = ("wamid.HBgL/+x==", "a1b2")
    await asyncio.gather(*await handovers.handed("msg_b", 2, "sms-1", ids))
    claim = await handovers.claim("msg_b", 2, "sms-1")
    assert (claim.send, claim.provider_ids) == (False, ids)
    found = await handovers.resolve("sms-1", "wamid.HBgL/+x==")
    assert found is not None
    assert (found.message_id, found.attempt, found.part, found.parts) == ("msg_b", 2, 1, 2)
    assert await handovers.resolve("sms-2", "a1b2") is None  # ids are per route


async def test_provider_ids_kept_in_memory_are_not_scanned_by_the_garbage_collector(
    buckets: dict[str, Any],
) -> None:
    """The provider ids a process wrote resolve from memory as from the bucket, and what it
    keeps of them is nothing the cyclic garbage collector tracks (a long-running process keeps
    up to 100,000: every full collection would scan them all)."""
    writer = kv.KvWriter(buckets["publisher"], kv.HANDOVERS)
    handovers = KvHandovers(buckets[kv.HANDOVERS], writer)
    for n in range(200):
        await asyncio.gather(*await handovers.handed(f"msg_{n}", 1, "sms-1", (f"id-{n}", f"x{n}")))
    gc.collect()
    kept = list(handovers._known.values())
    assert len(kept) == 400
    assert not any(gc.is_tracked(entry) for entry in kept)
    fresh = KvHandovers(buckets[kv.HANDOVERS], writer)  # another replica: from the bucket
    for ids in (handovers, fresh):
        found = await ids.resolve("sms-1", "x7")
        assert found is not None
        assert (found.message_id, found.attempt, found.part, found.parts) == ("msg_7", 1, 2, 2)


async def test_a_released_claim_is_claimed_afresh(buckets: dict[str, Any]) -> None:
    """A send put off (not taken) releases its claim: the next claim counts from one again."""
    handovers = KvHandovers(buckets[kv.HANDOVERS], kv.KvWriter(buckets["publisher"], kv.HANDOVERS))
    assert (await handovers.claim("msg_c", 1, "sms-1")).send
    await handovers.release("msg_c", 1)
    assert (await handovers.claim("msg_c", 1, "sms-1")).send
    assert (await handovers.claim("msg_c", 1, "sms-1")).send  # the one resend
    assert not (await handovers.claim("msg_c", 1, "sms-1")).send


async def test_long_message_parts_join_in_order_whatever_order_they_come(
    buckets: dict[str, Any],
) -> None:
    """Parts 3, 1, 2 of one user's message: only the last to arrive returns the whole text."""
    parts = KvUserParts(buckets[kv.HANDOVERS], Vault(MasterKey(bytes(range(32)))))
    add = parts.add
    assert await add("sms-1", "+911", ref=7, total=3, seq=3, text="C") is None
    assert await add("sms-1", "+911", ref=7, total=3, seq=1, text="A") is None
    assert await add("sms-1", "+912", ref=7, total=3, seq=2, text="x") is None  # another user
    assert await add("sms-1", "+911", ref=7, total=3, seq=2, text="B") == "ABC"


async def test_parts_of_a_users_message_are_kept_sealed(buckets: dict[str, Any]) -> None:
    """A part waiting for the rest of its message is stored sealed: neither its text nor the
    user's number is in the bucket, and the whole text still comes out once complete."""
    store = buckets[kv.HANDOVERS]
    parts = KvUserParts(store, Vault(MasterKey(bytes(range(32)))))
    secret = "my card pin is 7731"
    assert await parts.add("sms-1", "+919800011122", ref=9, total=2, seq=1, text=secret) is None
    keys = await live_keys(buckets["js"], kv.HANDOVERS)
    stored = b"".join([(await store.get(key)).value for key in keys])
    assert secret.encode() not in stored
    assert b"9800011122" not in stored
    whole = await parts.add("sms-1", "+919800011122", ref=9, total=2, seq=2, text="!")
    assert whole == secret + "!"
