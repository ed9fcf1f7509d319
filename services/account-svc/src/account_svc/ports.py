"""The ports the use cases work over; adapters implement them against PostgreSQL, NATS and
argon2, tests against fakes (tests/unit/test_use_cases_*.py).

Rows are plain dicts of a table's columns (timestamps as aware datetimes); a change and the
outbox event announcing it are written in one transaction by the store, so an event is
published exactly when its change is committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Any, Protocol

from account_svc.domain.records import OutboxEvent
from account_svc.domain.scope import Org

Row = dict[str, Any]
SwitchOff = Callable[[Row], tuple[Row, OutboxEvent]]
Admit = Callable[[], Awaitable[None]]


class Organizations(Protocol):
    """Organizations (aggregators, enterprises) and the business groups of enterprises."""

    async def get_org(self, org_id: str) -> Row | None:
        """One organization, or None."""

    async def insert_org(self, org: Row) -> Row:
        """Store a new organization; the row stored."""

    async def list_orgs(self, scope: Org | None) -> list[Row]:
        """Organizations in a scope (None: every one), by id."""

    async def insert_business_group(self, group: Row) -> Row:
        """Store a new business group; a name taken in its enterprise is `Conflict`."""

    async def get_business_group(self, group_id: str) -> Row | None:
        """One business group, or None."""

    async def list_business_groups(self, scope: Org | None, enterprise_id: str | None) -> list[Row]:
        """Business groups in a scope, of one enterprise when given, by id."""


class Users(Protocol):
    """Console users and their sessions (token hashes, never tokens)."""

    async def count_users(self) -> int:
        """How many users exist."""

    async def insert_user(self, user: Row) -> Row:
        """Store a new user; a username taken (case-insensitively) is `Conflict`."""

    async def user_by_username(self, username: str) -> Row | None:
        """A user by username, case-insensitively, or None."""

    async def list_users(self, scope: Org | None) -> list[Row]:
        """Users in a scope (None: every one), by id."""

    async def insert_session(self, token_hash: str, user_id: str, expires_at: datetime) -> None:
        """Open a session under a token's hash."""

    async def session_user(self, token_hash: str) -> Row | None:
        """The user of an unexpired session, with `org_kind` and `org_aggregator_id`."""

    async def delete_session(self, token_hash: str) -> None:
        """Close a session (nothing when there is none)."""


class Reservation(Protocol):
    """Whether a login attempt may check its password (`LoginAttempts.reserve_attempt`)."""

    @property
    def granted(self) -> bool:
        """True: the attempt was counted and may go on."""

    @property
    def retry_after(self) -> int:
        """When refused: the seconds the username's lock still holds."""


class LoginAttempts(Protocol):
    """The lockout's counts, shared by every replica."""

    async def reserve_attempt(self, username: str, limit: int, lock_seconds: int) -> Reservation:
        """Count an attempt before its password is checked, or refuse it while locked."""

    async def clear_failures(self, username: str) -> None:
        """A success: the count starts over (and a lock set meanwhile is lifted)."""

    async def replace_password_hash(self, user_id: str, old: str, new: str) -> bool:
        """Store a rehashed password unless the hash changed meanwhile; True when stored."""


class Passwords(Protocol):
    """Password hashing (argon2id within a memory budget)."""

    async def hash(self, password: str) -> str:
        """A hash of the password; `Overloaded` when there is no room to compute one now."""

    async def verify(
        self, password_hash: str | None, password: str, admit: Admit | None = None
    ) -> bool:
        """Whether the password matches (None: an unknown user, checked at the same cost);
        `admit` runs once the work may start and may refuse it by raising."""

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a hash was made with other parameters than today's."""


class AccountStore(Protocol):
    """Access accounts; each change is written with its config event."""

    async def get_account(self, account_id: str) -> Row:
        """One account (any status), or {}."""

    async def insert_account(
        self, account: Row, event: OutboxEvent, apps: list[str] | None = None
    ) -> None:
        """Store a new account; `apps` it switches on must be subscribed by its enterprise
        (else `ValidationFailed` naming each)."""

    async def update_account(
        self, account: Row, expected_version: int, event: OutboxEvent, apps: list[str] | None = None
    ) -> bool:
        """Write a new version unless the stored one is no longer `expected_version` (False)."""

    async def list_accounts(
        self, scope: Org | None, enterprise_id: str | None, after: str | None, limit: int
    ) -> list[Row]:
        """Active accounts in a scope, by id, after the id `after`."""


