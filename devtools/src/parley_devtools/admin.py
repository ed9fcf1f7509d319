"""account-svc's management API as the bootstrap admin: how chaos, the benchmarks and the
end-to-end tests make the tenants, senders and accounts they drive traffic through."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

import aiohttp

USERNAME = "admin"


def status_webhook(
    url: str, events: Sequence[str] = ("delivery_status", "sent"), batch: int = 50
) -> dict[str, Any]:
    """A status webhook block as the API takes it: native format, 3 retries, batched by
    `batch` events (1: not batched)."""
    return {
        "url": url,
        "events": list(events),
        "payload_format": "native",
        "retries": 3,
        "batch": {"enabled": batch > 1, "max_events": batch} if batch > 1 else {"enabled": False},
    }


class AdminError(Exception):
    """The management API refused what the harness asked."""


class Admin:
    """A client of the management API logged in (lazily) as the bootstrap admin."""

    def __init__(self, base: str, password: str, username: str = USERNAME) -> None:
        """Nothing is sent until the first call."""
        self.base, self.password, self.username = base, password, username
        self.token = ""
        self.enterprise_of: dict[str, str] = {}  # account id -> its enterprise

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request as the admin; (status, JSON body or None)."""
        if not self.token and path != "/v1/auth/login":
            await self.login()
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, self.base + path, json=body, headers=headers) as resp,
        ):
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def made(self, path: str, body: Any, ok: Sequence[int] = (201,)) -> Any:
        """POST `body` to `path`; the answer, or an AdminError unless its status is in `ok`."""
        status, answer = await self.call("POST", path, body)
        if status not in ok:
            raise AdminError(f"POST {path}: {status} {answer}")
        return answer

    async def login(self) -> str:
        """Log in; the session token."""
        body = {"username": self.username, "password": self.password}
        self.token = ""
        self.token = str((await self.made("/v1/auth/login", body, ok=(200,)))["token"])
        return self.token

    async def tenant(self, name: str = "") -> tuple[str, str]:
        """A new enterprise with a business group: (enterprise id, business group id)."""
        name = name or f"Tenant {secrets.token_hex(4)}"
        ent = await self.made("/v1/organizations", {"name": name, "kind": "enterprise"})
        group = await self.made(
            "/v1/business-groups", {"name": f"{name} group", "enterprise_id": ent["id"]}
        )
        return str(ent["id"]), str(group["id"])

    async def register_senders(self, enterprise_id: str, values: Sequence[str]) -> None:
        """Register SMS sender ids the enterprise owns (sends are checked against them)."""
        for value in values:
            body = {"enterprise_id": enterprise_id, "channel": "sms", "value": value}
            await self.made("/v1/senders", body, ok=(201, 409))

    async def create_account(
        self,
        webhook: dict[str, Any] | None = None,
        *,
        allowlist: Sequence[str] | None = None,
        traffic_type: str = "transactional",
        tenant: tuple[str, str] | None = None,
    ) -> tuple[str, str]:
        """An SMS account (of a new tenant unless given) with `webhook` as its status webhook;
        its allowlist's senders are registered first. (account id, API key)."""
        enterprise_id, group_id = tenant or await self.tenant()
        senders: dict[str, Any] = {"mode": "all"}
        if allowlist:
            senders = {"mode": "allowlist", "allowlist": list(allowlist)}
            await self.register_senders(enterprise_id, allowlist)
        account = {
            "label": f"harness {secrets.token_hex(4)}",
            "enterprise_id": enterprise_id,
            "business_group_id": group_id,
            "communication_type": "outgoing",
            "traffic_type": traffic_type,
            "channels": ["sms"],
            "channel_settings": {"sms": {"sender_ids": senders}},
            "webhooks": {"status": webhook},
        }
        created = await self.made("/v1/accounts", account)
        account_id = str(created["account"]["id"])
        self.enterprise_of[account_id] = enterprise_id
        return account_id, str(created["api_key"])
