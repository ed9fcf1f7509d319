"""SMPP across replicas and failures: a wrong password, receipts on another replica's bind,
one route's capacity shared by two replicas, and no second send after a crash."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from aiohttp.test_utils import TestServer
from parley_devtools.smsc import Script, Smsc
from parley_devtools.waiting import eventually
from parley_shared.sealing import MasterKey
from routing_svc.bootstrap import create_app
from routing_testkit import (
    NUMBER,
    AccountPublisher,
    Api,
    Events,
    Routing,
    make_settings,
    routing_process,
)

PASSWORD_ENV = "PARLEY_TEST_SMSC_PASSWORD"
DIGITS = NUMBER.removeprefix("+")


def routes_file(tmp_path: Path, smsc: Smsc, *, capacity: float = 1000, binds: int = 1) -> Path:
    """A routes file with one SMPP route at the simulator."""
    path = tmp_path / f"routes-{capacity}-{binds}.json"
    route = {
        "name": "sms-smsc",
        "channel": "sms",
        "capacity_per_s": capacity,
        "provider": "smpp",
        "smpp": {
            "host": smsc.host,
            "port": smsc.port,
            "system_id": "parley",
            "password_env": PASSWORD_ENV,
            "binds": binds,
        },
    }
    path.write_text(json.dumps({"routes": [route]}), "utf-8")
    return path


async def scrape(base: str) -> str:
    """A service's `/metrics` text."""
    async with aiohttp.ClientSession() as session, session.get(base + "/metrics") as response:
        return await response.text()


@pytest.fixture
async def replicas(
    nats_url: str, master_key: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Any]]:
    """Starts in-process routing-svc replicas on one NATS: `await replicas(n, routes_file)`."""
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    servers: list[TestServer] = []
    nc = await nats.connect(nats_url)
    events = await Events().start(nc)
    session = aiohttp.ClientSession()

    async def start(count: int, path: Path, **overrides: Any) -> list[Routing]:
        started = []
        publisher = AccountPublisher(nc.jetstream(), MasterKey.from_b64(master_key))
        for _ in range(count):
            settings = make_settings(nats_url, master_key, routes_file=path, **overrides)
            server = TestServer(create_app(settings), host="127.0.0.1")
            await server.start_server()
            servers.append(server)
            api = Api(session, str(server.make_url("")).rstrip("/"))
            started.append(
                Routing(api, publisher, events, nc, nc.jetstream(), master_key, nats_url, None)  # type: ignore[arg-type]
            )
        return started

    yield start
    for server in servers:
        await server.close()
    await session.close()
    await nc.close()


async def test_a_wrong_password_keeps_the_route_down_and_messages_wait(
    replicas: Callable[..., Any], smsc: Smsc, tmp_path: Path
) -> None:
    """Refused binds: the route is down in /metrics, re-binds back off (1 s, 2 s, ...), a
    message waits accepted; once the SMSC takes the password the message is delivered."""
    smsc.password = "changed"
    [routing] = await replicas(1, routes_file(tmp_path, smsc))
    account = await routing.account(["sms"])
    message_id = await routing.api.sent(account)
    await eventually(lambda: len(smsc.binds) >= 3, 15)
    gaps = [b.at - a.at for a, b in zip(smsc.binds, smsc.binds[1:], strict=False)]
    assert gaps[1] > gaps[0] * 1.5  # the back-off grows
    assert 'parley_route_up{route="sms-smsc"} 0.0' in await scrape(routing.api.base)
    assert routing.events.kinds(message_id) == []  # not failed: waiting for its route
    smsc.password = "secret"
    final = await routing.events.final(message_id, within_s=40)
    assert final["data"]["status"] == "delivered"


async def test_a_receipt_on_the_other_replicas_bind_still_delivers(
    replicas: Callable[..., Any], smsc: Smsc, tmp_path: Path
) -> None:
    """The SMSC sends each receipt on another bind, which belongs to the other replica: the
    shared id map finds the attempt there."""
    smsc.default = Script(receipt_on="other")
    first, second = await replicas(2, routes_file(tmp_path, smsc))
    await eventually(lambda: smsc.bound >= 2, 15)
    account = await first.account(["sms"])
    ids = [await first.api.sent(account, to=f"+9198765{i:05d}") for i in range(10)]
    for message_id in ids:
        assert (await first.events.final(message_id, within_s=20))["data"]["status"] == (
            "delivered"
        )
    assert second is not first


