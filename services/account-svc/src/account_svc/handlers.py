"""Use cases of the management API other than access accounts: login, organizations, users,
business groups, and the bootstrap super admin."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from parley_shared.ids import new_id
from parley_shared.timefmt import format_ts

from account_svc import auth
from account_svc.adapters.login_store import LoginStore
from account_svc.adapters.repository import Repository
from account_svc.domain.scope import (
    Org,
    Principal,
    ScopeDenied,
    check_create_org,
    check_create_user,
)
from account_svc.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from account_svc.login import LoginGuard, Logins
from account_svc.models import (
    BusinessGroupIn,
    LoginIn,
    OrganizationIn,
    UserIn,
)

log = structlog.get_logger("account_svc.handlers")


def org_of(row: dict[str, Any] | None) -> Org | None:
    """The scope view of an organization row."""
    if row is None:
        return None
    return Org(id=row["id"], kind=row["kind"], aggregator_id=row["aggregator_id"])


def denied(exc: ScopeDenied) -> Exception:
    """A scope refusal as the error the API answers."""
    if exc.not_found:
        return NotFound(exc.reason)
    return Forbidden(exc.reason)


def org_out(row: dict[str, Any]) -> dict[str, Any]:
    """An organization as answered."""
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "aggregator_id": row["aggregator_id"],
        "created_at": format_ts(row["created_at"]),
    }


def user_out(row: dict[str, Any]) -> dict[str, Any]:
    """A user as answered (no password hash)."""
    return {
        "id": row["id"],
        "username": row["username"],
        "role": row["role"],
        "organization_id": row["organization_id"],
        "created_at": format_ts(row["created_at"]),
    }


def group_out(row: dict[str, Any]) -> dict[str, Any]:
    """A business group as answered."""
    return {
        "id": row["id"],
        "name": row["name"],
        "enterprise_id": row["enterprise_id"],
        "created_at": format_ts(row["created_at"]),
    }


class Directory:
    """Login, organizations, users and business groups."""

    def __init__(
        self,
        repo: Repository,
        token_ttl_seconds: int,
        passwords: auth.Passwords,
        guard: LoginGuard,
    ) -> None:
        self.repo = repo
        self.token_ttl = timedelta(seconds=token_ttl_seconds)
        self.passwords = passwords
        self.logins = Logins(repo, LoginStore(repo.pool), passwords, guard, self.token_ttl)

    # ------------------------------------------------------------------ auth
    async def login(
        self, body: LoginIn, peer: str | None = None, forwarded_for: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Check credentials within the login limits (see `account_svc.login`)."""
        return await self.logins.login(body, peer, forwarded_for)

    async def authenticate(self, token: str | None) -> Principal:
        """The principal of a bearer token, or Unauthorized."""
        if not token:
            raise Unauthorized("missing bearer token")
        row = await self.repo.session_user(auth.token_hash(token))
        if row is None:
            raise Unauthorized("invalid or expired token")
        org = None
        if row["organization_id"] is not None:
            org = Org(row["organization_id"], row["org_kind"], row["org_aggregator_id"])
        return Principal(row["id"], row["username"], row["role"], org)

    async def logout(self, token: str) -> None:
        """Forget the token."""
        await self.repo.delete_session(auth.token_hash(token))

    # ------------------------------------------------------------------ organizations
    async def create_org(self, who: Principal, body: OrganizationIn) -> dict[str, Any]:
        """Create an aggregator or enterprise within the caller's powers."""
        given = "aggregator_id" in body.model_fields_set and body.aggregator_id is not None
        aggregator_row = await self.repo.get_org(body.aggregator_id) if given else None  # type: ignore[arg-type]
        try:
            parent = check_create_org(who, body.kind, org_of(aggregator_row), given)
        except ScopeDenied as exc:
            raise denied(exc) from exc
        if body.kind == "aggregator" and parent is not None:
            raise ValidationFailed.at(["aggregator_id"], "an aggregator cannot be under another")
        if aggregator_row is not None and aggregator_row["kind"] != "aggregator":
            raise ValidationFailed.at(["aggregator_id"], "is not an aggregator")
        prefix = "agg" if body.kind == "aggregator" else "ent"
        row = await self.repo.insert_org(
            {"id": new_id(prefix), "name": body.name, "kind": body.kind, "aggregator_id": parent}
        )
        log.info("organization_created", organization_id=row["id"], kind=row["kind"])
        return org_out(row)

    async def list_orgs(self, who: Principal) -> list[dict[str, Any]]:
        """Organizations in scope."""
        return [org_out(r) for r in await self.repo.list_orgs(who.org)]

    async def visible_org(self, who: Principal, org_id: str) -> dict[str, Any]:
        """An organization in scope, or NotFound."""
        row = await self.repo.get_org(org_id)
        org = org_of(row)
        if row is None or org is None or not who.sees_org(org):
            raise NotFound("organization not found")
        return row

    async def visible_enterprise(self, who: Principal, enterprise_id: str) -> dict[str, Any]:
        """An enterprise in scope, or NotFound / ValidationFailed (an aggregator's id)."""
        row = await self.visible_org(who, enterprise_id)
        if row["kind"] != "enterprise":
            raise ValidationFailed.at(["enterprise_id"], "is not an enterprise")
        return row

    # ------------------------------------------------------------------ users
    async def create_user(self, who: Principal, body: UserIn) -> dict[str, Any]:
        """A super admin creates a user in its organization or one below it."""
        target_row = None
        if body.organization_id is not None:
            target_row = await self.repo.get_org(body.organization_id)
            if target_row is None:
                if not who.is_super_admin:
                    raise Forbidden("only a super_admin manages users")
                raise NotFound("organization not found")
        try:
            check_create_user(who, org_of(target_row))
        except ScopeDenied as exc:
            raise denied(exc) from exc
        row = await self.repo.insert_user(
            {
                "id": new_id("usr"),
                "username": body.username,
                "password_hash": await self.passwords.hash(body.password),
                "role": body.role,
                "organization_id": body.organization_id,
            }
        )
        log.info("user_created", user_id=row["id"])
        return user_out(row)

    async def list_users(self, who: Principal) -> list[dict[str, Any]]:
        """Users in scope (super admins only)."""
        if not who.is_super_admin:
            raise Forbidden("only a super_admin manages users")
        return [user_out(r) for r in await self.repo.list_users(who.org)]

    async def ensure_bootstrap_admin(self, username: str, password: str) -> bool:
        """Create the platform super admin when no user exists; True when created."""
        if await self.repo.count_users() > 0:
            return False
        await self.repo.insert_user(
            {
                "id": new_id("usr"),
                "username": username,
                "password_hash": await self.passwords.hash(password),
                "role": "super_admin",
                "organization_id": None,
            }
        )
        log.info("bootstrap_admin_created", username=username)
        return True

    # ------------------------------------------------------------------ business groups
    async def create_group(self, who: Principal, body: BusinessGroupIn) -> dict[str, Any]:
        """A business group in an enterprise of the caller's scope."""
        await self.visible_enterprise(who, body.enterprise_id)
        row = await self.repo.insert_business_group(
            {"id": new_id("bg"), "name": body.name, "enterprise_id": body.enterprise_id}
        )
        log.info("business_group_created", business_group_id=row["id"])
        return group_out(row)

    async def list_groups(self, who: Principal, enterprise_id: str | None) -> list[dict[str, Any]]:
        """Business groups in scope, optionally of one enterprise (404 when out of scope)."""
        if enterprise_id is not None:
            await self.visible_org(who, enterprise_id)
        return [group_out(r) for r in await self.repo.list_business_groups(who.org, enterprise_id)]
