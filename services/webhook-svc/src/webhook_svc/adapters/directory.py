"""The account view: every account's webhooks, from ACCOUNTS config snapshots.

The rules (newer versions only, tombstones, unusable configs remembered with their reason
and their events dead-lettered rather than held) are the services' shared ones
(`parley_runtime.account_configs`); this keeps each account's webhooks. An encrypting
webhook's AES key (PBKDF2, ~0.3 s) is derived in a thread before the new config takes effect,
so the event loop never stalls on it. `listener(account_id)` runs after each change (the
intake releases events that waited for that account).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from parley_runtime.account_configs import AccountConfigs, Unusable
from parley_shared.accounts import OpenedSecrets
from parley_shared.envelope import KeyVersion
from parley_shared.events import AccountConfigData
from parley_shared.sealing import MasterKey

from webhook_svc import metrics
from webhook_svc.domain.webhooks import AccountHooks, webhooks_of

CONFIG_UNREADABLE = "account config unusable: its webhooks cannot be read"


class Directory:
    """The accounts this process knows, as webhook settings."""

    def __init__(self, master_key: MasterKey) -> None:
        """An empty view; `start` fills it from ACCOUNTS and keeps it current."""
        self._configs = AccountConfigs(master_key, _hooks, self._changed)
        self.listener: Callable[[str], None] | None = None

    def get(self, account_id: str) -> AccountHooks | None:
        """The account's webhooks, or None when the view does not hold it."""
        return self._configs.get(account_id)

    def is_deleted(self, account_id: str) -> bool:
        """Whether the last snapshot of the account was a tombstone."""
        return self._configs.is_deleted(account_id)

    def problem(self, account_id: str) -> str | None:
        """Why the account's latest config cannot be used, or None."""
        return self._configs.problem(account_id)

    @property
    def caught_up(self) -> bool:
        """Whether every snapshot present at start has been applied."""
        return self._configs.caught_up

    async def wait_caught_up(self) -> None:
        """Wait until the snapshot at start is applied."""
        await self._configs.wait_caught_up()

    async def start(self, js: Any) -> None:
        """Follow ACCOUNTS (last snapshot per account, then every change)."""
        await self._configs.start(js)

    async def stop(self) -> None:
        """Stop following."""
        await self._configs.stop()

    async def apply(self, payload: bytes) -> None:
        """Apply one config event (its JSON as published on ACCOUNTS)."""
        await self._configs.apply(payload)

    def _changed(self, account_id: str, _old: object, _new: object) -> None:
        metrics.ACCOUNTS.set(len(self._configs))
        metrics.ACCOUNTS_UNUSABLE.set(self._configs.unusable)
        if self.listener is not None:
            self.listener(account_id)


async def _hooks(data: AccountConfigData, secrets: OpenedSecrets) -> AccountHooks:
    """The account's webhooks with their keys derived (a fixed reason when unreadable)."""
    assert data.account is not None  # tombstones never get here
    try:
        hooks = webhooks_of(data.account_id, data.version, data.account, secrets)
        await _derive_keys(hooks)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Unusable(CONFIG_UNREADABLE) from exc
    return hooks


async def _derive_keys(hooks: AccountHooks) -> None:
    """Derive each encryption key off the event loop (the derivation is cached)."""
    for hook in hooks.hooks.values():
        key = hook.encryption
        if key is not None:
            await asyncio.to_thread(_derive, key)


def _derive(key: KeyVersion) -> bytes:
    return key.key
