"""The account view: every active account's config, rebuilt from ACCOUNTS and kept current.

At start an ordered push consumer delivers the last config event of every account, then
follows new ones; the view is ready once it has seen the stream's last message as of the
start. An event replaces what the view holds only when its `version` is newer; a tombstone
removes the account (its API key stops working at once). API keys are indexed by their
peppered hash, under the current and any previous master key.
"""

from __future__ import annotations

import asyncio

import structlog
from parley_shared import subjects
from parley_shared.accounts import is_newer, open_secrets, parse_event
from parley_shared.envelope import KeyVersion
from parley_shared.events import AccountConfigData
from parley_shared.sealing import MasterKey, SealError

from routing_svc.adapters.stream_view import StreamView
from routing_svc.domain.accounts import AccountView, account_view

log = structlog.get_logger("routing_svc.directory")


class Directory(StreamView):
    """Active accounts by id, by API key hash and by the senders they own."""

    stream = subjects.STREAM_ACCOUNTS
    filter_subject = subjects.ACCOUNT_CONFIG_ALL

    def __init__(self, master: MasterKey) -> None:
        super().__init__()
        self._master = master
        self._accounts: dict[str, AccountView] = {}
        self._versions: dict[str, int] = {}
        self._by_hash: dict[str, str] = {}
        self._hash_of: dict[str, str] = {}
        self._owners: dict[tuple[str, str], set[str]] = {}

    # ------------------------------------------------------------------ lookups
    def get(self, account_id: str) -> AccountView | None:
        """An active account."""
        return self._accounts.get(account_id)

    def by_api_key(self, api_key: str) -> AccountView | None:
        """The active account holding `api_key` (hashed under each master key)."""
        for digest in self._master.api_key_hashes(api_key):
            account_id = self._by_hash.get(digest)
            if account_id is not None:
                return self._accounts.get(account_id)
        return None

    def owners(self, channel: str, sender: str) -> list[AccountView]:
        """Conversational accounts whose access list for `channel` names `sender`."""
        ids = sorted(self._owners.get((channel, sender), ()))
        return [self._accounts[i] for i in ids if i in self._accounts]

    def account_ids(self) -> list[str]:
        """The ids of every active account."""
        return list(self._accounts)

    def __len__(self) -> int:
        """How many active accounts the view holds."""
        return len(self._accounts)

    # ------------------------------------------------------------------ changes
    def apply(self, data: AccountConfigData) -> bool:
        """Take one config event; whether it changed the view (older versions do not)."""
        if not is_newer(data, self._versions.get(data.account_id)):
            return False
        self._versions[data.account_id] = data.version
        self._drop(data.account_id)
        if data.status != "active" or data.account is None:
            return True
        try:
            view = account_view(data, open_secrets(data, self._master))
        except (SealError, ValueError, KeyError, TypeError) as exc:
            log.warning("account_config_unusable", account_id=data.account_id, error=str(exc))
            return True
        self._add(view)
        _derive_in_background(view)
        return True

    def _add(self, view: AccountView) -> None:
        self._accounts[view.account_id] = view
        digest = view.secrets.api_key_hash
        if digest:
            self._by_hash[digest] = view.account_id
            self._hash_of[view.account_id] = digest
        if view.conversational:
            for channel, policy in view.policies.items():
                for sender in policy.senders or ():
                    self._owners.setdefault((channel, sender), set()).add(view.account_id)

    def _drop(self, account_id: str) -> None:
        old = self._accounts.pop(account_id, None)
        digest = self._hash_of.pop(account_id, None)
        if digest is not None and self._by_hash.get(digest) == account_id:
            del self._by_hash[digest]
        if old is None:
            return
        for channel, policy in old.policies.items():
            for sender in policy.senders or ():
                owners = self._owners.get((channel, sender))
                if owners is not None:
                    owners.discard(account_id)
                    if not owners:
                        del self._owners[(channel, sender)]

    # ------------------------------------------------------------------ following
    def handle(self, payload: bytes) -> None:
        """Apply one event."""
        try:
            data = parse_event(payload)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("account_event_unreadable", error=type(exc).__name__)
        else:
            if self.apply(data):
                log.debug("account_view_changed", account_id=data.account_id, version=data.version)

    def on_ready(self) -> None:
        """Say the view is loaded."""
        log.info("account_view_ready", accounts=len(self._accounts))


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
