"""NATS targets against a second local nats-server: core publish, JetStream, credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.js.api import StreamConfig
from parley_devtools.account_events import status_hook
from parley_devtools.embedded import NatsServer
from parley_devtools.waiting import eventually
from parley_shared import subjects
from webhook_testkit import Account, publish_events, request, status_event


@pytest.fixture
def target_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A second nats-server (the customer's), with user `hook` / password `s3cret`."""
    server = NatsServer(
        store_dir=tmp_path / "target", extra_args=["--user", "hook", "--pass", "s3cret"]
    )
    server.start()
    yield server
    server.stop(remove_store=True)


@pytest.fixture
async def target_nc(target_server: NatsServer) -> AsyncIterator[Any]:
    """A client of the customer's server."""
    conn = await nats.connect(target_server.url, user="hook", password="s3cret")
    yield conn
    await conn.close()


def _url(server: NatsServer, subject: str, query: str = "") -> str:
    return f"nats://hook:s3cret@127.0.0.1:{server.port}/{subject}{query}"


async def test_core_publish_carries_body_and_headers(
    js: Any, master: Any, target_server: NatsServer, target_nc: Any, start_service: Any
) -> None:
    """A core NATS target gets the body with webhook and metadata headers as NATS headers."""
    got: list[Any] = []

    async def collect(msg: Any) -> None:
        got.append(msg)

    await target_nc.subscribe("hooks.parley", cb=collect)
    await target_nc.flush()
    hook = status_hook(
        _url(target_server, "hooks.parley"), metadata={"enabled": True, "pairs": {"team": "otp"}}
    )
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    await start_service()
    event = status_event(account.account_id)
    await publish_events(js, [event])
    await eventually(lambda: len(got) == 1, 5, "core delivery")
    msg = got[0]
    assert orjson.loads(msg.data)["id"] == event["id"]
    assert msg.headers["webhook-id"] == event["id"]
    assert msg.headers["webhook-signature"].startswith("v1,")
    assert msg.headers["x-parley-meta-team"] == "otp"


async def test_jetstream_target_stores_with_an_ack(
    nc: Any,
    master: Any,
    target_server: NatsServer,
    target_nc: Any,
    start_service: Any,
) -> None:
    """`?jetstream=true` publishes with a JetStream ack; the log shows the URL without password."""
    js = nc.jetstream()
    target_js = target_nc.jetstream()
    await target_js.add_stream(StreamConfig(name="HOOKS", subjects=["hooks.js"]))
    account = Account(
        master, status_webhook=status_hook(_url(target_server, "hooks.js", "?jetstream=true"))
    )
    await account.publish(js)
    await start_service()
    event = status_event(account.account_id)
    await publish_events(js, [event])

    async def stored() -> bool:
        info = await target_js.stream_info("HOOKS")
        return bool(info.state.messages == 1)

    await eventually(stored, 5, "stored on the target stream")
    msg = await target_js.get_last_msg("HOOKS", "hooks.js")
    assert orjson.loads(msg.data)["id"] == event["id"]
    await eventually(lambda: _logged(nc, account.account_id), 5, "log entry")
    reply = await request(nc, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": account.account_id})
    entry = reply["items"][0]
    assert entry["outcome"] == "delivered"
    assert "s3cret" not in entry["url"]
    assert entry["url"] == f"nats://hook:***@127.0.0.1:{target_server.port}/hooks.js?jetstream=true"


async def _logged(nc: Any, account_id: str) -> bool:
    reply = await request(nc, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": account_id})
    return bool(reply["items"])


async def test_jetstream_target_without_stream_is_retried_then_dead_lettered(
    nc: Any, master: Any, target_server: NatsServer, start_service: Any, log_stream: Any
) -> None:
    """With no stream taking the subject, every try fails, is retried, and ends a dead letter."""
    js = nc.jetstream()
    url = _url(target_server, "hooks.none", "?jetstream=true")
    account = Account(master, status_webhook=status_hook(url, retries=1))
    await account.publish(js)
    await start_service()
    await publish_events(js, [status_event(account.account_id)])

    async def dead() -> bool:
        reply = await request(
            nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account.account_id}
        )
        return bool(reply["items"])

    await eventually(dead, 15, "dead letter")
    reply = await request(
        nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account.account_id}
    )
    assert reply["items"][0]["attempts"] == 2
    assert "no stream" in reply["items"][0]["last_error"]
    assert "s3cret" not in log_stream.getvalue()


async def test_wrong_credentials_fail_the_attempt(
    nc: Any, js: Any, master: Any, target_server: NatsServer, start_service: Any
) -> None:
    """A NATS target refusing the credentials is a failed attempt (and a dead letter)."""
    url = f"nats://hook:wrong@127.0.0.1:{target_server.port}/hooks.x"
    account = Account(master, status_webhook=status_hook(url, retries=0))
    await account.publish(js)
    await start_service()
    await publish_events(js, [status_event(account.account_id)])

    async def dead() -> bool:
        reply = await request(
            nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account.account_id}
        )
        return bool(reply["items"])

    await eventually(dead, 15, "dead letter")
    reply = await request(
        nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account.account_id}
    )
    assert reply["items"][0]["last_error"].startswith("nats error")


