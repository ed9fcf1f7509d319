"""Registered senders over HTTP: what an enterprise owns, managed by admins of its scope, each
change announced on SENDERS; and the migration that registers what allowlists already name."""

from __future__ import annotations

from typing import Any

import nats
import orjson
from account_svc.adapters.postgres import _migrations, apply_migrations, create_pool
from account_testkit import Api, make_tenant
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.events import SenderData


async def _sender(api: Api, enterprise_id: str, **fields: Any) -> tuple[int, Any]:
    body = {"enterprise_id": enterprise_id, "channel": "sms", "value": "SHOPCO", **fields}
    return await api.call("POST", "/v1/senders", body)


async def test_register_list_get_and_deregister(api: Api) -> None:
    """An SMS sender id with its header registration is registered (201), listed by
    enterprise and channel, read by id, and deregistered (204, then 404)."""
    tenant = await make_tenant(api)
    ent = tenant["enterprise_id"]
    status, made = await _sender(api, ent, header_registration="1105169000000012", label="Shop")
    assert status == 201, made
    assert made["id"].startswith("snd_")
    assert (made["value"], made["header_registration"], made["label"]) == (
        "SHOPCO",
        "1105169000000012",
        "Shop",
    )
    status, waba = await _sender(api, ent, channel="whatsapp", value="+919800000001")
    assert status == 201, waba
    status, listed = await api.call("GET", f"/v1/senders?enterprise_id={ent}&channel=sms")
    assert (status, [s["id"] for s in listed["items"]]) == (200, [made["id"]])
    assert (await api.call("GET", f"/v1/senders/{made['id']}"))[1] == made
    assert (await api.call("DELETE", f"/v1/senders/{made['id']}"))[0] == 204
    assert (await api.call("GET", f"/v1/senders/{made['id']}"))[0] == 404


async def test_bad_senders_name_their_field(api: Api) -> None:
    """A value not in its channel's format, a header registration off SMS, an unknown field,
    a repeat (409) and an enterprise out of scope (404) are refused."""
    ent = (await make_tenant(api))["enterprise_id"]
    cases: list[tuple[dict[str, Any], int, list[Any]]] = [
        ({"value": "S!"}, 422, ["value"]),
        ({"channel": "whatsapp", "value": "9800000001"}, 422, ["value"]),
        (
            {"channel": "rcs", "value": "agent-1", "header_registration": "1"},
            422,
            ["header_registration"],
        ),
        ({"channel": "fax"}, 422, ["channel"]),
        ({"colour": "red"}, 422, ["colour"]),
    ]
    for fields, status, loc in cases:
        got, problem = await _sender(api, ent, **fields)
        assert (got, [e["loc"] for e in problem["errors"]]) == (status, [loc]), fields
    assert (await _sender(api, ent))[0] == 201
    status, problem = await _sender(api, ent)
    assert (status, problem["type"]) == (409, "conflict")
    assert (await _sender(api, "ent_nowhere"))[0] == 404


async def test_each_change_is_announced_on_senders(api: Api, nats_url: str) -> None:
    """Registering publishes the sender on SENDERS; deregistering publishes its tombstone."""
    ent = (await make_tenant(api))["enterprise_id"]
    status, made = await _sender(api, ent)
    assert status == 201
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subject = subjects.sender_config(made["id"])

        async def last() -> SenderData:
            msg = await js.get_last_msg(subjects.STREAM_SENDERS, subject)
            return SenderData.model_validate(orjson.loads(msg.data)["data"])

        async def announced() -> SenderData | None:
            try:
                return await last()
            except nats.js.errors.NotFoundError:
                return None

        data = await eventually(announced, what="the sender's event", step_s=0.05)
        assert (data.status, data.value, data.enterprise_id) == ("active", "SHOPCO", ent)
        await api.call("DELETE", f"/v1/senders/{made['id']}")

        async def deleted() -> SenderData | None:
            data = await last()
            return data if data.status == "deleted" else None

        data = await eventually(deleted, what="the sender's tombstone", step_s=0.05)
        assert (data.status, data.version) == ("deleted", 2)
    finally:
        await nc.close()


async def test_the_migration_registers_what_allowlists_name(database_url: str) -> None:
    """Accounts stored before the registry: every allowlist entry becomes a registered sender
    of its enterprise, announced through the outbox; mode all names nothing."""
    pool = await create_pool(database_url)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE SCHEMA IF NOT EXISTS account_svc")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for version, name, sql in _migrations():
                if version < 4:
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        name,
                    )
            await conn.execute(
                "INSERT INTO organizations (id, name, kind) VALUES ('ent_m', 'M', 'enterprise')"
            )
            await conn.execute(
                "INSERT INTO business_groups (id, name, enterprise_id)"
                " VALUES ('bg_m', 'G', 'ent_m')"
            )
            config = {
                "channel_settings": {
                    "sms": {"sender_ids": {"mode": "allowlist", "allowlist": ["SHOPA", "SHOPB"]}},
                    "whatsapp": {"wabas": {"mode": "all"}},
                    "rcs": {"agents": {"mode": "allowlist", "allowlist": ["agent-m"]}},
                }
            }
            await conn.execute(
                "INSERT INTO accounts (id, enterprise_id, business_group_id, version, status,"
                " config, secrets) VALUES ('acc_m', 'ent_m', 'bg_m', 1, 'active', $1, '{}')",
                config,
            )
        assert "0004_senders.sql" in await apply_migrations(pool)
        rows = await pool.fetch("SELECT channel, value FROM senders ORDER BY channel, value")
        assert [(r["channel"], r["value"]) for r in rows] == [
            ("rcs", "agent-m"),
            ("sms", "SHOPA"),
            ("sms", "SHOPB"),
        ]
        events = await pool.fetch("SELECT subject, payload FROM outbox ORDER BY id")
        assert len(events) == 3
        for event in events:
            body = orjson.loads(event["payload"])
            data = SenderData.model_validate(body["data"])
            assert event["subject"] == subjects.sender_config(data.id)
            assert (body["type"], data.status, data.enterprise_id) == (
                "parley.sender.config.updated",
                "active",
                "ent_m",
            )
            assert body["time"].endswith("Z")
    finally:
        await pool.close()
