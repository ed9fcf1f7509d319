"""The operator views' NATS adapters against a real nats-server: the Traffic feed (STATUS and
the delivery log followed from an hour back, a bounded replay, following stopped once nobody
asks, queue depths) and the routes gather over routing-svc's replicas."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import orjson
import pytest
from account_svc.adapters.traffic_feed import StreamFollower, TrafficFeed
from account_svc.domain.traffic import TrafficTally
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.ids import new_id
from parley_shared.streams import ensure_streams
from parley_shared.timefmt import now_ts


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    """A JetStream context with Parley's streams."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    yield js
    await nc.close()


async def publish_sent(js: Any, account_id: str, count: int) -> None:
    """`count` `sent` events of `account_id` on STATUS, timed now."""
    for _ in range(count):
        event = {
            "id": new_id("evt"),
            "type": "parley.message.sent",
            "time": now_ts(),
            "data": {"channel": "sms", "route": "sms-1", "attempt": 1, "final": False},
        }
        await js.publish(subjects.status(account_id), orjson.dumps(event))


async def test_the_past_hour_is_replayed_then_new_events_follow(js: Any) -> None:
    """Events stored before following started are counted, then new ones as they come, and
    the delivery log's attempts beside them."""
    await publish_sent(js, "acc_a", 3)
    feed = TrafficFeed(js, TrafficTally(clock=time.time), idle_s=60, replay_max=1000)
    await feed.ensure_following()
    try:
        await eventually(lambda: feed.tally.view(None)["totals"]["sent"] == 3, 5, "replayed")
        await eventually(lambda: not feed.status()["loading"], 5, "replay done")
        await publish_sent(js, "acc_b", 2)
        entry = {"outcome": "dead", "at": now_ts(), "event_ids": ["evt_1", "evt_2"]}
        await js.publish(subjects.webhook_attempt_log("acc_b"), orjson.dumps(entry))
        await eventually(lambda: feed.tally.view({"acc_b"})["totals"]["sent"] == 2, 5, "followed")
        await eventually(lambda: _dead(feed) == 2, 5, "the dead attempt and its two events")
        assert feed.status()["complete_from"] is not None
    finally:
        await feed.stop()


def _dead(feed: TrafficFeed) -> int:
    events: int = feed.tally.view({"acc_b"})["webhooks"]["totals"]["dead"]["events"]
    return events


async def test_a_long_stream_is_replayed_only_from_its_last_messages(js: Any) -> None:
    """With more messages stored than `replay_max`, only the last `replay_max` are replayed,
    and the view's complete minute is the one after the first replayed event's."""
    await publish_sent(js, "acc_a", 30)
    feed = TrafficFeed(js, TrafficTally(clock=time.time), idle_s=60, replay_max=10)
    await feed.ensure_following()
    try:
        await eventually(lambda: not feed.status()["loading"], 5, "replay done")
        assert feed.tally.view(None)["totals"]["sent"] == 10
        assert feed.status()["complete_from"] > now_ts()[:16]  # the replay began mid-minute
    finally:
        await feed.stop()


async def test_following_stops_when_nobody_asks(js: Any) -> None:
    """After `idle_s` without a request the streams are no longer followed and the counts are
    forgotten; the next request follows again from an hour back."""
    await publish_sent(js, "acc_a", 2)
    feed = TrafficFeed(js, TrafficTally(clock=time.time), idle_s=0.5, replay_max=1000)
    await feed.ensure_following()
    try:
        await eventually(lambda: feed.tally.view(None)["totals"]["sent"] == 2, 5, "replayed")
        await eventually(lambda: not feed.following, 5, "stopped when idle")
        assert feed.tally.view(None)["totals"]["sent"] == 0
        await feed.ensure_following()
        await eventually(lambda: feed.tally.view(None)["totals"]["sent"] == 2, 5, "replayed again")
    finally:
        await feed.stop()


async def test_queues_show_streams_to_the_platform_and_submit_per_account(js: Any) -> None:
    """A platform user gets every stream; anyone gets the SUBMIT messages of its accounts."""
    await js.publish(subjects.submit("acc_a"), b"{}")
    await js.publish(subjects.submit("acc_a"), b"{}")
    await js.publish(subjects.submit("acc_b"), b"{}")
    feed = TrafficFeed(js, TrafficTally(clock=time.time), idle_s=60, replay_max=1000)
    mine = await feed.queues({"acc_a"}, platform=False)
    assert mine == {"streams": None, "submit_waiting": 2}
    every = await feed.queues(None, platform=True)
    assert every["submit_waiting"] == 3
    streams = {row["stream"]: row for row in every["streams"]}
    assert streams["SUBMIT"]["messages"] == 3
    assert streams["SUBMIT"]["consumers"] == []  # routing-svc never ran here
    assert set(streams) >= {"STATUS", "WEBHOOK_DELIVERIES", "WEBHOOK_RETRY"}


async def test_the_routes_gather_answers_early_once_it_knows_how_many_replicas_answer(
    nats_url: str,
) -> None:
    """The first gather waits its whole window and learns that two replicas answer; the next
    answers as soon as both have (the window still running behind it); once one is gone the
    gather waits the window again and learns the new count."""
    from account_svc.adapters.routing_asks import RoutingAsks

    nc = await nats.connect(nats_url)
    subs = []
    for name in ("replica-a", "replica-b"):

        async def answer(msg: Any, name: str = name) -> None:
            await msg.respond(orjson.dumps({"replica": name, "routes": []}))

        subs.append(await nc.subscribe(subjects.ROUTING_ROUTES_QUERY, cb=answer))
    await nc.flush()
    asks = RoutingAsks(nc, gather_s=2.0)
    try:
        first = await asks.routes()
        assert sorted(r["replica"] for r in first) == ["replica-a", "replica-b"]
        assert not asks._gathers  # it waited for the whole window
        second = await asks.routes()
        assert len(second) == 2
        assert asks._gathers  # answered with both, the window still open
        await subs[1].unsubscribe()
        await nc.flush()
        third = await asks.routes()
        assert [r["replica"] for r in third] == ["replica-a"]
        assert asks._replicas == 1
    finally:
        await nc.close()


async def test_a_stream_with_nothing_since_the_start_is_not_loading(js: Any) -> None:
    """A stream whose messages are all older than where following starts is not "loading":
    the view does not wait for a replay that has nothing to replay."""
    await publish_sent(js, "acc_a", 2)
    folded: list[str] = []
    follower = StreamFollower(
        js, subjects.STREAM_STATUS, subjects.STATUS_ALL, lambda a, _: folded.append(a) or True, 10
    )
    await follower.start(datetime.now(UTC) + timedelta(minutes=1))
    try:
        assert follower.loading is False
        await publish_sent(js, "acc_b", 1)
        await eventually(lambda: folded == ["acc_b"], 5, "a new event followed")
    finally:
        await follower.stop()
