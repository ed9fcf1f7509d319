"""The account view: waiting for unknown accounts, versions, tombstones, readiness."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from webhook_svc.bootstrap import SERVICE_KEY, create_app
from webhook_testkit import Account, make_settings, publish_events, status_event


async def _ack_pending(js: Any) -> int:
    info = await js.consumer_info(subjects.STREAM_STATUS, subjects.DURABLE_WEBHOOK_STATUS)
    return int(info.num_ack_pending)


async def test_event_for_unknown_account_waits_for_its_config(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """An event whose account is not known yet stays unacknowledged, then goes out on config."""
    service = await start_service()
    account = Account(master, status_webhook=status_hook(receiver.url("/w")))
    event = status_event(account.account_id)
    await publish_events(js, [event])
    await eventually(lambda: service.intake.waiting == 1, 5, "event waiting")
    await asyncio.sleep(0.5)  # observation window: nothing may be sent meanwhile
    assert receiver.on("/w") == []
    assert await _ack_pending(js) == 1
    await account.publish(js)
    await eventually(lambda: receiver.event_ids("/w") == [event["id"]], 5, "delivered")
    await eventually(lambda: _acked(js), 5, "acknowledged")


async def _acked(js: Any) -> bool:
    return await _ack_pending(js) == 0


async def test_waiting_event_survives_ack_wait(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """A waiting event is kept alive past ack_wait and delivered once, not redelivered."""
    service = await start_service(ack_wait_seconds=1.0)
    account = Account(master, status_webhook=status_hook(receiver.url("/k")))
    event = status_event(account.account_id)
    await publish_events(js, [event])
    await eventually(lambda: service.intake.waiting == 1, 5, "event waiting")
    await asyncio.sleep(2.5)  # observation window: longer than ack_wait
    info = await js.consumer_info(subjects.STREAM_STATUS, subjects.DURABLE_WEBHOOK_STATUS)
    assert info.num_redelivered == 0
    await account.publish(js)
    await eventually(lambda: receiver.event_ids("/k") == [event["id"]], 5, "delivered")


async def test_older_versions_are_ignored_and_tombstones_skip(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """A stale config version changes nothing; after a tombstone events are skipped, not held."""
    account = Account(master, version=2, status_webhook=status_hook(receiver.url("/v2")))
    await account.publish(js)
    service = await start_service()
    stale = Account(
        master,
        account_id=account.account_id,
        version=1,
        status_webhook=status_hook(receiver.url("/v1")),
    )
    await stale.publish(js)
    await publish_events(js, [status_event(account.account_id)])
    await eventually(lambda: len(receiver.on("/v2")) == 1, 5, "delivery to version 2")
    assert receiver.on("/v1") == []
    account.version, account.deleted = 3, True
    await account.publish(js)
    await eventually(lambda: service.view.is_deleted(account.account_id), 5, "tombstone")
    await publish_events(js, [status_event(account.account_id)])
    await eventually(lambda: _acked(js), 5, "skipped and acknowledged")
    assert service.intake.waiting == 0
    assert len(receiver.on("/v2")) == 1


async def test_ready_only_once_every_account_is_loaded(
    nats_url: str, master_key_b64: str, js: Any, master: Any
) -> None:
    """/readyz answers 200 only when every account present at start is in the view."""
    accounts = [
        Account(master, status_webhook=status_hook("https://h.example/x")) for _ in range(30)
    ]
    for account in accounts:
        await account.publish(js)
    app = create_app(make_settings(nats_url, master_key_b64), ("worker",))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    service = app[SERVICE_KEY]
    try:
        async with aiohttp.ClientSession() as http:
            base = str(server.make_url("")).rstrip("/")
            async with http.get(base + "/healthz") as resp:
                assert resp.status == 200

            async def ready() -> bool:
                async with http.get(base + "/readyz") as resp:
                    if resp.status == 200:
                        assert all(service.view.get(a.account_id) for a in accounts)
                        return True
                    assert resp.status == 503
                    return False

            await eventually(ready, 10, "ready")
            async with http.get(base + "/metrics") as resp:
                assert "parley_webhook_accounts" in await resp.text()
    finally:
        await server.close()
