"""Tenant scope rules: who sees which organization, who may create what."""

from __future__ import annotations

import pytest
from account_svc.domain.scope import (
    Org,
    Principal,
    ScopeDenied,
    check_create_org,
    check_create_user,
)

AGG = Org("agg_1", "aggregator", None)
ENT_UNDER = Org("ent_1", "enterprise", "agg_1")
ENT_OTHER = Org("ent_2", "enterprise", "agg_2")
ENT_DIRECT = Org("ent_3", "enterprise", None)


def who(org: Org | None, role: str = "super_admin") -> Principal:
    return Principal("usr_1", "u", role, org)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("principal", "org", "sees"),
    [
        (who(None), ENT_OTHER, True),
        (who(AGG), AGG, True),
        (who(AGG), ENT_UNDER, True),
        (who(AGG), ENT_OTHER, False),
        (who(AGG), ENT_DIRECT, False),
        (who(ENT_UNDER), ENT_UNDER, True),
        (who(ENT_UNDER), AGG, False),
        (who(ENT_UNDER), ENT_OTHER, False),
    ],
)
def test_scope_visibility(principal: Principal, org: Org, sees: bool) -> None:
    """Platform sees all; an aggregator itself and its enterprises; an enterprise itself."""
    assert principal.sees_org(org) is sees


def test_org_creation_powers() -> None:
    """Admins and enterprise users create nothing; aggregators only enterprises under them."""
    with pytest.raises(ScopeDenied) as denied:
        check_create_org(who(None, "admin"), "enterprise", None, False)
    assert not denied.value.not_found
    with pytest.raises(ScopeDenied):
        check_create_org(who(ENT_UNDER), "enterprise", None, False)
    with pytest.raises(ScopeDenied):
        check_create_org(who(AGG), "aggregator", None, False)
    assert check_create_org(who(AGG), "enterprise", None, False) == "agg_1"
    assert check_create_org(who(None), "enterprise", AGG, True) == "agg_1"
    with pytest.raises(ScopeDenied) as denied:
        check_create_org(who(AGG), "enterprise", Org("agg_2", "aggregator", None), True)
    assert denied.value.not_found


def test_user_creation_powers() -> None:
    """A super admin creates users at or below its organization; platform users only by platform."""
    check_create_user(who(AGG), ENT_UNDER)
    check_create_user(who(None), None)
    with pytest.raises(ScopeDenied):
        check_create_user(who(AGG), ENT_OTHER)
    with pytest.raises(ScopeDenied):
        check_create_user(who(AGG), None)
    with pytest.raises(ScopeDenied):
        check_create_user(who(AGG, "admin"), ENT_UNDER)
