"""The platform keeps working across a NATS restart with authentication on: every service
reconnects with its own creds, account-svc answers the auth callout again, and an integrator
sends over NATS and reads its events."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import nats
import pytest
from e2e_parley_kit import Platform, create_sms_account
from parley_devtools.embedded import LOOPBACK, port_is_free
from parley_runtime.natsauth.permissions import JS_PREFIX

NUMBER = "+919876543210"
WAIT_S = 30.0


async def _send_and_read(url: str, acc: str, key: str) -> str:
    """Connect as the integrator (retrying while the platform comes back), send over NATS, and
    read the message's final status from the account's durable consumer. The message id."""
    deadline = time.monotonic() + WAIT_S
    body = json.dumps({"to": NUMBER, "channel": "sms", "content": {"text": "hi"}}).encode()
    while True:
        try:
            nc = await nats.connect(
                url,
                user=acc,
                password=key,
                inbox_prefix=f"_INBOX.{acc}",
                allow_reconnect=False,
            )
            reply = await nc.request(
                "parley.api.v1.messages.send",
                body,
                timeout=5,
                headers={"Authorization": f"Bearer {key}"},
            )
            answer = json.loads(reply.data)
            if answer.get("status") == "accepted":
                break
            await nc.close()
        except (nats.errors.Error, OSError):
            pass
        assert time.monotonic() < deadline, "no accepted send over NATS"
        await asyncio.sleep(0.2)
    try:
        sub = await nc.jetstream(prefix=JS_PREFIX).pull_subscribe_bind(durable=acc, stream="STATUS")
        while time.monotonic() < deadline:
            try:
                msgs = await sub.fetch(10, timeout=1)
            except nats.errors.TimeoutError:
                continue
            except nats.js.errors.ServiceUnavailableError:  # JetStream still recovering
                await asyncio.sleep(0.2)
                continue
            for msg in msgs:
                await msg.ack()
                data = json.loads(msg.data)["data"]
                if data["message_id"] == answer["message_id"] and data["final"]:
                    return str(answer["message_id"])
        raise AssertionError("no final status event in the durable consumer")
    finally:
        await nc.close()


@pytest.mark.timeout(180)
async def test_services_keep_working_after_a_nats_restart(platform: Platform) -> None:
    """Before and after a restart of the (authenticated) NATS server, an integrator sends over
    NATS and reads its events, and every service answers /readyz again."""
    async with aiohttp.ClientSession() as session:
        acc, key = await create_sms_account(session, platform.account)
    first = await _send_and_read(platform.nats_url, acc, key)
    assert platform.nats is not None
    platform.nats.stop()
    assert port_is_free(platform.nats.port)  # really down
    platform.nats.start()
    await asyncio.to_thread(platform.wait_ready)
    second = await _send_and_read(platform.nats_url, acc, key)
    assert first != second
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(platform.nats_url, allow_reconnect=False, max_reconnect_attempts=0)
    assert f"http://{LOOPBACK}" in platform.routing
