"""Helpers for account-svc tests: an API client, settings, the seed account and tenants."""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from account_svc.settings import Settings
from parley_shared.sealing import generate_master_key

ADMIN_USER = "admin"
ADMIN_PASSWORD = "bootstrap-password-1"


@dataclass
class Api:
    """A client of the management API with an optional bearer token."""

    session: aiohttp.ClientSession
    base: str
    token: str | None = None
    log: io.StringIO = field(default_factory=io.StringIO)

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send a request; answer (status, parsed JSON body or None)."""
        hdrs = dict(headers or {})
        bearer = token if token is not None else self.token
        if bearer:
            hdrs["Authorization"] = f"Bearer {bearer}"
        kwargs: dict[str, Any] = {"headers": hdrs}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            text = await resp.text()
            data = None
            if text:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = text
            return resp.status, data

    async def login(self, username: str, password: str) -> str:
        """Log in and return the token (asserting success)."""
        status, data = await self.call(
            "POST", "/v1/auth/login", {"username": username, "password": password}, token=""
        )
        assert status == 200, data
        return str(data["token"])

    async def as_user(self, username: str, password: str) -> Api:
        """A client logged in as another user, sharing the session."""
        token = await self.login(username, password)
        return Api(self.session, self.base, token, self.log)


def make_settings(database_url: str, nats_url: str, **overrides: Any) -> Settings:
    """Settings for an in-process account-svc on loopback."""
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "PARLEY_MASTER_KEY": generate_master_key(),
        "http_host": "127.0.0.1",
        "bootstrap_admin_username": ADMIN_USER,
        "bootstrap_admin_password": ADMIN_PASSWORD,
        "outbox_poll_seconds": 0.2,
        # Tests log in from 127.0.0.1 many times a minute; the login rate limit has its own.
        "login_rate_per_minute": 60_000,
        "login_rate_burst": 1_000,
    }
    values.update(overrides)
    return Settings(**values)


SEED: dict[str, Any] = {
    "label": "OTP alerts",
    "communication_type": "outgoing",
    "traffic_type": "otp",
    "channels": ["rcs", "sms"],
    "security": {
        "ip_restriction": {"mode": "allowlist", "allowlist": ["203.0.113.0/24", "2001:db8::/32"]},
        "data_protection": "encrypt_and_store",
        "payload_encryption": {
            "enabled": True,
            "algorithm": "aes-256",
            "passphrase": "correct horse battery staple",
            "version_code": "v1",
        },
    },
    "consent": {"lookup_opt_in": False, "lookup_opt_out": True},
    "channel_settings": {
        "rcs": {
            "agent_providers": ["reliance-jio", "vodafone-idea"],
            "agents": {"mode": "all"},
            "verify_profile": "strict",
            "fallback": {
                "enabled": True,
                "channel": "sms",
                "dr_ttl_seconds": 20,
                "events": [
                    "delivery_failed",
                    "dr_ttl_expired",
                    "invalid_number",
                    "validity_expired",
                ],
            },
        },
        "sms": {
            "sender_ids": {"mode": "allowlist", "allowlist": ["PARLEY"]},
            "fallback": {"enabled": False},
        },
    },
    "webhooks": {
        "status": {
            "url": "https://hooks.example.com/parley",
            "events": ["delivery_status", "sent", "read"],
            "payload_format": "native",
            "intermediate_delivery_notification": True,
            "metadata": {"enabled": True, "pairs": {"team": "otp"}},
            "retries": 3,
            "batch": {"enabled": True, "max_events": 50},
            "encryption": {"enabled": False},
        },
        "user_initiated": None,
    },
    "apps": {
        "template_lookup": False,
        "url_shortener": False,
        "campaign_manager": False,
        "digital_asset_manager": False,
    },
}


async def make_tenant(api: Api, aggregator: bool = True) -> dict[str, str]:
    """An enterprise (under a new aggregator when asked) with a business group."""
    agg_id = None
    if aggregator:
        status, agg = await api.call(
            "POST", "/v1/organizations", {"name": "Agg", "kind": "aggregator"}
        )
        assert status == 201, agg
        agg_id = agg["id"]
    body: dict[str, Any] = {"name": "Ent", "kind": "enterprise"}
    if agg_id:
        body["aggregator_id"] = agg_id
    status, ent = await api.call("POST", "/v1/organizations", body)
    assert status == 201, ent
    status, group = await api.call(
        "POST", "/v1/business-groups", {"name": "Group", "enterprise_id": ent["id"]}
    )
    assert status == 201, group
    out = {"enterprise_id": ent["id"], "business_group_id": group["id"]}
    if agg_id:
        out["aggregator_id"] = agg_id
    return out


def seed_for(tenant: dict[str, str]) -> dict[str, Any]:
    """The seed account config for a tenant."""
    body = copy.deepcopy(SEED)
    body["enterprise_id"] = tenant["enterprise_id"]
    body["business_group_id"] = tenant["business_group_id"]
    return body


DROP = object()
Path = tuple[str | int, ...]


def variant(base: dict[str, Any], *changes: tuple[Path, Any]) -> dict[str, Any]:
    """A deep copy of `base` with each (path, value) set, or removed when the value is DROP."""
    body = copy.deepcopy(base)
    for path, value in changes:
        node: Any = body
        for step in path[:-1]:
            node = node.setdefault(step, {}) if isinstance(node, dict) else node[step]
        if value is DROP:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return body


def error_locs(body: Any, **kwargs: Any) -> list[list[str | int]]:
    """The `loc` of every error `body` gets; fails the test if it validates."""
    import pytest
    from account_svc.domain.account_config import ConfigValidationError, validate_account_config

    kwargs.setdefault("allow_private_targets", False)
    with pytest.raises(ConfigValidationError) as caught:
        validate_account_config(body, **kwargs)
    for err in caught.value.errors:
        assert set(err) == {"loc", "msg", "type"}
        assert err["msg"]
        assert err["type"]
    return [err["loc"] for err in caught.value.errors]
