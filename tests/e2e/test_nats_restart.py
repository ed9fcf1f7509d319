"""The platform keeps working across a NATS restart with authentication on: every service
reconnects with its own creds, account-svc answers the auth callout again and provisions new
accounts, and an integrator sends over NATS and reads its events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
from parley_devtools.embedded import LOOPBACK, port_is_free
from parley_devtools.platform import Platform
from parley_devtools.waiting import eventually
from parley_runtime.natsauth.permissions import JS_PREFIX

NUMBER = "+919876543210"


async def _send_and_read(url: str, acc: str, key: str) -> str:
    """Connect as the integrator (retrying while the platform comes back), send over NATS, and
    read the message's final status from the account's durable consumer. The message id."""
    body = json.dumps({"to": NUMBER, "channel": "sms", "content": {"text": "hi"}}).encode()

    async def accepted() -> tuple[Any, str] | None:
        try:
            nc = await nats.connect(
                url, user=acc, password=key, inbox_prefix=f"_INBOX.{acc}", allow_reconnect=False
            )
        except (nats.errors.Error, OSError):
            return None
        try:
            headers = {"Authorization": f"Bearer {key}"}
            reply = await nc.request("parley.api.v1.messages.send", body, 5, headers=headers)
            answer = json.loads(reply.data)
            if answer.get("status") == "accepted":
                return nc, str(answer["message_id"])
        except (nats.errors.Error, OSError):
            pass
        await nc.close()
        return None

    nc, message_id = await eventually(accepted, what="an accepted send over NATS", step_s=0.2)
    try:
        sub = await nc.jetstream(prefix=JS_PREFIX).pull_subscribe_bind(durable=acc, stream="STATUS")

        async def final() -> bool:
            try:
                msgs = await sub.fetch(10, timeout=1)
            except (TimeoutError, nats.js.errors.ServiceUnavailableError):
                return False  # nothing yet, or JetStream still recovering
            found = False
            for msg in msgs:
                await msg.ack()
                data = json.loads(msg.data)["data"]
                found |= data["message_id"] == message_id and data["final"]
            return found

        await eventually(final, what="the final status event in the durable consumer")
        return message_id
    finally:
        await nc.close()


@pytest.mark.timeout(180)
async def test_services_keep_working_after_a_nats_restart(platform: Platform) -> None:
    """Before and after a restart of the (authenticated) NATS server, an integrator sends over
    NATS and reads its events, and every service answers /readyz again."""
    acc, key = await platform.admin.create_account(traffic_type="otp")
    first = await _send_and_read(platform.nats_url, acc, key)
    assert platform.nats is not None
    platform.nats.stop()
    assert port_is_free(platform.nats.port)  # really down
    platform.nats.start()
    await asyncio.to_thread(platform.wait_ready)
    second = await _send_and_read(platform.nats_url, acc, key)
    assert first != second
    # an account created after the restart gets its NATS side: account-svc's provisioner
    # asks again on the reconnected connection
    fresh, fresh_key = await platform.admin.create_account(traffic_type="otp")
    await _send_and_read(platform.nats_url, fresh, fresh_key)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(platform.nats_url, allow_reconnect=False, max_reconnect_attempts=0)
    assert f"http://{LOOPBACK}" in platform.routing
