"""Real `routing-svc serve` processes: a DR TTL timer that outlives a SIGKILL, and two replicas
sharing the work."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from parley_devtools.processes import Child
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.sealing import MasterKey
from parley_shared.timefmt import parse_ts
from routing_testkit import NUMBER, AccountPublisher, Api, Events, fallback, routing_process


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[tuple[Any, Events]]:
    """A NATS client and an event collector."""
    nc = await nats.connect(nats_url)
    events = await Events().start(nc)
    yield nc, events
    await nc.close()


@pytest.fixture
async def spawn(
    nats_url: str, master_key: str, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """Starts routing-svc processes (`await spawn(**env)`); every one is stopped at the end."""
    started: list[Child] = []

    async def start(**env: str) -> Child:
        process = routing_process(nats_url, master_key, tmp_path, **env)
        started.append(process)
        return await process.started()

    yield start
    for process in started:
        process.stop()


async def _timer_armed(nc: Any, message_id: str) -> bool:
    try:
        await nc.jetstream().get_last_msg(
            subjects.STREAM_ROUTING_TIMERS, subjects.timer(message_id)
        )
    except nats.js.errors.NotFoundError:
        return False
    return True


@pytest.mark.parametrize(
    ("grace", "kill_when"), [("0.2", "armed"), ("30", "waiting")], ids=["armed", "in_grace"]
)
async def test_dr_ttl_timer_fires_after_kill_and_restart(
    spawn: Callable[..., Any],
    bus: tuple[Any, Events],
    master_key: str,
    grace: str,
    kill_when: str,
) -> None:
    """routing-svc is SIGKILLed between the send and the DR TTL expiry and started again: the
    expiry still falls back (dr_ttl_expired) and the message still reaches its outcome, whether
    the durable timer was armed before the kill or the unacked submit re-arms it."""
    nc, events = bus
    env = {"ROUTING_TIMER_GRACE_SECONDS": grace, "ROUTING_ACK_WAIT_SECONDS": "2"}
    first = await spawn(**env)
    accounts = AccountPublisher(nc.jetstream(), MasterKey.from_b64(master_key))
    account = await accounts.create(
        ["rcs", "sms"], {"rcs": {"fallback": fallback("sms", 4, "dr_ttl_expired")}}
    )
    async with aiohttp.ClientSession() as session:
        api = Api(session, first.base)
        recipient = {"outcomes": {"rcs": "no_report"}}
        assert (await api.call("PUT", f"/v1/sandbox/recipients/{NUMBER}", recipient))[0] == 200
        await eventually(lambda: _known(api, account.api_key), 5)
        message_id = await api.sent(account, channel="rcs")
    sent = await events.wait(message_id, "sent")
    if kill_when == "armed":
        await eventually(lambda: _timer_armed(nc, message_id), 5)
    else:
        assert not await _timer_armed(nc, message_id)
    first.kill()
    await spawn(**env)
    final = await events.final(message_id, within_s=20)
    fell_back = await events.wait(message_id, "fallback")
    assert (fell_back["data"]["reason"], fell_back["data"]["fallback_to"]) == (
        "dr_ttl_expired",
        "sms",
    )
    waited = (parse_ts(fell_back["time"]) - parse_ts(sent["time"])).total_seconds()
    assert waited >= 3.9
    assert (final["data"]["channel"], final["data"]["status"]) == ("sms", "delivered")
    assert [e["data"]["final"] for e in events.of(message_id)].count(True) == 1


async def _known(api: Api, key: str) -> bool:
    return (await api.call("GET", "/v1/messages/msg_none", key=key))[0] == 404


async def test_two_replicas_share_the_work_without_routing_twice(
    spawn: Callable[..., Any], bus: tuple[Any, Events], master_key: str
) -> None:
    """Two processes on one SUBMIT consumer: both route, no message is sent twice, every
    message has exactly one final event."""
    nc, events = bus
    replicas = [await spawn(), await spawn()]
    accounts = AccountPublisher(nc.jetstream(), MasterKey.from_b64(master_key))
    account = await accounts.create(["sms"])
    count = 300
    async with aiohttp.ClientSession() as session:
        apis = [Api(session, replica.base) for replica in replicas]
        for api in apis:
            await eventually(lambda api=api: _known(api, account.api_key), 5)
        ids = await asyncio.gather(*(apis[i % 2].sent(account) for i in range(count)))
        for message_id in ids:
            await events.final(message_id, within_s=30)
        per_replica = [
            (await api.call("GET", "/v1/sandbox/routes"))[1]["sms-1"]["sent"] for api in apis
        ]
    assert sum(per_replica) == count
    assert min(per_replica) > 0
    sends = Counter(e["subject"] for e in events.status if e["type"] == "parley.message.sent")
    assert len(set(ids)) == count
    assert all(sends[m] == 1 for m in ids)
    assert all([e["data"]["final"] for e in events.of(m)].count(True) == 1 for m in ids)
