"""The whole platform in-process, for tests of the operator views (traffic, routes, message
trace, dead letters): account-svc (the `api` fixture, which may create accounts with `http://`
webhooks), routing-svc with the sandbox provider, webhook-svc and a scripted webhook receiver,
all on the test's own nats-server and one master key.

Import the fixtures into a test module (or conftest) with
`from stack_kit import account_settings, routing_overrides, stack`.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from account_testkit import SEED, Api
from aiohttp.test_utils import TestServer
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from routing_svc.bootstrap import create_app as routing_app
from routing_testkit import make_settings as routing_settings
from webhook_testkit import ServiceRunner

NUMBER = "+919876543210"
SEEDS = ["delivery_failed", "dr_ttl_expired", "invalid_number", "validity_expired"]


def account_body(tenant: dict[str, str], hook_url: str, **changes: Any) -> dict[str, Any]:
    """An account of `tenant`: RCS falling back to SMS, every status to `hook_url` unbatched
    with intermediate notifications, data stored in clear, no IP restriction or encryption."""
    body = copy.deepcopy(SEED)
    body.update(
        label=changes.pop("label", "Traffic test"),
        enterprise_id=tenant["enterprise_id"],
        business_group_id=tenant["business_group_id"],
    )
    body["security"] = {
        "ip_restriction": {"mode": "all"},
        "data_protection": "store",
        "payload_encryption": {"enabled": False},
    }
    body["consent"] = {"lookup_opt_in": False, "lookup_opt_out": False}
    rcs = body["channel_settings"]["rcs"]
    rcs["verify_profile"] = "non_strict"
    rcs["fallback"] = {"enabled": True, "channel": "sms", "dr_ttl_seconds": 20, "events": SEEDS}
    hook = body["webhooks"]["status"]
    hook.update(url=hook_url, batch={"enabled": False, "max_events": 1}, retries=3)
    hook["metadata"] = {"enabled": False, "pairs": {}}
    hook.update(changes.pop("webhook", {}))
    body.update(changes)
    return body


@dataclass
class Stack:
    """Clients of the running platform."""

    api: Api
    routing: str
    receiver: Receiver
    session: aiohttp.ClientSession

    async def account(
        self, tenant: dict[str, str], path: str = "/hook", **changes: Any
    ) -> tuple[str, str]:
        """Create an account through account-svc; (id, API key) once routing-svc takes the key."""
        body = account_body(tenant, self.receiver.url(path), **changes)
        await self.register_listed(body)
        status, created = await self.api.call("POST", "/v1/accounts", body)
        assert status == 201, created
        api_key = str(created["api_key"])

        async def known() -> bool:
            status, _ = await self.call_routing("GET", "/v1/messages/msg_none", key=api_key)
            return status != 401

        await eventually(known, 10, "routing-svc knows the account")
        return str(created["account"]["id"]), api_key

    async def register_listed(self, body: dict[str, Any]) -> None:
        """Register, as senders of the enterprise, what the body's allowlists name (sends are
        checked against the enterprise's registered senders)."""
        lists = {"sms": "sender_ids", "rcs": "agents", "whatsapp": "wabas", "truecaller": "numbers"}
        for channel, settings in (body.get("channel_settings") or {}).items():
            access = (settings or {}).get(lists[channel]) or {}
            for value in access.get("allowlist") or () if access.get("mode") == "allowlist" else ():
                sender = {
                    "enterprise_id": body["enterprise_id"],
                    "channel": channel,
                    "value": value,
                }
                status, made = await self.api.call("POST", "/v1/senders", sender)
                assert status in (201, 409), made

    async def call_routing(
        self, method: str, path: str, body: Any = None, *, key: str | None = None
    ) -> tuple[int, Any]:
        """A request to routing-svc's HTTP API."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with self.session.request(
            method, self.routing + path, json=body, headers=headers
        ) as resp:
            raw = await resp.read()
            return resp.status, orjson.loads(raw) if raw else None

    async def send(self, api_key: str, **body: Any) -> str:
        """Send a message (default: SMS to NUMBER); its id."""
        message = {"to": NUMBER, "channel": "sms", "content": {"text": "Your code is 4821"}}
        message.update(body)
        status, answer = await self.call_routing("POST", "/v1/messages", message, key=api_key)
        assert status == 202, answer
        return str(answer["message_id"])

    async def recipient(self, number: str, **recipient: Any) -> None:
        """Script a sandbox recipient (capabilities, outcomes, read, report delay)."""
        status, answer = await self.call_routing(
            "PUT", f"/v1/sandbox/recipients/{number}", recipient
        )
        assert status == 200, answer


@pytest.fixture
def account_settings() -> dict[str, Any]:
    """account-svc accepts `http://` webhook URLs (the receiver is on loopback)."""
    return {"WEBHOOK_ALLOW_PRIVATE_TARGETS": True}


@pytest.fixture
def routing_overrides() -> dict[str, Any]:
    """routing-svc settings a test module may give (e.g. a `routes_file`)."""
    return {}


@pytest.fixture
async def stack(api: Api, nats_url: str, routing_overrides: dict[str, Any]) -> AsyncIterator[Stack]:
    """routing-svc and webhook-svc beside the `api` fixture's account-svc, and a receiver."""
    master = api.settings.master_key.get_secret_value()  # type: ignore[attr-defined]
    settings = routing_settings(nats_url, master, **routing_overrides)
    routing = TestServer(routing_app(settings), host="127.0.0.1")
    await routing.start_server()
    webhooks = ServiceRunner(nats_url, master)
    await webhooks.start()
    receiver = await Receiver().start()
    async with aiohttp.ClientSession() as session:
        yield Stack(api, str(routing.make_url("")).rstrip("/"), receiver, session)
    await receiver.stop()
    await webhooks.close()
    await routing.close()
