"""Account config events for routing-svc tests, exactly as account-svc publishes them: the
normalized config (every field present, defaults filled in), secrets hashed or sealed with the
master key, a CloudEvent on `parley.account.v1.config.<id>` with `Nats-Msg-Id` = event id."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import orjson
from parley_shared import subjects
from parley_shared.envelope import KeyVersion, new_salt, open_envelope, seal_bytes
from parley_shared.events import (
    ACCOUNT_CONFIG_DELETED,
    ACCOUNT_CONFIG_UPDATED,
    SENDER_CONFIG_DELETED,
    SENDER_CONFIG_UPDATED,
    AccountConfigData,
    AccountSecrets,
    CloudEvent,
    SealedKeyVersion,
    SenderData,
    dumps,
    new_event_id,
    source_for,
)
from parley_shared.ids import new_id
from parley_shared.sealing import PAYLOAD_PASSPHRASE_FIELD, MasterKey, generate_api_key
from parley_shared.timefmt import format_ts, now

PASSPHRASE = "correct horse battery staple"


def fallback(channel: str | None = None, ttl: int | None = None, *events: str) -> dict[str, Any]:
    """A normalized fallback block (disabled when `channel` is None)."""
    if channel is None:
        return {"enabled": False, "channel": None, "dr_ttl_seconds": None, "events": []}
    return {"enabled": True, "channel": channel, "dr_ttl_seconds": ttl, "events": list(events)}


ALL = {"mode": "all"}
LISTS = {"sms": "sender_ids", "rcs": "agents", "whatsapp": "wabas", "truecaller": "numbers"}


def allow(*items: str) -> dict[str, Any]:
    """An access list in allowlist mode."""
    return {"mode": "allowlist", "allowlist": list(items)}


def channel_defaults(channel: str) -> dict[str, Any]:
    """The normalized settings of a selected channel without an entry (CONTRACT section 8)."""
    off = fallback()
    return {
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
    }[channel]


def account_config(
    enterprise_id: str,
    channels: list[str],
    settings: dict[str, dict[str, Any]] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A normalized account config: every field present, `settings` merged per channel."""
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
        if key in ("ip_restriction", "data_protection"):
            config["security"][key] = value
        else:
            config[key] = value
    if config["communication_type"] == "conversational":
        config["traffic_type"] = None
    return config


@dataclass
class Account:
    """An account as published: its id, key, config and payload keys (current first)."""

    account_id: str
    api_key: str
    enterprise_id: str
    config: dict[str, Any]
    version: int = 1
    payload_keys: list[SealedKeyVersion] = field(default_factory=list)

    def key(self, index: int = 0) -> KeyVersion:
        """Payload key version `index` (0: current), as a client derives it."""
        sealed = self.payload_keys[index]
        return KeyVersion(
            sealed.version_code, sealed.algorithm, sealed.salt, PASSPHRASE + sealed.version_code
        )

    def seal(self, body: Any, index: int = 0) -> bytes:
        """A request body sealed as an envelope under key `index`."""
        return seal_bytes(orjson.dumps(body), self.key(index))

    def open(self, body: bytes | dict[str, Any]) -> Any:
        """An encrypted answer (its bytes or parsed JSON) opened with the account's keys."""
        keys = [self.key(i) for i in range(len(self.payload_keys))]
        return orjson.loads(open_envelope(body, keys))


