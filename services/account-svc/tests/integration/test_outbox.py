"""Config events: every change reaches the ACCOUNTS stream through the outbox, even across a
crash between commit and publish, with secrets sealed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import nats
import orjson
import pytest
from account_testkit import ADMIN_PASSWORD, ADMIN_USER, Api, make_tenant, seed_for
from parley_devtools.processes import service_process
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.sealing import generate_master_key


async def _last(nats_url: str, account_id: str, min_version: int) -> Any:
    """The last ACCOUNTS message of an account once its version reaches `min_version`."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def reached() -> Any:
            try:
                msg = await js.get_last_msg(
                    subjects.STREAM_ACCOUNTS, subjects.account_config(account_id)
                )
            except nats.js.errors.NotFoundError:
                return None
            event = orjson.loads(msg.data)
            return (msg, event) if event["data"]["version"] >= min_version else None

        return await eventually(reached, what=f"event v{min_version} of {account_id}", step_s=0.05)
    finally:
        await nc.close()


async def test_create_patch_delete_each_publish_a_snapshot(api: Api, nats_url: str) -> None:
    """Create, patch and delete each put the account's latest snapshot on its subject."""
    tenant = await make_tenant(api)
    status, created = await api.call("POST", "/v1/accounts", seed_for(tenant))
    assert status == 201
    account_id = created["account"]["id"]
    msg, event = await _last(nats_url, account_id, 1)
    assert event["type"] == "parley.account.config.updated"
    assert event["specversion"] == "1.0"
    assert msg.headers[subjects.HEADER_MSG_ID] == event["id"]
    assert event["data"]["account"]["label"] == "OTP alerts"
    secrets = event["data"]["secrets"]
    assert secrets["api_key_hash"]
    raw = msg.data.decode()
    assert created["api_key"] not in raw
    assert created["webhook_signing_secret"] not in raw
    assert "correct horse battery staple" not in raw

    await api.call("PATCH", f"/v1/accounts/{account_id}", {"label": "v2"})
    _, event = await _last(nats_url, account_id, 2)
    assert event["data"]["account"]["label"] == "v2"

    await api.call("DELETE", f"/v1/accounts/{account_id}")
    _, event = await _last(nats_url, account_id, 3)
    assert event["type"] == "parley.account.config.deleted"
    assert event["data"]["status"] == "deleted"
    assert event["data"]["account"] is None


async def test_republish_after_crash_before_mark_is_deduplicated(
    api: Api, nats_url: str, database_url: str
) -> None:
    """An event published but not marked (crash) is sent again and JetStream drops the copy."""
    tenant = await make_tenant(api)
    _, created = await api.call("POST", "/v1/accounts", seed_for(tenant))
    account_id = created["account"]["id"]
    await _last(nats_url, account_id, 1)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        before = (await js.stream_info(subjects.STREAM_ACCOUNTS)).state.last_seq
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE account_svc.outbox SET published_at = NULL")
            await conn.execute("SELECT pg_notify('account_svc_outbox', '')")

            async def republished() -> bool:
                query = "SELECT count(*) FROM account_svc.outbox WHERE published_at IS NULL"
                return not await conn.fetchval(query)

            await eventually(republished, what="the relay to republish", step_s=0.05)
        finally:
            await conn.close()
        after = (await js.stream_info(subjects.STREAM_ACCOUNTS)).state.last_seq
        assert after == before, "duplicates must be dropped by Nats-Msg-Id"
    finally:
        await nc.close()


