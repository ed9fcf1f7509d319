"""Account config events exactly as account-svc's outbox publishes them, for tests and benchmarks
that run routing-svc or webhook-svc without account-svc.

The one place that knows the shape: `account_config` is a normalized config (every field
present, defaults filled in, CONTRACT section 8), `account_view` the account as account-svc shows
it (id, version, status, timestamps), and `config_event` the CloudEvent on
`parley.account.v1.config.<id>` with `Nats-Msg-Id` = event id (a tombstone when deleted).
Secrets are the caller's: hashed or sealed with the test's master key.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from parley_shared import subjects
from parley_shared.events import (
    ACCOUNT_CONFIG_DELETED,
    ACCOUNT_CONFIG_UPDATED,
    AccountConfigData,
    AccountSecrets,
    CloudEvent,
    dumps,
    new_event_id,
    source_for,
)
from parley_shared.ids import new_id
from parley_shared.timefmt import now_ts

ALL: dict[str, Any] = {"mode": "all"}
LISTS = {"sms": "sender_ids", "rcs": "agents", "whatsapp": "wabas", "truecaller": "numbers"}
_SECURITY = ("ip_restriction", "data_protection")


def fallback(channel: str | None = None, ttl: int | None = None, *events: str) -> dict[str, Any]:
    """A normalized fallback block (disabled when `channel` is None)."""
    if channel is None:
        return {"enabled": False, "channel": None, "dr_ttl_seconds": None, "events": []}
    return {"enabled": True, "channel": channel, "dr_ttl_seconds": ttl, "events": list(events)}


def allow(*items: str) -> dict[str, Any]:
    """An access list in allowlist mode."""
    return {"mode": "allowlist", "allowlist": list(items)}


def channel_defaults(channel: str) -> dict[str, Any]:
    """The normalized settings of a selected channel without an entry (CONTRACT section 8)."""
    off = fallback()
    defaults: dict[str, dict[str, Any]] = {
        "rcs": {
            "agent_providers": ["reliance-jio", "vodafone-idea", "airtel"],
            "agents": ALL,
            "verify_profile": "non_strict",
            "fallback": off,
        },
        "whatsapp": {
            "wabas": ALL,
            "verify_profile": "non_strict",
            "traffic_management": {"enabled": False},
            "fallback": off,
        },
        "truecaller": {
            "numbers": ALL,
            "verify_profile": "non_strict",
            "traffic_management": {"enabled": False},
            "fallback": off,
        },
        "sms": {"sender_ids": ALL, "fallback": off},
    }
    return defaults[channel]


def status_hook(url: str, **overrides: Any) -> dict[str, Any]:
    """A normalized status webhook block (as account-svc stores and shows it)."""
    hook: dict[str, Any] = {
        "url": url,
        "events": ["delivery_status", "sent", "read"],
        "payload_format": "native",
        "intermediate_delivery_notification": False,
        "metadata": {"enabled": False, "pairs": {}},
        "retries": 3,
        "batch": {"enabled": False, "max_events": 1},
        "encryption": {"enabled": False},
    }
    hook.update(overrides)
    return hook


def inbound_hook(url: str, **overrides: Any) -> dict[str, Any]:
    """A normalized user_initiated webhook block."""
    hook: dict[str, Any] = {
        "url": url,
        "payload_format": "native",
        "retries": 3,
        "metadata": {"enabled": False, "pairs": {}},
        "encryption": {"enabled": False},
    }
    hook.update(overrides)
    return hook


def account_config(
    enterprise_id: str,
    channels: list[str],
    settings: dict[str, dict[str, Any]] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A normalized account config: every field present, `settings` merged per channel, other
    top-level fields (and `ip_restriction` / `data_protection` under `security`) from `top`."""
    per_channel = {}
    for channel in channels:
        merged = channel_defaults(channel)
        merged.update((settings or {}).get(channel, {}))
        per_channel[channel] = merged
    config: dict[str, Any] = {
        "label": "test account",
        "enterprise_id": enterprise_id,
        "business_group_id": new_id("bg"),
        "communication_type": "outgoing",
        "traffic_type": "otp",
        "channels": list(channels),
        "security": {
            "ip_restriction": ALL,
            "data_protection": "store",
            "payload_encryption": {"enabled": False},
        },
        "consent": {"lookup_opt_in": False, "lookup_opt_out": False},
        "channel_settings": per_channel,
        "webhooks": {"status": None, "user_initiated": None},
        "apps": {
            "template_lookup": False,
            "url_shortener": False,
            "campaign_manager": False,
            "digital_asset_manager": False,
        },
    }
    for key, value in top.items():
        if key in _SECURITY:
            config["security"][key] = value
        else:
            config[key] = value
    if config["communication_type"] == "conversational":
        config["traffic_type"] = None
    return config


def account_view(
    account_id: str, config: dict[str, Any], version: int = 1, status: str = "active"
) -> dict[str, Any]:
    """The account as account-svc shows it: the config plus id, version, status, timestamps."""
    stamp = now_ts()
    return {
        "id": account_id,
        **config,
        "version": version,
        "status": status,
        "created_at": stamp,
        "updated_at": stamp,
    }


class ConfigEvent(NamedTuple):
    """One config event, ready to publish."""

    subject: str
    event_id: str
    payload: bytes

    async def publish(self, js: Any) -> None:
        """Publish it on ACCOUNTS with `Nats-Msg-Id` = event id, as the outbox relay does."""
        await js.publish(
            self.subject, self.payload, headers={subjects.HEADER_MSG_ID: self.event_id}
        )


def config_event(
    account_id: str,
    enterprise_id: str,
    account: dict[str, Any] | None,
    secrets: AccountSecrets | None,
    *,
    version: int = 1,
    deleted: bool = False,
) -> ConfigEvent:
    """The account's config event at `version` (`account` is its view; both it and `secrets`
    are left out of a tombstone)."""
    data = AccountConfigData(
        account_id=account_id,
        version=version,
        status="deleted" if deleted else "active",
        enterprise_id=enterprise_id,
        account=None if deleted else account,
        secrets=None if deleted else secrets,
    )
    event_id = new_event_id()
    event = CloudEvent[AccountConfigData](
        id=event_id,
        type=ACCOUNT_CONFIG_DELETED if deleted else ACCOUNT_CONFIG_UPDATED,
        source=source_for(account_id),
        subject=account_id,
        data=data,
    )
    return ConfigEvent(subjects.account_config(account_id), event_id, dumps(event))