class AccountPublisher:
    """Publishes account config events exactly as account-svc's outbox relay does."""

    def __init__(self, js: Any, master: MasterKey) -> None:
        self._js, self._master = js, master
        self._sender_versions: dict[str, int] = {}

    def _secrets(self, account: Account) -> AccountSecrets:
        return AccountSecrets(
            api_key_hash=self._master.hash_api_key(account.api_key),
            payload_encryption=account.payload_keys,
        )

    def _view(self, account: Account) -> dict[str, Any]:
        view: dict[str, Any] = {"id": account.account_id, **copy.deepcopy(account.config)}
        block = view["security"]["payload_encryption"]
        if block.get("enabled") and account.payload_keys:
            block.update({"passphrase_set": True, "salt": account.payload_keys[0].salt})
        stamp = format_ts(now())
        view.update(version=account.version, status="active", created_at=stamp, updated_at=stamp)
        return view

    async def publish(self, account: Account, deleted: bool = False) -> None:
        """One config event (a tombstone when `deleted`), with `Nats-Msg-Id` = event id."""
        data = AccountConfigData(
            account_id=account.account_id,
            version=account.version,
            status="deleted" if deleted else "active",
            enterprise_id=account.enterprise_id,
            account=None if deleted else self._view(account),
            secrets=None if deleted else self._secrets(account),
        )
        event_id = new_event_id()
        event = CloudEvent[AccountConfigData](
            id=event_id,
            type=ACCOUNT_CONFIG_DELETED if deleted else ACCOUNT_CONFIG_UPDATED,
            source=source_for(account.account_id),
            subject=account.account_id,
            data=data,
        )
        await self._js.publish(
            subjects.account_config(account.account_id),
            dumps(event),
            headers={subjects.HEADER_MSG_ID: event_id},
        )

    async def register(
        self, enterprise_id: str, channel: str, value: str, *, deleted: bool = False
    ) -> str:
        """A registered sender of an enterprise, as account-svc announces it on SENDERS (its
        tombstone when `deleted`); the sender id (stable per enterprise, channel and value)."""
        digest = hashlib.sha256(f"{enterprise_id}|{channel}|{value}".encode()).hexdigest()
        sender_id = "snd_" + digest[:26]
        stamp = format_ts(now())
        data = SenderData(
            id=sender_id,
            enterprise_id=enterprise_id,
            channel=channel,  # type: ignore[arg-type]
            value=value,
            status="deleted" if deleted else "active",
            version=self._sender_versions.get(sender_id, 0) + 1,
            created_at=stamp,
            updated_at=stamp,
        )
        self._sender_versions[sender_id] = data.version
        event_id = new_event_id()
        event = CloudEvent[SenderData](
            id=event_id,
            type=SENDER_CONFIG_DELETED if deleted else SENDER_CONFIG_UPDATED,
            source=f"parley/enterprises/{enterprise_id}",
            subject=sender_id,
            data=data,
        )
        await self._js.publish(
            subjects.sender_config(sender_id),
            dumps(event),
            headers={subjects.HEADER_MSG_ID: event_id},
        )
        return sender_id

    async def register_listed(self, enterprise_id: str, config: dict[str, Any]) -> None:
        """Register every sender the config's allowlists name (as account-svc's migration did
        for accounts stored before the registry)."""
        for channel, settings in (config.get("channel_settings") or {}).items():
            access = (settings or {}).get(LISTS[channel]) or {}
            if access.get("mode") == "allowlist":
                for value in access.get("allowlist") or ():
                    await self.register(enterprise_id, channel, value)

    def sealed_key(
        self, account_id: str, index: int, valid_until: str | None = None
    ) -> SealedKeyVersion:
        """Payload key version `index` (`v<index+1>`), sealed as account-svc seals it."""
        return SealedKeyVersion(
            version_code=f"v{index + 1}",
            algorithm="aes-256",
            salt=new_salt(),
            passphrase=self._master.seal_field(
                PASSPHRASE + f"v{index + 1}", account_id, PAYLOAD_PASSPHRASE_FIELD
            ),
            valid_until=valid_until,
        )

    async def create(
        self,
        channels: list[str] | None = None,
        settings: dict[str, dict[str, Any]] | None = None,
        *,
        enterprise_id: str | None = None,
        encrypted: bool = False,
        register_senders: bool = True,
        **top: Any,
    ) -> Account:
        """A new active account (published), with a fresh API key."""
        account_id = new_id("acc")
        enterprise = enterprise_id or new_id("ent")
        config = account_config(enterprise, channels or ["sms"], settings, **top)
        keys: list[SealedKeyVersion] = []
        if encrypted:
            keys = [self.sealed_key(account_id, 0)]
            config["security"]["payload_encryption"] = {
                "enabled": True,
                "algorithm": "aes-256",
                "version_code": "v1",
            }
        account = Account(account_id, generate_api_key(), enterprise, config, 1, keys)
        if register_senders:
            await self.register_listed(enterprise, config)
        await self.publish(account)
        return account

    async def rotate_payload_key(self, account: Account) -> Account:
        """A new payload key version; the previous one stays valid for 24 h (version + 1)."""
        until = format_ts(now() + timedelta(hours=24))
        previous = [
            k.model_copy(update={"valid_until": k.valid_until or until})
            for k in account.payload_keys
        ]
        fresh = self.sealed_key(account.account_id, len(account.payload_keys))
        config = copy.deepcopy(account.config)
        config["security"]["payload_encryption"]["version_code"] = fresh.version_code
        updated = replace(
            account, config=config, version=account.version + 1, payload_keys=[fresh, *previous]
        )
        await self.publish(updated)
        return updated

    async def update(self, account: Account, **changes: Any) -> Account:
        """The account with fields of its config (or `api_key`) changed, version + 1."""
        config = copy.deepcopy(account.config)
        api_key = changes.pop("api_key", account.api_key)
        for key, value in changes.items():
            if key in ("ip_restriction", "data_protection"):
                config["security"][key] = value
            else:
                config[key] = value
        updated = replace(account, config=config, api_key=api_key, version=account.version + 1)
        await self.publish(updated)
        return updated

    async def delete(self, account: Account) -> None:
        """The tombstone of an account."""
        await self.publish(replace(account, version=account.version + 1), deleted=True)
