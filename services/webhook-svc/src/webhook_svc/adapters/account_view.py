"""The account view: every account's webhooks, built from ACCOUNTS config snapshots.

Only a snapshot with a newer `version` than the one held replaces it (a republished or
reordered older one is ignored); a tombstone removes the account and remembers its version,
so its events are skipped rather than held. Secrets are opened with the master key; an
encrypting webhook's AES key (PBKDF2, ~0.3 s) is derived in a thread before the new config
takes effect, so the event loop never stalls on it. `listener(account_id)` runs after each
change (the intake releases events that waited for that account).

A snapshot the view cannot use (a sealed secret the master key cannot open, or a config it
cannot read) is not "not seen yet": the account is remembered as unusable at that version,
with the reason (`problem`), logged with its id (`account_config_unusable`) and counted
(`parley_webhook_accounts_unusable`); its events are dead-lettered with that reason rather
than held, and the older config it held is dropped (it may hold a secret or URL the newer
one replaced). A newer snapshot that can be used makes it usable again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from parley_shared import subjects
from parley_shared.accounts import is_newer, open_secrets, parse_event
from parley_shared.envelope import KeyVersion
from parley_shared.events import AccountConfigData
from parley_shared.sealing import MasterKey, SealError

from webhook_svc import metrics
from webhook_svc.adapters.follow import Follower
from webhook_svc.domain.webhooks import AccountHooks, webhooks_of

log = structlog.get_logger("webhook_svc.accounts")


class AccountView:
    """The accounts this process knows, as webhook settings."""

    def __init__(self, master_key: MasterKey) -> None:
        """An empty view; `start` fills it from ACCOUNTS and keeps it current."""
        self._master_key = master_key
        self._entries: dict[str, AccountHooks] = {}
        self._deleted: dict[str, int] = {}
        self._unusable: dict[str, tuple[int, str]] = {}  # account -> (version, why)
        self._follower: Follower | None = None
        self.listener: Callable[[str], None] | None = None

    def get(self, account_id: str) -> AccountHooks | None:
        """The account's webhooks, or None when the view does not hold it."""
        return self._entries.get(account_id)

    def is_deleted(self, account_id: str) -> bool:
        """Whether the last snapshot of the account was a tombstone."""
        return account_id in self._deleted

    def problem(self, account_id: str) -> str | None:
        """Why the account's latest config cannot be used, or None."""
        unusable = self._unusable.get(account_id)
        return unusable[1] if unusable is not None else None

    @property
    def caught_up(self) -> bool:
        """Whether every snapshot present at start has been applied."""
        return self._follower is not None and self._follower.caught_up.is_set()

    async def wait_caught_up(self) -> None:
        """Wait until the snapshot at start is applied."""
        if self._follower is None:
            raise RuntimeError("the account view is not started")
        await self._follower.caught_up.wait()

    async def start(self, js: Any) -> None:
        """Follow ACCOUNTS (last snapshot per account, then every change)."""
        self._follower = Follower(
            js, subjects.STREAM_ACCOUNTS, subjects.ACCOUNT_CONFIG_ALL, self._on_msg
        )
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following."""
        if self._follower is not None:
            await self._follower.stop()

    def _held_version(self, account_id: str) -> int | None:
        entry = self._entries.get(account_id)
        if entry is not None:
            return entry.version
        unusable = self._unusable.get(account_id)
        if unusable is not None:
            return unusable[0]
        return self._deleted.get(account_id)

    async def _on_msg(self, msg: Any) -> None:
        await self.apply(msg.data)

    async def apply(self, payload: bytes) -> None:
        """Apply one config event (its JSON as published on ACCOUNTS)."""
        data = parse_event(payload)
        account_id = data.account_id
        if not is_newer(data, self._held_version(account_id)):
            return
        self._unusable.pop(account_id, None)
        if data.status == "deleted" or data.account is None:
            self._entries.pop(account_id, None)
            self._deleted[account_id] = data.version
            log.info("account_removed", account_id=account_id, version=data.version)
        else:
            hooks = await _usable(data, self._master_key)
            self._deleted.pop(account_id, None)
            if isinstance(hooks, str):
                self._entries.pop(account_id, None)
                self._unusable[account_id] = (data.version, hooks)
                log.error(
                    "account_config_unusable",
                    account_id=account_id,
                    version=data.version,
                    reason=hooks,
                )
            else:
                self._entries[account_id] = hooks
                log.info("account_updated", account_id=account_id, version=data.version)
        metrics.ACCOUNTS.set(len(self._entries))
        metrics.ACCOUNTS_UNUSABLE.set(len(self._unusable))
        if self.listener is not None:
            self.listener(account_id)


SECRETS_UNOPENABLE = (
    "account config unusable: its sealed secrets cannot be opened with the master key"
)
CONFIG_UNREADABLE = "account config unusable: its webhooks cannot be read"


async def _usable(data: AccountConfigData, master_key: MasterKey) -> AccountHooks | str:
    """The account's webhooks with their secrets opened and keys derived, or why not (a fixed
    text: an exception's own message could quote what it failed on)."""
    if data.account is None:
        raise ValueError("a snapshot without an account is a tombstone")
    try:
        secrets = open_secrets(data, master_key)
    except (SealError, ValueError):
        return SECRETS_UNOPENABLE
    try:
        hooks = webhooks_of(data.account_id, data.version, data.account, secrets)
        await _derive_keys(hooks)
    except (ValueError, TypeError, KeyError, AttributeError):
        return CONFIG_UNREADABLE
    return hooks


async def _derive_keys(hooks: AccountHooks) -> None:
    """Derive each encryption key off the event loop (the derivation is cached)."""
    for hook in hooks.hooks.values():
        key = hook.encryption
        if key is not None:
            await asyncio.to_thread(_derive, key)


def _derive(key: KeyVersion) -> bytes:
    return key.key
