"""Every account's latest config, followed from ACCOUNTS: the one account view of the services.

Each service keeps what it needs of an account (`project`: routing-svc its policy and API key,
webhook-svc its webhooks); the rules around it are the same everywhere and live here:

- only an event with a newer `version` than the one held replaces it (a republished or
  reordered older one is ignored);
- a tombstone (`status: deleted`) removes the account and remembers its version;
- the sealed secrets are opened with the master key (the current and previous one);
- a config that cannot be used (secrets the master key cannot open, a config `project` cannot
  read) is not "not seen yet": the account is remembered as unusable at that version, with a
  fixed reason (`problem`: an exception's own text could quote what it failed on), logged with
  its id, and whatever the view held before is dropped (it may hold a secret or URL the newer
  config replaced). A newer usable config makes it usable again;
- `project` may answer None for an account the service does not serve (routing-svc: one that
  is not active); `on_change(account_id, old, new)` runs after every change, for the service's
  own indexes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog
from parley_shared import subjects
from parley_shared.accounts import OpenedSecrets, is_newer, open_secrets, parse_event
from parley_shared.events import AccountConfigData
from parley_shared.sealing import MasterKey, SealError

from parley_runtime.follow import Follower

log = structlog.get_logger("parley_runtime.accounts")

T = TypeVar("T")

SECRETS_UNOPENABLE = (
    "account config unusable: its sealed secrets cannot be opened with the master key"
)


class Unusable(Exception):
    """Raised by `project` for a config it cannot use; the text is the fixed reason shown."""


Project = Callable[[AccountConfigData, OpenedSecrets], Awaitable[T | None]]
OnChange = Callable[[str, T | None, T | None], None]


class AccountConfigs(Generic[T]):
    """The accounts this process knows, as the service projects them."""

    def __init__(
        self, master: MasterKey, project: Project[T], on_change: OnChange[T] | None = None
    ) -> None:
        """An empty view; `start` fills it from ACCOUNTS and keeps it current."""
        self._master, self._project, self._on_change = master, project, on_change
        self._entries: dict[str, T] = {}
        self._versions: dict[str, int] = {}  # the newest version seen of every account
        self._deleted: set[str] = set()
        self._unusable: dict[str, str] = {}  # account -> why
        self._follower: Follower | None = None
        self.ready = asyncio.Event()  # set once the configs present at start are applied

    # ------------------------------------------------------------------ lookups
    def get(self, account_id: str) -> T | None:
        """The account as the service uses it, or None."""
        return self._entries.get(account_id)

    def is_deleted(self, account_id: str) -> bool:
        """Whether the last config of the account was a tombstone."""
        return account_id in self._deleted

    def problem(self, account_id: str) -> str | None:
        """Why the account's latest config cannot be used, or None."""
        return self._unusable.get(account_id)

    def account_ids(self) -> list[str]:
        """The ids of every account held."""
        return list(self._entries)

    @property
    def unusable(self) -> int:
        """How many accounts' latest config cannot be used."""
        return len(self._unusable)

    def __len__(self) -> int:
        """How many accounts the view holds."""
        return len(self._entries)

    # ------------------------------------------------------------------ following
    @property
    def caught_up(self) -> bool:
        """Whether every config present at start has been applied."""
        return self.ready.is_set()

    async def wait_caught_up(self) -> None:
        """Wait until the configs present at start are applied."""
        await self.ready.wait()

    async def start(self, js: Any) -> None:
        """Follow ACCOUNTS (the last config per account, then every change)."""
        self._follower = Follower(
            js,
            subjects.STREAM_ACCOUNTS,
            subjects.ACCOUNT_CONFIG_ALL,
            self._on_msg,
            on_caught_up=self._caught_up,
        )
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following."""
        if self._follower is not None:
            await self._follower.stop()

    def _caught_up(self) -> None:
        self.ready.set()
        log.info("account_view_ready", accounts=len(self._entries))

    async def _on_msg(self, msg: Any) -> None:
        await self.apply(msg.data)

    # ------------------------------------------------------------------ changes
    async def apply(self, payload: bytes) -> bool:
        """Apply one config event (its JSON as published); whether it changed the view."""
        try:
            data = parse_event(payload)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("account_event_unreadable", error=type(exc).__name__)
            return False
        return await self.apply_event(data)

    async def apply_event(self, data: AccountConfigData) -> bool:
        """Apply one parsed config event; whether it changed the view (older ones do not)."""
        account_id = data.account_id
        if not is_newer(data, self._versions.get(account_id)):
            return False
        self._versions[account_id] = data.version
        self._unusable.pop(account_id, None)
        new: T | None = None
        if data.status == "deleted" or data.account is None:
            self._deleted.add(account_id)
            log.info("account_removed", account_id=account_id, version=data.version)
        else:
            self._deleted.discard(account_id)
            try:
                new = await self._project(data, self._open(data))
            except Unusable as exc:
                self._unusable[account_id] = str(exc)
                log.error(  # noqa: TRY400 - a fixed reason; a traceback could quote secrets
                    "account_config_unusable",
                    account_id=account_id,
                    version=data.version,
                    reason=str(exc),
                )
            else:
                log.info("account_updated", account_id=account_id, version=data.version)
        old = self._entries.pop(account_id, None)
        if new is not None:
            self._entries[account_id] = new
        if self._on_change is not None:
            self._on_change(account_id, old, new)
        return True

    def _open(self, data: AccountConfigData) -> OpenedSecrets:
        try:
            return open_secrets(data, self._master)
        except (SealError, ValueError) as exc:
            raise Unusable(SECRETS_UNOPENABLE) from exc
