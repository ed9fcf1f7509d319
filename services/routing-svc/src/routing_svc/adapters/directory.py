"""The account view: every active account's config, rebuilt from ACCOUNTS and kept current.

The rules (newer versions only, tombstones, unusable configs) are the services' shared ones
(`parley_runtime.account_configs`); this keeps each active account's policy view, and indexes
it by API key (its peppered hash, under the current and any previous master key: a tombstone
stops the key at once) and by the senders conversational accounts own.
"""

from __future__ import annotations

import asyncio

from parley_runtime.account_configs import AccountConfigs, Unusable
from parley_shared.accounts import OpenedSecrets
from parley_shared.envelope import KeyVersion
from parley_shared.events import AccountConfigData
from parley_shared.sealing import MasterKey, SealError

from routing_svc.domain.accounts import AccountView, account_view

CONFIG_UNREADABLE = "account config unusable: its policy cannot be read"


class Directory:
    """Active accounts by id, by API key hash and by the senders they own."""

    def __init__(self, master: MasterKey) -> None:
        self._master = master
        self._configs = AccountConfigs(master, _active_view, self._changed)
        self._by_hash: dict[str, str] = {}
        self._owners: dict[tuple[str, str], set[str]] = {}
        self.ready = self._configs.ready  # set once the configs present at start are applied

    # ------------------------------------------------------------------ lookups
    def get(self, account_id: str) -> AccountView | None:
        """An active account."""
        return self._configs.get(account_id)

    def by_api_key(self, api_key: str) -> AccountView | None:
        """The active account holding `api_key` (hashed under each master key)."""
        for digest in self._master.api_key_hashes(api_key):
            account_id = self._by_hash.get(digest)
            if account_id is not None:
                return self._configs.get(account_id)
        return None

    def owners(self, channel: str, sender: str) -> list[AccountView]:
        """Conversational accounts whose access list for `channel` names `sender`."""
        ids = sorted(self._owners.get((channel, sender), ()))
        found = (self._configs.get(i) for i in ids)
        return [view for view in found if view is not None]

    def account_ids(self) -> list[str]:
        """The ids of every active account."""
        return self._configs.account_ids()

    def __len__(self) -> int:
        """How many active accounts the view holds."""
        return len(self._configs)

    # ------------------------------------------------------------------ following
    async def start(self, js: object) -> None:
        """Follow ACCOUNTS; `ready` once the configs present at start are applied."""
        await self._configs.start(js)

    async def stop(self) -> None:
        """Stop following."""
        await self._configs.stop()

    async def apply(self, payload: bytes) -> bool:
        """Apply one config event (its JSON as published); whether it changed the view."""
        return await self._configs.apply(payload)

    def _changed(self, account_id: str, old: AccountView | None, new: AccountView | None) -> None:
        if old is not None:
            self._unindex(old)
        if new is not None:
            self._index(new)

    def _index(self, view: AccountView) -> None:
        digest = view.secrets.api_key_hash
        if digest:
            self._by_hash[digest] = view.account_id
        if view.conversational:
            for channel, policy in view.policies.items():
                for sender in policy.senders or ():
                    self._owners.setdefault((channel, sender), set()).add(view.account_id)

    def _unindex(self, view: AccountView) -> None:
        digest = view.secrets.api_key_hash
        if digest and self._by_hash.get(digest) == view.account_id:
            del self._by_hash[digest]
        for channel, policy in view.policies.items():
            for sender in policy.senders or ():
                owners = self._owners.get((channel, sender))
                if owners is not None:
                    owners.discard(view.account_id)
                    if not owners:
                        del self._owners[(channel, sender)]


async def _active_view(data: AccountConfigData, secrets: OpenedSecrets) -> AccountView | None:
    """The policy view of an active account (None for one that is not active)."""
    if data.status != "active":
        return None
    try:
        view = account_view(data, secrets)
    except (SealError, ValueError, KeyError, TypeError) as exc:
        raise Unusable(CONFIG_UNREADABLE) from exc
    _derive_in_background(view)
    return view


def _derive_in_background(view: AccountView) -> None:
    """Derive the account's payload keys (PBKDF2, ~0.3 s each) on a worker thread as the config
    arrives, so its first encrypted request does not derive them on the event loop. A request
    that comes sooner derives the key itself; each key is kept on its version either way."""
    keys = [entry.value for entry in view.secrets.payload_keys]
    if not keys:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # applied outside a loop (tests of the view): derived on first use
        return
    loop.run_in_executor(None, _derive, keys)


def _derive(keys: list[KeyVersion]) -> None:
    for key in keys:
        _ = key.key
