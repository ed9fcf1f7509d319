"""The account view rebuilt at start, key versions past their grace, timers cleaned up, and
log lines free of numbers, texts and keys."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import nats
import pytest
from aiohttp.test_utils import TestServer
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.sealing import MasterKey
from parley_shared.streams import ensure_streams
from parley_shared.timefmt import format_ts, now
from routing_svc.bootstrap import create_app
from routing_testkit import NUMBER, AccountPublisher, Api, Routing, fallback, make_settings

TEXT = "Your code is 4821"


async def test_view_is_rebuilt_from_accounts_before_ready(nats_url: str, master_key: str) -> None:
    """Accounts published before the service starts all work the moment /readyz says 200;
    a deleted one does not, and a superseded version is not what counts."""
    nc = await nats.connect(nats_url)
    await ensure_streams(nc.jetstream())
    publisher = AccountPublisher(nc.jetstream(), MasterKey.from_b64(master_key))
    accounts = [await publisher.create(["sms"]) for _ in range(5)]
    await publisher.delete(accounts[0])
    newer = await publisher.update(
        accounts[1],
        channels=["sms", "rcs"],
        channel_settings={
            **accounts[1].config["channel_settings"],
            "rcs": {
                "agent_providers": ["airtel"],
                "agents": {"mode": "all"},
                "verify_profile": "non_strict",
                "fallback": fallback(),
            },
        },
    )
    server = TestServer(create_app(make_settings(nats_url, master_key)), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(session, str(server.make_url("")).rstrip("/"))
            await eventually(lambda: _ready(api), 10)
            assert (await api.send(accounts[0]))[0] == 401
            assert (await api.send(newer, channel="rcs"))[0] == 202
            for account in accounts[2:]:
                assert (await api.send(account))[0] == 202
    finally:
        await server.close()
        await nc.close()


async def _ready(api: Api) -> bool:
    return (await api.call("GET", "/readyz"))[0] == 200


async def test_previous_key_version_past_its_grace_is_refused(routing: Routing) -> None:
    """A previous payload key whose 24 hours are over no longer opens requests."""
    account = await routing.account(["sms"], encrypted=True)
    rotated = await routing.accounts.rotate_payload_key(account)
    expired = rotated.payload_keys[1].model_copy(
        update={"valid_until": format_ts(now() - timedelta(seconds=1))}
    )
    rotated.payload_keys[1] = expired
    rotated.version += 1
    await routing.accounts.publish(rotated)

    async def refused() -> bool:
        status, body = await routing.api.call(
            "POST",
            "/v1/messages",
            raw=rotated.seal({"to": NUMBER, "channel": "sms", "content": {"text": TEXT}}, 1),
            key=rotated.api_key,
        )
        return status == 400 and body["type"] == "decryption_failed"

    await eventually(refused, 5)


@pytest.mark.parametrize("routing_settings", [{"timer_grace_seconds": 0.1}])
async def test_outcome_after_the_grace_removes_the_timer(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """A report that comes after the timer was armed purges the schedule: nothing fires."""
    await sandbox(NUMBER, report_delay_ms=700)
    account = await routing.account(
        ["rcs", "sms"], {"rcs": {"fallback": fallback("sms", 30, "dr_ttl_expired")}}
    )
    message_id = await routing.api.sent(account, channel="rcs")

    async def timer_exists() -> bool:
        try:
            await routing.js.get_last_msg(
                subjects.STREAM_ROUTING_TIMERS, subjects.timer(message_id)
            )
        except nats.js.errors.NotFoundError:
            return False
        return True

    await eventually(timer_exists, 5)
    final = await routing.events.final(message_id)
    assert (final["data"]["channel"], final["data"]["status"]) == ("rcs", "delivered")
    await eventually(lambda: _not(timer_exists), 5)


async def _not(check: Callable[[], Awaitable[bool]]) -> bool:
    return not await check()


async def test_logs_hold_no_number_text_or_key(
    routing: Routing, log_stream: io.StringIO, sandbox: Callable[..., Any]
) -> None:
    """Whatever happens to a message, no log line carries its number, text or the API key."""
    await sandbox(NUMBER, outcomes={"rcs": "delivery_failed"})
    account = await routing.account(
        ["rcs", "sms"],
        {"rcs": {"fallback": fallback("sms", 20, "delivery_failed")}},
        data_protection="encrypt_and_store",
    )
    message_id = await routing.api.sent(account, channel="rcs")
    await routing.events.final(message_id)
    await routing.api.call("POST", "/v1/messages", {"to": NUMBER}, key=account.api_key)
    await routing.api.call("POST", "/v1/messages", {"to": NUMBER}, key="pk_wrong_key_123456")
    logged = log_stream.getvalue()
    assert logged, "the service logs something during the test"
    for secret in (NUMBER, NUMBER[1:], TEXT, account.api_key):
        assert secret not in logged
