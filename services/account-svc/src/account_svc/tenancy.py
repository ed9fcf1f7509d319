"""Use cases of tenancy: organizations, users, business groups and the bootstrap super admin,
and the scope checks every other use case asks (`visible_org`, `visible_enterprise`, `sees`).

Scope (CONTRACT 2, `domain.scope`): what lies outside the caller's scope answers 404 like
what does not exist, so nobody learns another tenant's ids.
"""

from __future__ import annotations

from typing import Any

import structlog
from parley_shared.ids import new_id

from account_svc.domain.answers import group_out, org_out, user_out
from account_svc.domain.requests import BusinessGroupIn, OrganizationIn, UserIn
from account_svc.domain.scope import (
    Org,
    Principal,
    ScopeDenied,
    check_create_org,
    check_create_user,
)
from account_svc.errors import Forbidden, NotFound, ValidationFailed
from account_svc.ports import Organizations, Passwords, Users

log = structlog.get_logger("account_svc.tenancy")


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


class Tenancy:
    """Organizations, users and business groups, and who sees which."""

    def __init__(self, orgs: Organizations, users: Users, passwords: Passwords) -> None:
        self.orgs = orgs
        self.users = users
        self.passwords = passwords

    # ------------------------------------------------------------------ scope
    async def sees(self, who: Principal, org_id: str) -> bool:
        """Whether that organization exists and lies in the caller's scope."""
        org = org_of(await self.orgs.get_org(org_id))
        return org is not None and who.sees_org(org)

    async def visible_org(self, who: Principal, org_id: str) -> dict[str, Any]:
        """An organization in scope, or NotFound."""
        row = await self.orgs.get_org(org_id)
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

    # ------------------------------------------------------------------ organizations
    async def create_org(self, who: Principal, body: OrganizationIn) -> dict[str, Any]:
        """Create an aggregator or enterprise within the caller's powers."""
        given = "aggregator_id" in body.model_fields_set and body.aggregator_id is not None
        aggregator_row = await self.orgs.get_org(body.aggregator_id) if given else None  # type: ignore[arg-type]
        try:
            parent = check_create_org(who, body.kind, org_of(aggregator_row), given)
        except ScopeDenied as exc:
            raise denied(exc) from exc
        if body.kind == "aggregator" and parent is not None:
            raise ValidationFailed.at(["aggregator_id"], "an aggregator cannot be under another")
        if aggregator_row is not None and aggregator_row["kind"] != "aggregator":
            raise ValidationFailed.at(["aggregator_id"], "is not an aggregator")
        prefix = "agg" if body.kind == "aggregator" else "ent"
        row = await self.orgs.insert_org(
            {"id": new_id(prefix), "name": body.name, "kind": body.kind, "aggregator_id": parent}
        )
        log.info("organization_created", organization_id=row["id"], kind=row["kind"])
        return org_out(row)

    async def list_orgs(self, who: Principal) -> list[dict[str, Any]]:
        """Organizations in scope."""
        return [org_out(r) for r in await self.orgs.list_orgs(who.org)]

    # ------------------------------------------------------------------ users
    async def create_user(self, who: Principal, body: UserIn) -> dict[str, Any]:
        """A super admin creates a user in its organization or one below it."""
        target_row = None
        if body.organization_id is not None:
            target_row = await self.orgs.get_org(body.organization_id)
            if target_row is None:
                if not who.is_super_admin:
                    raise Forbidden("only a super_admin manages users")
                raise NotFound("organization not found")
        try:
            check_create_user(who, org_of(target_row))
        except ScopeDenied as exc:
            raise denied(exc) from exc
        row = await self._insert_user(body.username, body.password, body.role, body.organization_id)
        log.info("user_created", user_id=row["id"])
        return user_out(row)

    async def _insert_user(
        self, username: str, password: str, role: str, organization_id: str | None
    ) -> dict[str, Any]:
        return await self.users.insert_user(
            {
                "id": new_id("usr"),
                "username": username,
                "password_hash": await self.passwords.hash(password),
                "role": role,
                "organization_id": organization_id,
            }
        )

    async def list_users(self, who: Principal) -> list[dict[str, Any]]:
        """Users in scope (super admins only)."""
        if not who.is_super_admin:
            raise Forbidden("only a super_admin manages users")
        return [user_out(r) for r in await self.users.list_users(who.org)]

    async def ensure_bootstrap_admin(self, username: str, password: str) -> bool:
        """Create the platform super admin when no user exists; True when created."""
        if await self.users.count_users() > 0:
            return False
        await self._insert_user(username, password, "super_admin", None)
        log.info("bootstrap_admin_created", username=username)
        return True

    # ------------------------------------------------------------------ business groups
    async def create_group(self, who: Principal, body: BusinessGroupIn) -> dict[str, Any]:
        """A business group in an enterprise of the caller's scope."""
        await self.visible_enterprise(who, body.enterprise_id)
        row = await self.orgs.insert_business_group(
            {"id": new_id("bg"), "name": body.name, "enterprise_id": body.enterprise_id}
        )
        log.info("business_group_created", business_group_id=row["id"])
        return group_out(row)

    async def list_groups(self, who: Principal, enterprise_id: str | None) -> list[dict[str, Any]]:
        """Business groups in scope, optionally of one enterprise (404 when out of scope)."""
        if enterprise_id is not None:
            await self.visible_org(who, enterprise_id)
        rows = await self.orgs.list_business_groups(who.org, enterprise_id)
        return [group_out(r) for r in rows]
