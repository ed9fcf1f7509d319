"""In-memory fakes of account-svc's ports, for unit tests of the use cases.

`Memory` holds every table in dicts and implements every store port; `journal` records each
write in order (with its outbox event's subject), so a test can say what was written and what
was never asked. The fakes keep the stores' contracts that the use cases rely on (a lost
version race answers False or `Conflict`, a taken name is `Conflict`); PostgreSQL's own
behaviour is tested against a real server in tests/integration.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from account_svc.domain.records import OutboxEvent
from account_svc.domain.scope import Org, Principal
from account_svc.errors import Conflict, NotFound, Overloaded, TransientError
from account_svc.ports import Admit, SwitchOff

Row = dict[str, Any]
AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

PLATFORM = Principal("usr_p", "root", "super_admin", None)
AGGREGATOR = Org("agg_1", "aggregator", None)
ENTERPRISE = Org("ent_1", "enterprise", "agg_1")
OTHER = Org("ent_2", "enterprise", None)


def user(org: Org | None, role: str = "super_admin") -> Principal:
    """A principal of `org` (None: the platform)."""
    return Principal("usr_" + (org.id if org else "p"), "u", role, org)  # type: ignore[arg-type]


def _in(scope: Org | None, org: Row | None) -> bool:
    if scope is None:
        return True
    if org is None:
        return False
    return scope.id in (org["id"], org["aggregator_id"])


class Memory:
    """Every store port over dicts; `journal` lists the writes as (what, id, event subject)."""

    def __init__(self) -> None:
        self.orgs: dict[str, Row] = {}
        self.groups: dict[str, Row] = {}
        self.users: dict[str, Row] = {}
        self.sessions: dict[str, tuple[str, datetime]] = {}
        self.accounts: dict[str, Row] = {}
        self.templates: dict[str, Row] = {}
        self.senders: dict[str, Row] = {}
        self.subscribed: dict[str, set[str]] = {}
        self.journal: list[tuple[str, str, str | None]] = []
        for org in (AGGREGATOR, ENTERPRISE, OTHER):
            self.orgs[org.id] = {
                "id": org.id,
                "name": org.id,
                "kind": org.kind,
                "aggregator_id": org.aggregator_id,
                "created_at": AT,
            }
        for group, enterprise in (("bg_1", ENTERPRISE.id), ("bg_2", OTHER.id)):
            self.groups[group] = {"id": group, "name": group, "enterprise_id": enterprise}

    def _write(self, what: str, row_id: str, event: OutboxEvent | None = None) -> None:
        self.journal.append((what, row_id, event.subject if event else None))

    def _scoped(self, table: dict[str, Row], scope: Org | None, key: str) -> list[Row]:
        return [r for _, r in sorted(table.items()) if _in(scope, self.orgs.get(r[key]))]

    # ------------------------------------------------------------ Organizations
    async def get_org(self, org_id: str) -> Row | None:
        return self.orgs.get(org_id)

    async def insert_org(self, org: Row) -> Row:
        self._write("insert_org", org["id"])
        self.orgs[org["id"]] = {**org, "created_at": AT}
        return self.orgs[org["id"]]

    async def list_orgs(self, scope: Org | None) -> list[Row]:
        return self._scoped(self.orgs, scope, "id")

    async def insert_business_group(self, group: Row) -> Row:
        self._write("insert_business_group", group["id"])
        self.groups[group["id"]] = {**group, "created_at": AT}
        return self.groups[group["id"]]

    async def get_business_group(self, group_id: str) -> Row | None:
        return self.groups.get(group_id)

    async def list_business_groups(self, scope: Org | None, enterprise_id: str | None) -> list[Row]:
        rows = self._scoped(self.groups, scope, "enterprise_id")
        return [r for r in rows if enterprise_id in (None, r["enterprise_id"])]

    # ------------------------------------------------------------ Users
    async def count_users(self) -> int:
        return len(self.users)

    async def insert_user(self, row: Row) -> Row:
        if any(u["username"].lower() == row["username"].lower() for u in self.users.values()):
            raise Conflict("username is taken")
        self._write("insert_user", row["id"])
        self.users[row["id"]] = {**row, "created_at": AT}
        return self.users[row["id"]]

    async def user_by_username(self, username: str) -> Row | None:
        found = [u for u in self.users.values() if u["username"].lower() == username.lower()]
        return found[0] if found else None

    async def list_users(self, scope: Org | None) -> list[Row]:
        return [
            u
            for _, u in sorted(self.users.items())
            if scope is None or _in(scope, self.orgs.get(u["organization_id"]))
        ]

    async def insert_session(self, token_hash: str, user_id: str, expires_at: datetime) -> None:
        self._write("insert_session", token_hash)
        self.sessions[token_hash] = (user_id, expires_at)

    async def session_user(self, token_hash: str) -> Row | None:
        found = self.sessions.get(token_hash)
        if found is None:
            return None
        row = self.users[found[0]]
        org = self.orgs.get(row["organization_id"] or "")
        kind, aggregator = (org["kind"], org["aggregator_id"]) if org else (None, None)
        return {**row, "org_kind": kind, "org_aggregator_id": aggregator}

    async def delete_session(self, token_hash: str) -> None:
        self._write("delete_session", token_hash)
        self.sessions.pop(token_hash, None)

    # ------------------------------------------------------------ AccountStore
    async def get_account(self, account_id: str) -> Row:
        return dict(self.accounts.get(account_id, {}))

    async def insert_account(
        self, account: Row, event: OutboxEvent, apps: list[str] | None = None
    ) -> None:
        self._check_apps(account["enterprise_id"], apps or [])
        self._write("insert_account", account["id"], event)
        self.accounts[account["id"]] = dict(account)

    async def update_account(
        self, account: Row, expected_version: int, event: OutboxEvent, apps: list[str] | None = None
    ) -> bool:
        self._check_apps(account["enterprise_id"], apps or [])
        if self.accounts[account["id"]]["version"] != expected_version:
            return False
        self._write("update_account", account["id"], event)
        self.accounts[account["id"]] = dict(account)
        return True

    def _check_apps(self, enterprise_id: str, apps: list[str]) -> None:
        missing = set(apps) - self.subscribed.get(enterprise_id, set())
        if missing:
            raise NotFound(f"not subscribed: {sorted(missing)}")

    async def list_accounts(
        self, scope: Org | None, enterprise_id: str | None, after: str | None, limit: int
    ) -> list[Row]:
        rows = self._scoped(self.accounts, scope, "enterprise_id")
        rows = [r for r in rows if r["status"] == "active" and (after is None or r["id"] > after)]
        return [r for r in rows if enterprise_id in (None, r["enterprise_id"])][:limit]

    # ------------------------------------------------------------ TemplateStore
    async def insert_template(self, template: Row, event: OutboxEvent) -> None:
        self._write("insert_template", template["id"], event)
        self.templates[template["id"]] = dict(template)

    async def get_template(self, template_id: str) -> Row | None:
        return self.templates.get(template_id)

    async def list_templates(
        self, scope: Org | None, enterprise_id: str | None, status: str | None
    ) -> list[Row]:
        rows = self._scoped(self.templates, scope, "enterprise_id")
        return [r for r in rows if status in (None, r["status"])]

    async def update_template(
        self, template: Row, expected_version: int, event: OutboxEvent
    ) -> None:
        if self.templates[template["id"]]["version"] != expected_version:
            raise Conflict("the template changed meanwhile")
        self._write("update_template", template["id"], event)
        self.templates[template["id"]] = dict(template)

    async def delete_template(self, template: Row, event: OutboxEvent) -> None:
        self._write("delete_template", template["id"], event)
        del self.templates[template["id"]]

    # ------------------------------------------------------------ SenderStore
    async def insert_sender(self, sender: Row, event: OutboxEvent) -> None:
        self._write("insert_sender", sender["id"], event)
        self.senders[sender["id"]] = dict(sender)

    async def get_sender(self, sender_id: str) -> Row | None:
        return self.senders.get(sender_id)

    async def list_senders(
        self, scope: Org | None, enterprise_id: str | None, channel: str | None
    ) -> list[Row]:
        rows = self._scoped(self.senders, scope, "enterprise_id")
        return [r for r in rows if channel in (None, r["channel"])]

    async def delete_sender(self, sender: Row, event: OutboxEvent) -> None:
        self._write("delete_sender", sender["id"], event)
        del self.senders[sender["id"]]

    # ------------------------------------------------------------ SubscriptionStore
    async def subscriptions(self, enterprise_id: str) -> list[Row]:
        apps = sorted(self.subscribed.get(enterprise_id, set()))
        return [{"app": app, "created_at": AT} for app in apps]

    async def subscribe(self, enterprise_id: str, app: str) -> bool:
        apps = self.subscribed.setdefault(enterprise_id, set())
        if app in apps:
            return False
        self._write("subscribe", enterprise_id)
        apps.add(app)
        return True

    async def withdraw(
        self, enterprise_id: str, app: str, switch_off: SwitchOff
    ) -> list[str] | None:
        apps = self.subscribed.get(enterprise_id, set())
        if app not in apps:
            return None
        apps.discard(app)
        self._write("withdraw", enterprise_id)
        changed = []
        for row in list(self.accounts.values()):
            on = (row["config"].get("apps") or {}).get(app) is True
            if row["enterprise_id"] == enterprise_id and row["status"] == "active" and on:
                updated, event = switch_off(row)
                self._write("update_account", row["id"], event)
                self.accounts[row["id"]] = updated
                changed.append(row["id"])
        return changed


@dataclass
class Seat:
    """A login attempt's reservation."""

    granted: bool
    retry_after: int = 0


