"""App subscriptions: an account switches on only the apps its enterprise subscribes to (422
naming `apps.<name>`); the enterprise's provider manages them; a withdrawal switches the app
off in every account of the enterprise, announced like a PATCH."""

from __future__ import annotations

from typing import Any

import nats
import orjson
from account_svc.adapters.postgres import _migrations, apply_migrations, create_pool
from account_testkit import Api, make_tenant, seed_for
from parley_devtools.waiting import eventually
from parley_shared import subjects

PASSWORD = "app-subscriptions-pw-1"


def _subs(enterprise_id: str, app: str = "") -> str:
    base = f"/v1/organizations/{enterprise_id}/app-subscriptions"
    return f"{base}/{app}" if app else base


async def test_an_account_enables_only_subscribed_apps(api: Api) -> None:
    """Without the subscription an app switched on is 422 at apps.<name> (create and PATCH);
    after subscribing (201, then 200 again) it is accepted."""
    tenant = await make_tenant(api)
    ent = tenant["enterprise_id"]
    body = seed_for(tenant)
    body["apps"] = {"url_shortener": True, "campaign_manager": True}
    status, problem = await api.call("POST", "/v1/accounts", body)
    assert status == 422, problem
    assert [e["loc"] for e in problem["errors"]] == [
        ["apps", "campaign_manager"],
        ["apps", "url_shortener"],
    ]
    assert (await api.call("PUT", _subs(ent, "url_shortener")))[0] == 201
    assert (await api.call("PUT", _subs(ent, "url_shortener")))[0] == 200
    body["apps"] = {"url_shortener": True}
    status, made = await api.call("POST", "/v1/accounts", body)
    assert status == 201, made
    path = f"/v1/accounts/{made['account']['id']}"
    status, problem = await api.call("PATCH", path, {"apps": {"campaign_manager": True}})
    assert (status, problem["errors"][0]["loc"]) == (422, ["apps", "campaign_manager"])
    status, listed = await api.call("GET", _subs(ent))
    assert [i["app"] for i in listed["items"]] == ["url_shortener"]
    assert (await api.call("PUT", _subs(ent, "weather")))[0] == 422


async def test_withdrawal_switches_the_app_off_in_every_account(api: Api, nats_url: str) -> None:
    """Withdrawing URL Shortener turns it off in the two accounts that had it on (version + 1,
    a config event each), leaves the third alone, and names the two."""
    tenant = await make_tenant(api)
    ent = tenant["enterprise_id"]
    await api.call("PUT", _subs(ent, "url_shortener"))
    ids = []
    for on in (True, True, False):
        body = seed_for(tenant)
        body["apps"] = {"url_shortener": on}
        status, made = await api.call("POST", "/v1/accounts", body)
        assert status == 201, made
        ids.append(made["account"]["id"])
    status, answer = await api.call("DELETE", _subs(ent, "url_shortener"))
    assert status == 200, answer
    assert answer == {"app": "url_shortener", "accounts_changed": sorted(ids[:2])}
    for account_id, version in zip(ids, (2, 2, 1), strict=True):
        _, account = await api.call("GET", f"/v1/accounts/{account_id}")
        assert (account["apps"]["url_shortener"], account["version"]) == (False, version)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def version_2() -> Any:
            msg = await js.get_last_msg(subjects.STREAM_ACCOUNTS, subjects.account_config(ids[0]))
            data = orjson.loads(msg.data)["data"]
            return data if data["version"] == 2 else None

        data = await eventually(version_2, what="the account's version 2 event", step_s=0.05)
        assert data["account"]["apps"]["url_shortener"] is False
    finally:
        await nc.close()
    assert (await api.call("DELETE", _subs(ent, "url_shortener")))[0] == 404


async def test_the_enterprises_own_users_read_but_do_not_change(api: Api) -> None:
    """An enterprise admin lists its subscriptions, is refused subscribing or withdrawing (403),
    and sees another enterprise's as not found (404)."""
    mine = await make_tenant(api)
    theirs = await make_tenant(api)
    await api.call("PUT", _subs(mine["enterprise_id"], "template_lookup"))
    user = {
        "username": "subs-ent-admin",
        "password": PASSWORD,
        "role": "admin",
        "organization_id": mine["enterprise_id"],
    }
    assert (await api.call("POST", "/v1/users", user))[0] == 201
    admin = await api.as_user("subs-ent-admin", PASSWORD)
    status, listed = await admin.call("GET", _subs(mine["enterprise_id"]))
    assert (status, [i["app"] for i in listed["items"]]) == (200, ["template_lookup"])
    assert (await admin.call("PUT", _subs(mine["enterprise_id"], "url_shortener")))[0] == 403
    assert (await admin.call("DELETE", _subs(mine["enterprise_id"], "template_lookup")))[0] == 403
    assert (await admin.call("GET", _subs(theirs["enterprise_id"])))[0] == 404


async def test_the_migration_subscribes_what_accounts_use(database_url: str) -> None:
    """Accounts stored before subscriptions: every app an active account has on becomes a
    subscription of its enterprise; apps off subscribe nothing."""
    pool = await create_pool(database_url)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE SCHEMA IF NOT EXISTS account_svc")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for version, name, sql in _migrations():
                if version < 5:
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        name,
                    )
            await conn.execute(
                "INSERT INTO organizations (id, name, kind) VALUES ('ent_a', 'A', 'enterprise')"
            )
            await conn.execute(
                "INSERT INTO business_groups (id, name, enterprise_id)"
                " VALUES ('bg_a', 'G', 'ent_a')"
            )
            apps = {"template_lookup": True, "url_shortener": False, "campaign_manager": True}
            await conn.execute(
                "INSERT INTO accounts (id, enterprise_id, business_group_id, version, status,"
                " config, secrets) VALUES ('acc_a', 'ent_a', 'bg_a', 1, 'active', $1, '{}')",
                {"apps": apps},
            )
        assert "0005_app_subscriptions.sql" in await apply_migrations(pool)
        rows = await pool.fetch("SELECT enterprise_id, app FROM app_subscriptions ORDER BY app")
        assert [(r["enterprise_id"], r["app"]) for r in rows] == [
            ("ent_a", "campaign_manager"),
            ("ent_a", "template_lookup"),
        ]
    finally:
        await pool.close()