async def test_two_replicas_share_one_routes_capacity(
    replicas: Callable[..., Any], smsc: Smsc, tmp_path: Path
) -> None:
    """100 messages through two replicas (each pacing at 25/s, 50/s together) on a 25/s route:
    each one-second window of the clock sees at most 25 of them at the SMSC (2 more allowed
    for a send taken at the end of a window that arrives just after it)."""
    first, second = await replicas(2, routes_file(tmp_path, smsc, capacity=25))
    await eventually(lambda: smsc.bound >= 2, 15)
    account = await first.account(["sms"])
    await second.known(account)
    sends = [
        (first if i % 2 else second).api.sent(account, to=f"+9198765{i:05d}") for i in range(100)
    ]
    ids = await asyncio.gather(*sends)
    for message_id in ids:
        await first.events.final(message_id, within_s=30)
    offset = time.time() - time.monotonic()  # the simulator stamps arrivals monotonic
    windows = Counter(int(s.at + offset) for s in smsc.submits)
    assert sum(windows.values()) == 100
    assert max(windows.values()) <= 27, windows
    assert len(windows) >= 4


async def test_a_crash_between_submit_and_response_sends_at_most_once_more(
    nats_url: str, master_key: str, smsc: Smsc, tmp_path: Path
) -> None:
    """routing-svc is SIGKILLed after the submit_sm went out and before its response: the next
    process sends it once more (the one duplicate); killed again, the third sends nothing."""
    path = routes_file(tmp_path, smsc)
    env = {
        "ROUTING_ROUTES_FILE": str(path),
        PASSWORD_ENV: "secret",
        "ROUTING_ACK_WAIT_SECONDS": "2",
    }
    nc = await nats.connect(nats_url)
    events = await Events().start(nc)
    publisher = AccountPublisher(nc.jetstream(), MasterKey.from_b64(master_key))
    smsc.hold()
    processes = [await routing_process(nats_url, master_key, tmp_path, **env).started()]
    try:
        account = await publisher.create(["sms"])
        async with aiohttp.ClientSession() as session:
            api = Api(session, processes[0].base)
            await eventually(partial(_known, api, account.api_key), 10)
            message_id = await api.sent(account)
        await eventually(lambda: len(smsc.submits) >= 1, 30)
        processes[0].kill()
        processes.append(await routing_process(nats_url, master_key, tmp_path, **env).started())
        await eventually(lambda: len(smsc.submits) >= 2, 30)  # the one resend
        processes[1].kill()
        processes.append(await routing_process(nats_url, master_key, tmp_path, **env).started())
        await asyncio.sleep(5)  # two ack waits: time for a (wrong) third send
        assert len(smsc.submits) == 2
        assert events.kinds(message_id).count("sent") <= 1
    finally:
        for process in processes:
            process.stop()
        smsc.release()
        await nc.close()


async def _known(api: Api, key: str) -> bool:
    status, _ = await api.call("GET", "/v1/messages/msg_none", key=key)
    return status == 404


async def test_a_capacity_wait_longer_than_the_ack_wait_never_sends_twice(
    replicas: Callable[..., Any], smsc: Smsc, tmp_path: Path
) -> None:
    """On a 0.25/s SMPP route (one send per 4 s window) the last of four messages waits about
    12 s, four times the 3 s ack wait, while two replicas share the work: the SMSC still sees
    each message exactly once (the consumer keeps it alive, and the handover claim stands
    behind that)."""
    first, second = await replicas(
        2, routes_file(tmp_path, smsc, capacity=0.25), ack_wait_seconds=3
    )
    await eventually(lambda: smsc.bound >= 2, 15)
    account = await first.account(["sms"])
    await second.known(account)
    ids = [await first.api.sent(account, to=f"+9198765{i:05d}") for i in range(4)]
    for message_id in ids:
        final = await first.events.final(message_id, within_s=40)
        assert final["data"]["status"] == "delivered"
    assert sorted(s.pdu.destination_addr for s in smsc.submits) == sorted(
        f"9198765{i:05d}" for i in range(4)
    )