class Attempts:
    """`LoginAttempts`: a count per username, locked at the limit."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.replaced: list[tuple[str, str]] = []

    async def reserve_attempt(self, username: str, limit: int, lock_seconds: int) -> Seat:
        count = self.counts.get(username.lower(), 0)
        if count >= limit:
            return Seat(False, lock_seconds)
        self.counts[username.lower()] = count + 1
        return Seat(True)

    async def clear_failures(self, username: str) -> None:
        self.counts.pop(username.lower(), None)

    async def replace_password_hash(self, user_id: str, old: str, new: str) -> bool:
        self.replaced.append((user_id, new))
        return True


class Hasher:
    """`Passwords` without argon2: "new:<password>" hashes today; "old:" ones need a rehash.
    `checked` counts the passwords actually compared; `overloaded` refuses every check as an
    exhausted memory budget does."""

    def __init__(self) -> None:
        self.checked = 0
        self.overloaded = False  # True: no hashing memory to be had, as the budget spent

    async def hash(self, password: str) -> str:
        return "new:" + password

    async def verify(
        self, password_hash: str | None, password: str, admit: Admit | None = None
    ) -> bool:
        if self.overloaded:  # refused before `admit`, as the real budget refuses
            raise Overloaded("too many password checks at once; retry shortly")
        if admit is not None:
            await admit()
        self.checked += 1
        return password_hash is not None and password_hash.split(":", 1)[1] == password

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith("new:")


class Asked:
    """`WebhookLog`, `RoutingViews`, `AccountIndex` and `Traffic` answering canned data;
    `asked` records every question."""

    def __init__(self, *, webhook_down: bool = False) -> None:
        self.asked: list[tuple[str, Any]] = []
        self.webhook_down = webhook_down
        self.messages: dict[str, Row] = {}
        self.ids: dict[str, str] = {}  # account id -> enterprise id

    async def deliveries(self, account_id: str, limit: int) -> list[Row]:
        self.asked.append(("deliveries", account_id))
        return [{"id": "dlv_1"}]

    async def attempts_of(self, account_id: str, event_ids: list[str]) -> list[Row]:
        self.asked.append(("attempts_of", account_id))
        if self.webhook_down:
            raise TransientError("webhook-svc is not answering; retry later")
        return [{"id": "dlv_1", "event_ids": event_ids}]

    async def dead_letters(self, account_id: str) -> list[Row]:
        self.asked.append(("dead_letters", account_id))
        return []

    async def replay(self, account_id: str, dead_letter_id: str) -> None:
        self.asked.append(("replay", dead_letter_id))

    async def routes(self) -> list[Row]:
        self.asked.append(("routes", None))
        return []

    async def trace(self, message_id: str) -> Row | None:
        self.asked.append(("trace", message_id))
        found = self.messages.get(message_id)
        return dict(found) if found else None

    async def find(self, query: str, accounts: list[str] | None, limit: int) -> Row:
        self.asked.append(("find", query))
        items = [
            {"message_id": m["message_id"], "account_id": m["account_id"]}
            for m in self.messages.values()
            if m.get("client_ref") == query and (accounts is None or m["account_id"] in accounts)
        ]
        return {"items": items, "truncated": False}

    async def in_scope(self, scope: Org | None, enterprise_id: str | None) -> set[str]:
        return {
            a
            for a, e in self.ids.items()
            if enterprise_id in (None, e) and (scope is None or scope.id in (e, "agg_1"))
        }

    async def labels(self, account_ids: list[str]) -> dict[str, str]:
        return {a: f"label of {a}" for a in account_ids if a in self.ids}

    async def ensure_following(self) -> None:
        self.asked.append(("ensure_following", None))

    def counts(self, accounts: Collection[str] | None) -> Row:
        return {"accounts": sorted(accounts) if accounts is not None else None, "truncated": True}

    def status(self) -> Row:
        return {"loading": False, "complete_from": None}

    async def queues(self, accounts: Collection[str] | None, platform: bool) -> Row:
        return {"submit_waiting": 0, "streams": [] if platform else None}
