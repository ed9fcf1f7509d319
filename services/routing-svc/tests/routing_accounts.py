"""Accounts for routing-svc tests, published exactly as account-svc publishes them: the
normalized config and its event come from `parley_devtools.account_events` (the one builder of
account config events); here, the secrets (API key hash, payload keys sealed with the master
key), key rotation, updates, tombstones and the enterprise's registered senders."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import orjson
from parley_devtools.account_events import (
    ALL,
    LISTS,
    account_config,
    account_view,
    allow,
    channel_defaults,
    config_event,
    fallback,
)
from parley_shared import subjects
from parley_shared.envelope import KeyVersion, new_salt, open_envelope, seal_bytes
from parley_shared.events import (
    SENDER_CONFIG_DELETED,
    SENDER_CONFIG_UPDATED,
    AccountSecrets,
    CloudEvent,
    SealedKeyVersion,
    SenderData,
    dumps,
    new_event_id,
)
from parley_shared.ids import new_id
from parley_shared.sealing import PAYLOAD_PASSPHRASE_FIELD, MasterKey, generate_api_key
from parley_shared.timefmt import format_ts, now

__all__ = [
    "ALL",
    "PASSPHRASE",
    "Account",
    "AccountPublisher",
    "account_config",
    "allow",
    "channel_defaults",
    "fallback",
]

PASSPHRASE = "correct horse battery staple"


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
        view = account_view(account.account_id, copy.deepcopy(account.config), account.version)
        block = view["security"]["payload_encryption"]
        if block.get("enabled") and account.payload_keys:
            block.update({"passphrase_set": True, "salt": account.payload_keys[0].salt})
        return view

    async def publish(self, account: Account, deleted: bool = False) -> None:
        """One config event (a tombstone when `deleted`), with `Nats-Msg-Id` = event id."""
        event = config_event(
            account.account_id,
            account.enterprise_id,
            self._view(account),
            self._secrets(account),
            version=account.version,
            deleted=deleted,
        )
        await event.publish(self._js)

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
