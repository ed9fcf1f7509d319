"""Who may see and change what: roles and tenant scopes of CONTRACT section 2.

A platform user (no organization) sees everything; an aggregator user sees its aggregator
and the enterprises under it; an enterprise user sees its enterprise. Only `super_admin`
manages users and organizations. Anything out of scope is reported as not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["super_admin", "admin"]
OrgKind = Literal["aggregator", "enterprise"]


@dataclass(frozen=True)
class Org:
    """The part of an organization that scope rules need."""

    id: str
    kind: OrgKind
    aggregator_id: str | None


@dataclass(frozen=True)
class Principal:
    """The authenticated user and the organization it belongs to (None: platform)."""

    user_id: str
    username: str
    role: Role
    org: Org | None

    @property
    def is_platform(self) -> bool:
        """Whether this user belongs to the platform itself."""
        return self.org is None

    @property
    def is_super_admin(self) -> bool:
        """Whether this user may manage users and organizations."""
        return self.role == "super_admin"

    def sees_org(self, org: Org) -> bool:
        """Whether `org` is within this user's scope."""
        if self.org is None:
            return True
        if self.org.kind == "aggregator":
            return self.org.id in (org.id, org.aggregator_id)
        return org.id == self.org.id

    def sees_enterprise(self, org: Org) -> bool:
        """Whether `org` is an enterprise within scope (accounts and groups live there)."""
        return org.kind == "enterprise" and self.sees_org(org)


class ScopeDenied(Exception):
    """The principal may not do this; `not_found` says whether to answer 404 rather than 403."""

    def __init__(self, reason: str, *, not_found: bool, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.not_found = not_found
        self.field = field


def check_create_org(
    principal: Principal, kind: OrgKind, aggregator: Org | None, aggregator_given: bool
) -> str | None:
    """Check an organization creation; return the aggregator id the new one goes under.

    `aggregator` is the organization named by `aggregator_id` (None when not given or absent).
    """
    if not principal.is_super_admin:
        raise ScopeDenied("only a super_admin manages organizations", not_found=False)
    me = principal.org
    if me is not None and me.kind == "enterprise":
        raise ScopeDenied("an enterprise user cannot create organizations", not_found=False)
    if aggregator_given and aggregator is None:
        raise ScopeDenied("aggregator not found", not_found=True, field="aggregator_id")
    if aggregator is not None and not principal.sees_org(aggregator):
        raise ScopeDenied("aggregator not found", not_found=True, field="aggregator_id")
    if me is None:
        return aggregator.id if aggregator is not None else None
    # An aggregator super admin creates enterprises under its own aggregator only.
    if kind == "aggregator":
        raise ScopeDenied("an aggregator user cannot create aggregators", not_found=False)
    return me.id


def check_create_user(principal: Principal, target: Org | None) -> None:
    """A super admin creates users in its organization or in one below it."""
    if not principal.is_super_admin:
        raise ScopeDenied("only a super_admin manages users", not_found=False)
    if target is None:
        if not principal.is_platform:
            raise ScopeDenied("organization not found", not_found=True, field="organization_id")
        return
    if not principal.sees_org(target):
        raise ScopeDenied("organization not found", not_found=True, field="organization_id")
