"""Reading account config events (ACCOUNTS stream) as a consumer does.

How to order them (by `version`), and how to open the secrets they carry with the master key:
API payload keys (current first, a replaced one until its `valid_until`), webhook signing
secrets (the same), per-webhook encryption keys and webhook URLs with credentials. This is
the consumer half of the contract account-svc publishes; it does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from parley_shared.envelope import KeyVersion
from parley_shared.events import AccountConfigData, AccountSecrets, SealedKeyVersion
from parley_shared.sealing import (
    PAYLOAD_PASSPHRASE_FIELD,
    SIGNING_SECRET_FIELD,
    MasterKey,
    webhook_passphrase_field,
    webhook_url_field,
)
from parley_shared.timefmt import parse_ts


@dataclass(frozen=True)
class Expiring:
    """A value that is valid until a time (None: no end)."""

    value: Any
    valid_until: datetime | None

    def valid_at(self, at: datetime) -> bool:
        """Whether the value is still valid at `at`."""
        return self.valid_until is None or at < self.valid_until


@dataclass(frozen=True)
class OpenedSecrets:
    """An account's secrets, unsealed, as a consumer uses them."""

    api_key_hash: str | None = None
    payload_keys: tuple[Expiring, ...] = ()  # of KeyVersion, current first
    signing_secrets: tuple[Expiring, ...] = ()  # of "whsec_..." strings, current first
    webhook_keys: dict[str, KeyVersion] = field(default_factory=dict)  # status, user_initiated
    webhook_urls: dict[str, str] = field(default_factory=dict)  # full URLs with credentials

    def payload_keys_at(self, at: datetime) -> list[KeyVersion]:
        """The API payload keys valid at `at`, current first."""
        return [e.value for e in self.payload_keys if e.valid_at(at)]

    def signing_secrets_at(self, at: datetime) -> list[str]:
        """The webhook signing secrets valid at `at`, current first."""
        return [e.value for e in self.signing_secrets if e.valid_at(at)]


def parse_event(payload: bytes) -> AccountConfigData:
    """The `data` of an account config CloudEvent."""
    return AccountConfigData.model_validate(orjson.loads(payload)["data"])


def is_newer(incoming: AccountConfigData, held_version: int | None) -> bool:
    """Whether an event should replace what a view holds (older or equal versions are stale)."""
    return held_version is None or incoming.version > held_version


def _until(value: str | None) -> datetime | None:
    return parse_ts(value) if value else None


def _key(version: SealedKeyVersion, master: MasterKey, account_id: str, field: str) -> KeyVersion:
    return KeyVersion(
        kid=version.version_code,
        algorithm=version.algorithm,
        salt_b64=version.salt,
        passphrase=master.unseal_field(version.passphrase, account_id, field),
    )


def open_secrets(data: AccountConfigData, master: MasterKey) -> OpenedSecrets:
    """Unseal an event's secrets (each bound to the account and its field). A tombstone opens
    empty."""
    secrets: AccountSecrets | None = data.secrets
    if secrets is None:
        return OpenedSecrets()
    account_id = data.account_id
    return OpenedSecrets(
        api_key_hash=secrets.api_key_hash,
        payload_keys=tuple(
            Expiring(_key(v, master, account_id, PAYLOAD_PASSPHRASE_FIELD), _until(v.valid_until))
            for v in secrets.payload_encryption
        ),
        signing_secrets=tuple(
            Expiring(
                master.unseal_field(s.value, account_id, SIGNING_SECRET_FIELD),
                _until(s.valid_until),
            )
            for s in secrets.webhook_signing_secrets
        ),
        webhook_keys={
            kind: _key(v, master, account_id, webhook_passphrase_field(kind))
            for kind, v in secrets.webhook_encryption.items()
        },
        webhook_urls={
            kind: master.unseal_field(sealed, account_id, webhook_url_field(kind))
            for kind, sealed in secrets.webhook_urls.items()
        },
    )