class TemplateStore(Protocol):
    """Message templates; each change is written with its event (a tombstone on delete)."""

    async def insert_template(self, template: Row, event: OutboxEvent) -> None:
        """Store a new template; a name taken in its enterprise and channel is `Conflict`."""

    async def get_template(self, template_id: str) -> Row | None:
        """One template, or None."""

    async def list_templates(
        self, scope: Org | None, enterprise_id: str | None, status: str | None
    ) -> list[Row]:
        """Templates in a scope, of one enterprise and one status when given, by id."""

    async def update_template(
        self, template: Row, expected_version: int, event: OutboxEvent
    ) -> None:
        """Write a new status; a lost race is `Conflict`."""

    async def delete_template(self, template: Row, event: OutboxEvent) -> None:
        """Delete a template; a lost race is `Conflict`."""


class SenderStore(Protocol):
    """Registered senders; each change is written with its event (a tombstone on delete)."""

    async def insert_sender(self, sender: Row, event: OutboxEvent) -> None:
        """Store a new sender; one registered already in its enterprise and channel is
        `Conflict`."""

    async def get_sender(self, sender_id: str) -> Row | None:
        """One sender, or None."""

    async def list_senders(
        self, scope: Org | None, enterprise_id: str | None, channel: str | None
    ) -> list[Row]:
        """Senders in a scope, of one enterprise and one channel when given, by id."""

    async def delete_sender(self, sender: Row, event: OutboxEvent) -> None:
        """Delete a sender; a lost race is `Conflict`."""


class SubscriptionStore(Protocol):
    """The apps enterprises subscribe to."""

    async def subscriptions(self, enterprise_id: str) -> list[Row]:
        """The enterprise's subscriptions (`app`, `created_at`), by app."""

    async def subscribe(self, enterprise_id: str, app: str) -> bool:
        """Subscribe (idempotent); whether it is new."""

    async def withdraw(
        self, enterprise_id: str, app: str, switch_off: SwitchOff
    ) -> list[str] | None:
        """Withdraw and, in the same transaction, switch the app off in every active account of
        the enterprise that has it on (`switch_off` makes each one's next version and event);
        the accounts changed, or None when the enterprise did not subscribe."""


class WebhookLog(Protocol):
    """webhook-svc's delivery log and dead letters (it holds them; account-svc asks)."""

    async def deliveries(self, account_id: str, limit: int) -> list[Row]:
        """An account's recent delivery attempts, newest first."""

    async def attempts_of(self, account_id: str, event_ids: list[str]) -> list[Row]:
        """The attempts that carried one of these events, newest first."""

    async def dead_letters(self, account_id: str) -> list[Row]:
        """An account's dead letters."""

    async def replay(self, account_id: str, dead_letter_id: str) -> None:
        """Deliver a dead letter again from attempt 1 (`NotFound` when there is none)."""


class RoutingViews(Protocol):
    """What routing-svc knows of routes and messages (it holds them; account-svc asks)."""

    async def routes(self) -> list[Row]:
        """Every replica's routes (`replica`, `routes`); `TransientError` when none answers."""

    async def trace(self, message_id: str) -> Row | None:
        """A message's trace, or None."""

    async def find(self, query: str, accounts: list[str] | None, limit: int) -> Row:
        """Messages whose `client_ref` is `query` (`items`, `truncated`), of these accounts
        (None: every account)."""


class AccountIndex(Protocol):
    """Account ids by scope, for views of data kept elsewhere (deleted accounts included)."""

    async def in_scope(self, scope: Org | None, enterprise_id: str | None) -> set[str]:
        """Every account id in a scope, of one enterprise when given."""

    async def labels(self, account_ids: list[str]) -> dict[str, str]:
        """The label of each of these accounts that exists."""


class Traffic(Protocol):
    """The last hour's counts of status events and webhook attempts, and the queues."""

    async def ensure_following(self) -> None:
        """Start counting (from an hour back) unless already counting."""

    def counts(self, accounts: Collection[str] | None) -> Row:
        """The per-minute counts of these accounts (None: every account)."""

    def status(self) -> Row:
        """Whether the replay of the past hour still runs, and from when counts are whole."""

    async def queues(self, accounts: Collection[str] | None, platform: bool) -> Row:
        """Queue depths now: SUBMIT's of these accounts, every stream's for the platform."""
