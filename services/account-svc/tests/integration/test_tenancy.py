"""Roles and tenant scopes: who sees and changes what; another tenant's ids answer 404."""

from __future__ import annotations

from typing import Any

import pytest
from account_testkit import Api, make_tenant, seed_for

PASSWORD = "tenant-password-1"


async def _user(api: Api, name: str, role: str, org_id: str | None) -> Api:
    status, data = await api.call(
        "POST",
        "/v1/users",
        {"username": name, "password": PASSWORD, "role": role, "organization_id": org_id},
    )
    assert status == 201, data
    assert "password" not in data
    return await api.as_user(name, PASSWORD)


@pytest.fixture
async def world(api: Api) -> dict[str, Any]:
    """Two aggregators each with an enterprise and account, a direct enterprise, and users."""
    a = await make_tenant(api)
    b = await make_tenant(api)
    d = await make_tenant(api, aggregator=False)
    accounts = {}
    for name, tenant in (("a", a), ("b", b), ("d", d)):
        status, created = await api.call("POST", "/v1/accounts", seed_for(tenant))
        assert status == 201, created
        accounts[name] = created["account"]["id"]
    users = {
        "agg_a_super": await _user(api, "agg-a-super", "super_admin", a["aggregator_id"]),
        "agg_a_admin": await _user(api, "agg-a-admin", "admin", a["aggregator_id"]),
        "ent_a_super": await _user(api, "ent-a-super", "super_admin", a["enterprise_id"]),
        "ent_a_admin": await _user(api, "ent-a-admin", "admin", a["enterprise_id"]),
        "ent_d_admin": await _user(api, "ent-d-admin", "admin", d["enterprise_id"]),
    }
    return {"a": a, "b": b, "d": d, "accounts": accounts, "users": users}


# (user, tenant whose account is read, expected status)
READ_MATRIX = [
    ("agg_a_super", "a", 200),
    ("agg_a_admin", "a", 200),
    ("ent_a_super", "a", 200),
    ("ent_a_admin", "a", 200),
    ("agg_a_super", "b", 404),
    ("agg_a_admin", "d", 404),
    ("ent_a_admin", "b", 404),
    ("ent_a_admin", "d", 404),
    ("ent_d_admin", "d", 200),
    ("ent_d_admin", "a", 404),
]


@pytest.mark.parametrize(("user", "tenant", "expected"), READ_MATRIX)
async def test_account_visibility_matrix(
    world: dict[str, Any], user: str, tenant: str, expected: int
) -> None:
    """Each user reads, patches, rotates and deletes accounts only within its scope."""
    client: Api = world["users"][user]
    account_id = world["accounts"][tenant]
    status, data = await client.call("GET", f"/v1/accounts/{account_id}")
    assert status == expected, data
    if expected == 404:
        assert data["type"] == "not_found"
        for method, path, body in (
            ("PATCH", f"/v1/accounts/{account_id}", {"label": "x"}),
            ("POST", f"/v1/accounts/{account_id}/api-keys", None),
            ("POST", f"/v1/accounts/{account_id}/webhook-signing-secret", None),
            ("DELETE", f"/v1/accounts/{account_id}", None),
        ):
            status, _ = await client.call(method, path, body)
            assert status == 404, (method, path)


async def test_lists_hold_only_what_is_in_scope(world: dict[str, Any], api: Api) -> None:
    """Organization, group and account lists show only the caller's scope."""
    agg_admin: Api = world["users"]["agg_a_admin"]
    a, b = world["a"], world["b"]
    _, orgs = await agg_admin.call("GET", "/v1/organizations")
    assert {o["id"] for o in orgs["items"]} == {a["aggregator_id"], a["enterprise_id"]}
    _, groups = await agg_admin.call("GET", "/v1/business-groups")
    assert {g["id"] for g in groups["items"]} == {a["business_group_id"]}
    _, accounts = await agg_admin.call("GET", "/v1/accounts")
    assert [x["id"] for x in accounts["items"]] == [world["accounts"]["a"]]
    status, _ = await agg_admin.call("GET", f"/v1/accounts?enterprise_id={b['enterprise_id']}")
    assert status == 404
    _, everything = await api.call("GET", "/v1/organizations")
    assert len(everything["items"]) == 5


async def test_only_super_admins_manage_users_and_orgs(world: dict[str, Any]) -> None:
    """An admin may not create users or organizations (403)."""
    agg_admin: Api = world["users"]["agg_a_admin"]
    status, data = await agg_admin.call(
        "POST", "/v1/organizations", {"name": "New", "kind": "enterprise"}
    )
    assert status == 403
    assert data["type"] == "forbidden"
    status, _ = await agg_admin.call(
        "POST",
        "/v1/users",
        {"username": "x-user", "password": PASSWORD, "role": "admin", "organization_id": None},
    )
    assert status == 403


async def test_aggregator_super_admin_creates_enterprises_under_itself(
    world: dict[str, Any],
) -> None:
    """An aggregator super admin's enterprise lands under its aggregator; no aggregators."""
    client: Api = world["users"]["agg_a_super"]
    status, ent = await client.call(
        "POST", "/v1/organizations", {"name": "E2", "kind": "enterprise"}
    )
    assert status == 201
    assert ent["aggregator_id"] == world["a"]["aggregator_id"]
    status, _ = await client.call("POST", "/v1/organizations", {"name": "A2", "kind": "aggregator"})
    assert status == 403
    status, _ = await client.call(
        "POST",
        "/v1/organizations",
        {"name": "E3", "kind": "enterprise", "aggregator_id": world["b"]["aggregator_id"]},
    )
    assert status == 404


async def test_super_admin_creates_users_only_at_or_below_its_org(world: dict[str, Any]) -> None:
    """An aggregator super admin creates users in its enterprises, not in another tenant's."""
    client: Api = world["users"]["agg_a_super"]
    body = {"username": "new-ent-user", "password": PASSWORD, "role": "admin"}
    status, _ = await client.call(
        "POST", "/v1/users", {**body, "organization_id": world["a"]["enterprise_id"]}
    )
    assert status == 201
    status, _ = await client.call(
        "POST",
        "/v1/users",
        {**body, "username": "user-two", "organization_id": world["b"]["enterprise_id"]},
    )
    assert status == 404
    status, _ = await client.call(
        "POST", "/v1/users", {**body, "username": "user-three", "organization_id": None}
    )
    assert status == 404


async def test_ids_of_another_tenant_in_a_body_answer_404(world: dict[str, Any]) -> None:
    """An enterprise or business group of another tenant in a body answers 404."""
    client: Api = world["users"]["ent_a_admin"]
    status, _ = await client.call(
        "POST", "/v1/business-groups", {"name": "G", "enterprise_id": world["b"]["enterprise_id"]}
    )
    assert status == 404
    status, _ = await client.call("POST", "/v1/accounts", seed_for(world["b"]))
    assert status == 404
    mixed = seed_for(world["a"])
    mixed["business_group_id"] = world["b"]["business_group_id"]
    status, _ = await client.call("POST", "/v1/accounts", mixed)
    assert status == 404


async def test_duplicate_username_is_409(api: Api) -> None:
    """A taken username answers 409 conflict naming `username`."""
    body = {"username": "dup-user", "password": PASSWORD, "role": "admin", "organization_id": None}
    status, _ = await api.call("POST", "/v1/users", body)
    assert status == 201
    status, data = await api.call("POST", "/v1/users", body)
    assert status == 409
    assert data["errors"][0]["loc"] == ["username"]