async def test_event_is_published_after_kill_between_commit_and_publish(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    """A process killed after committing but before publishing: the next process publishes."""
    settings = {
        "NATS_URL": nats_url,
        "DATABASE_URL": database_url,
        "PARLEY_MASTER_KEY": generate_master_key(),
        "ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    # The relay is off: the commit happens, the publish cannot (the crash window).
    first = service_process(
        ["account-svc", "serve"],
        tmp_path,
        "ACCOUNT_HTTP_PORT",
        ACCOUNT_OUTBOX_RELAY_ENABLED="false",
        **settings,
    )
    children = [first]
    try:
        await first.started()
        async with aiohttp.ClientSession() as session:
            client = Api(session, first.base)
            client.token = await client.login(ADMIN_USER, ADMIN_PASSWORD)
            tenant = await make_tenant(client)
            status, created = await client.call("POST", "/v1/accounts", seed_for(tenant))
            assert status == 201
        account_id = created["account"]["id"]
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(subjects.STREAM_ACCOUNTS)
            assert info.state.messages == 0, "nothing may be published while the relay is off"
        finally:
            await nc.close()
        first.kill()
        second = service_process(
            ["account-svc", "serve"], tmp_path, "ACCOUNT_HTTP_PORT", **settings
        )
        children.append(second)
        await second.started()
        _, event = await _last(nats_url, account_id, 1)
        assert event["data"]["account_id"] == account_id
    finally:
        for child in children:
            child.stop()


async def test_stopped_relay_returns_without_being_cancelled(
    api: Api, nats_url: str, database_url: str
) -> None:
    """stop() alone ends a leading relay's run(): shutdown does not rest on cancel() only
    (Python 3.11's wait_for could swallow a cancellation that landed as a wait ended)."""
    from account_svc.adapters.outbox import OutboxRelay

    # The app's own relay holds the leader lock; this one waits for it, then is stopped.
    nc = await nats.connect(nats_url)
    try:
        relay = OutboxRelay(database_url, nc.jetstream(), 0.05)
        task = asyncio.create_task(relay.run())
        await asyncio.sleep(0.3)
        assert not task.done()
        assert not relay.leader  # the app's relay leads
        relay.stop()
        async with asyncio.timeout(5):
            await task  # returns, not CancelledError
        assert task.exception() is None
    finally:
        await nc.close()


async def test_close_connections_is_bounded_when_a_part_hangs(
    monkeypatch: Any, nats_url: str, database_url: str
) -> None:
    """A relay task that ignores cancellation cannot hold shutdown: the NATS connection and
    the database pool are still closed, within the step bound."""
    from account_svc import bootstrap
    from account_svc.adapters.postgres import create_pool

    monkeypatch.setattr(bootstrap, "CLOSE_TIMEOUT_S", 0.3)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue  # swallowed, as the 3.11 wait_for race did

    class Relay:
        stopped = False

        def stop(self) -> None:
            self.stopped = True

    relay = Relay()
    nc = await nats.connect(nats_url)
    pool = await create_pool(database_url, 2)
    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.1)  # inside its loop, where a cancellation is swallowed
    holder = {"relay": relay, "relay_task": task, "nc": nc, "pool": pool}
    started = time.monotonic()
    try:
        await bootstrap.close_connections(holder)
        took = time.monotonic() - started
    finally:
        release.set()
        await task
    assert relay.stopped
    assert nc.is_closed
    assert pool.is_closing()
    assert took < 5


async def test_events_go_out_in_order_and_a_retry_sends_each_subjects_newest(
    nats_url: str, database_url: str
) -> None:
    """A round publishes every pending event in order; after a failed round only the newest
    pending event of each subject is sent (all are marked), so a retry cannot store an older
    snapshot over a newer one that JetStream would then drop as a duplicate."""
    from account_svc.adapters.outbox import OutboxRelay
    from account_svc.adapters.postgres import apply_migrations, create_pool
    from parley_shared.streams import ensure_streams

    class FailOnce:
        """JetStream whose first publish fails (a lost connection), then the real one."""

        def __init__(self, js: Any) -> None:
            self.js, self.failed = js, False

        async def publish_async(self, *args: Any, **kwargs: Any) -> Any:
            if not self.failed:
                self.failed = True
                raise nats.errors.ConnectionClosedError
            return await self.js.publish_async(*args, **kwargs)

    async def received(sub: Any, count: int) -> list[tuple[str, int]]:
        got = []
        for _ in range(count):
            msg = await sub.next_msg(timeout=5)
            got.append((msg.subject, orjson.loads(msg.data)["version"]))
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.3)
        return got

    async def insert(conn: Any, rows: list[tuple[str, int]], tag: str) -> None:
        for i, (subj, version) in enumerate(rows):
            await conn.execute(
                "INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3)",
                f"evt_{tag}_{i}",
                subj,
                orjson.dumps({"version": version}),
            )

    pool = await create_pool(database_url, 2)
    nc = await nats.connect(nats_url)
    try:
        await apply_migrations(pool)
        js = nc.jetstream()
        await ensure_streams(js, 1)
        one, two = subjects.account_config("acc_one"), subjects.account_config("acc_two")
        sub = await nc.subscribe("parley.account.v1.config.>")
        async with pool.acquire() as conn:
            relay = OutboxRelay(database_url, FailOnce(js), 0.05)
            await insert(conn, [(one, 1), (two, 1), (one, 2)], "first")
            with pytest.raises(nats.errors.ConnectionClosedError):
                await relay.drain_once(conn)
            await insert(conn, [(one, 3)], "second")
            assert await relay.drain_once(conn) == 4  # the retry: newest of each subject
            assert sorted(await received(sub, 2)) == sorted([(one, 3), (two, 1)])
            await insert(conn, [(one, 4), (two, 2), (one, 5)], "third")
            assert await relay.drain_once(conn) == 3  # a normal round: every event, in order
            assert await received(sub, 3) == [(one, 4), (two, 2), (one, 5)]
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            assert pending == 0
    finally:
        await nc.close()
        await pool.close()