async def test_servers_a_target_announces_are_never_dialled() -> None:
    """A target's INFO may list other servers (`connect_urls`); the SSRF guard never checked
    them, so when the target drops the connection nothing dials them: the connection closes
    and is made again, guarded, on the next delivery."""
    import asyncio

    from webhook_svc.adapters.nats_sender import NatsSender
    from webhook_svc.domain.targets import parse_target

    dialled: list[int] = []

    async def announced(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dialled.append(1)
        writer.close()

    decoy = await asyncio.start_server(announced, "127.0.0.1", 0)
    decoy_port = decoy.sockets[0].getsockname()[1]

    async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = {
            "server_id": "T",
            "version": "2.10.0",
            "proto": 1,
            "headers": True,
            "max_payload": 1048576,
            "connect_urls": [f"127.0.0.1:{decoy_port}"],
        }
        writer.write(b"INFO " + orjson.dumps(info) + b"\r\n")
        await writer.drain()
        while line := await reader.readline():
            if line.startswith(b"PING"):
                writer.write(b"PONG\r\n")
                await writer.drain()
            elif line.startswith(b"HPUB"):
                await reader.readline()  # the payload line
                writer.close()  # drop the client after its first publish
                return

    server = await asyncio.start_server(target, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = NatsSender(allow_private=True, timeout_s=2.0)
    try:
        await sender.send(parse_target(f"nats://127.0.0.1:{port}/hooks.a"), b"{}", {"a": "b"})
        await asyncio.sleep(1.5)  # a reconnecting client would have dialled the decoy by now
        assert dialled == []
    finally:
        await sender.close()
        server.close()
        decoy.close()


@pytest.fixture
def monitored_target(tmp_path: Path) -> Iterator[tuple[NatsServer, int]]:
    """The customer's nats-server with its monitoring port (to count our connections)."""
    from parley_devtools.embedded import free_port, wait_port

    monitor = free_port()
    server = NatsServer(
        store_dir=tmp_path / "monitored",
        extra_args=["--user", "hook", "--pass", "s3cret", "-m", str(monitor)],
    )
    server.start()
    wait_port(monitor)
    yield server, monitor
    server.stop(remove_store=True)


async def _ours(monitor: int) -> list[int]:
    """Client ids of webhook-svc's connections on the target server (from its /connz)."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{monitor}/connz") as resp,
    ):
        connz = await resp.json()
    return [
        c["cid"] for c in connz.get("connections") or [] if c.get("name") == "parley-webhook-svc"
    ]


async def test_idle_nats_target_connections_are_closed(
    *, js: Any, master: Any, monitored_target: tuple[NatsServer, int], start_service: Any
) -> None:
    """A pooled connection to a NATS target unused for WEBHOOK_NATS_IDLE_SECONDS is closed."""
    server, monitor = monitored_target
    account = Account(master, status_webhook=status_hook(_url(server, "hooks.idle")))
    await account.publish(js)
    await start_service(nats_idle_seconds=0.6)
    await publish_events(js, [status_event(account.account_id)])
    await eventually(lambda: _connected(monitor, 1), 5, "one pooled connection")
    await eventually(lambda: _connected(monitor, 0), 5, "the idle connection closed")


async def _connected(monitor: int, count: int) -> bool:
    return len(await _ours(monitor)) == count


async def test_a_config_change_or_deletion_closes_the_accounts_connection(
    *, js: Any, master: Any, monitored_target: tuple[NatsServer, int], start_service: Any
) -> None:
    """A newer config version closes the account's pooled connection at once (the next
    delivery makes a new one, checked again); a tombstone closes it too."""
    server, monitor = monitored_target
    account = Account(master, status_webhook=status_hook(_url(server, "hooks.cfg")))
    await account.publish(js)
    await start_service()
    await publish_events(js, [status_event(account.account_id)])
    await eventually(lambda: _connected(monitor, 1), 5, "one pooled connection")
    [first] = await _ours(monitor)
    account.version = 2
    await account.publish(js)
    await eventually(lambda: _connected(monitor, 0), 5, "closed on the config change")
    await publish_events(js, [status_event(account.account_id)])
    await eventually(lambda: _connected(monitor, 1), 5, "a new connection")
    assert await _ours(monitor) != [first]
    account.version, account.deleted = 3, True
    await account.publish(js)
    await eventually(lambda: _connected(monitor, 0), 5, "closed on deletion")


async def test_the_nats_target_pool_is_bounded(
    monitored_target: tuple[NatsServer, int],
) -> None:
    """With WEBHOOK_NATS_POOL_SIZE 2, a third account's connection closes the least recently
    used one: never more than two stay open."""
    import dataclasses

    from webhook_svc.adapters.nats_sender import NatsSender
    from webhook_svc.domain.targets import parse_target

    server, monitor = monitored_target
    sender = NatsSender(allow_private=True, timeout_s=2.0, max_size=2)
    target = parse_target(_url(server, "hooks.pool"))
    try:
        for account_id in ("acc_a", "acc_b", "acc_c"):
            owned = dataclasses.replace(target, account_id=account_id, version=1)
            outcome = await sender.send(owned, b"{}", {})
            assert outcome.ok, outcome.error
        await eventually(lambda: _connected(monitor, 2), 5, "two connections left")
        assert sender.size == 2
    finally:
        await sender.close()
    await eventually(lambda: _connected(monitor, 0), 5, "all closed")
