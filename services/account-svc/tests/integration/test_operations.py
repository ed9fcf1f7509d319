"""The operator views' API against the real platform in-process: `GET /v1/traffic` counted
from STATUS and the delivery log, `GET /v1/routes` from every routing-svc replica,
`GET /v1/message-trace` by id or client_ref; each scoped like the rest."""

from __future__ import annotations

from typing import Any

from account_svc.adapters.http_binding import USE_CASES
from account_svc.operations import Operations
from account_testkit import Api, make_tenant
from aiohttp.test_utils import TestServer
from parley_devtools.waiting import eventually
from routing_svc.bootstrap import create_app as routing_app
from routing_testkit import make_settings as routing_settings
from stack_kit import NUMBER, Stack, account_settings, routing_overrides, stack

__all__ = ["account_settings", "routing_overrides", "stack"]
PASSWORD = "operator-password-1"


async def admin_of(api: Api, name: str, org_id: str) -> Api:
    """A new admin of `org_id`, logged in."""
    body = {"username": name, "password": PASSWORD, "role": "admin", "organization_id": org_id}
    status, user = await api.call("POST", "/v1/users", body)
    assert status == 201, user
    return await api.as_user(name, PASSWORD)


async def traffic(api: Api, query: str = "") -> dict[str, Any]:
    """`GET /v1/traffic` (asserting 200)."""
    status, body = await api.call("GET", "/v1/traffic" + query)
    assert status == 200, body
    result: dict[str, Any] = body
    return result


async def test_traffic_counts_statuses_channels_routes_fallbacks_and_webhooks(
    stack: Stack,
) -> None:
    """Two messages, one falling back from RCS to SMS: the hour's counts by status and channel,
    the fallback and delivery rates, per route, and the webhook attempts by outcome."""
    api = stack.api
    tenant = await make_tenant(api)
    account_id, key = await stack.account(tenant)
    await stack.recipient(NUMBER, outcomes={"rcs": "delivery_failed"})
    feed = api.app[USE_CASES][Operations].feed  # type: ignore[attr-defined]
    assert not feed.following  # nobody looked yet: nothing is followed
    await traffic(api)
    assert feed.following
    await stack.send(key, channel="rcs")
    await stack.send(key, channel="sms")

    async def counted() -> bool:
        view = await traffic(api, f"?account_id={account_id}")
        hooks = view["webhooks"]["totals"]["delivered"]["attempts"]
        return view["totals"]["finished"] == 2 and hooks == 6

    await eventually(counted, 15, "two messages and six webhook attempts counted")
    view = await traffic(api, f"?account_id={account_id}")
    totals = view["totals"]
    assert (totals["sent"], totals["delivered"], totals["fallback"], totals["failed"]) == (
        3,
        2,
        1,
        0,
    )
    assert (view["delivery_rate"], view["fallback_rate"]) == (1.0, 0.5)
    assert sum(view["status"]["sent"]) == 3
    assert view["status"]["sent"][-1] + view["status"]["sent"][-2] == 3  # this minute (or last)
    assert (sum(view["channels"]["sms"]), sum(view["channels"]["rcs"])) == (2, 1)
    assert len(view["minutes"]) == 60
    rows = {row["route"]: row for row in view["routes"]}
    assert rows["sms-1"]["delivery_rate"] == 1.0
    assert (rows["sms-1"]["sent"], rows["sms-1"]["delivered"]) == (2, 2)
    (rcs,) = [row for name, row in rows.items() if name and name.startswith("rcs-")]
    assert (rcs["fallback"], rcs["delivery_rate"]) == (1, 0.0)
    assert view["webhooks"]["totals"]["delivered"]["events"] == 6
    assert view["loading"] is False
    assert view["queues"]["submit_waiting"] == 0

    async def stored() -> bool:  # queue depths are cached for two seconds
        streams = {r["stream"]: r for r in (await traffic(api))["queues"]["streams"]}
        return bool(streams["STATUS"]["messages"] == 6)

    await eventually(stored, 10, "the six status events stored on STATUS")
    streams = {row["stream"]: row for row in (await traffic(api))["queues"]["streams"]}
    assert {c["name"] for c in streams["SUBMIT"]["consumers"]} == {"routing-svc-submit"}
    assert streams["STATUS"]["consumers"][0]["name"] == "webhook-svc-status"


async def test_traffic_is_scoped_to_the_admins_accounts(stack: Stack) -> None:
    """An enterprise admin counts only its accounts' traffic, sees no platform queues, and
    another enterprise or its account answers 404."""
    api = stack.api
    mine, theirs = await make_tenant(api), await make_tenant(api)
    my_account, my_key = await stack.account(mine)
    their_account, their_key = await stack.account(theirs)
    admin = await admin_of(api, "ops-ent-admin", mine["enterprise_id"])
    await traffic(admin)
    await stack.send(my_key)
    for _ in range(3):
        await stack.send(their_key)

    async def counted() -> bool:
        return (await traffic(api))["totals"]["finished"] == 4

    await eventually(counted, 15, "four messages counted")
    view = await traffic(admin)
    assert view["totals"]["finished"] == 1
    assert view["queues"]["streams"] is None
    assert (await traffic(admin, f"?enterprise_id={mine['enterprise_id']}"))["totals"][
        "finished"
    ] == 1
    assert (await traffic(api, f"?enterprise_id={theirs['enterprise_id']}"))["totals"][
        "finished"
    ] == 3
    for query in (f"?account_id={their_account}", f"?enterprise_id={theirs['enterprise_id']}"):
        status, body = await admin.call("GET", "/v1/traffic" + query)
        assert (status, body["type"]) == (404, "not_found")
    status, _ = await api.call("GET", "/v1/traffic", token="")
    assert status == 401
    assert my_account != their_account


async def test_routes_merge_every_replica_and_hide_rates_from_tenants(stack: Stack) -> None:
    """Two routing-svc replicas answer; each route is up on both; an enterprise admin sees the
    state but not the rate."""
    api = stack.api
    master = api.settings.master_key.get_secret_value()  # type: ignore[attr-defined]
    nats_url = api.settings.nats_url  # type: ignore[attr-defined]
    second = TestServer(routing_app(routing_settings(nats_url, master)), host="127.0.0.1")
    await second.start_server()
    try:
        status, body = await api.call("GET", "/v1/routes")
        assert status == 200, body
        assert len(body["replicas"]) == 2
        rows = {row["name"]: row for row in body["items"]}
        assert rows["sms-1"]["provider"] == "sandbox"
        assert (rows["sms-1"]["replicas"], rows["sms-1"]["replicas_up"]) == (2, 2)
        assert rows["sms-1"]["up"] is True
        assert rows["sms-1"]["rate_per_s"] == 0.0
        assert rows["wa-3"]["capacity_per_s"] == 300
        tenant = await make_tenant(api)
        admin = await admin_of(api, "ops-routes-admin", tenant["enterprise_id"])
        status, body = await admin.call("GET", "/v1/routes")
        assert status == 200
        assert all(row["rate_per_s"] is None for row in body["items"])
    finally:
        await second.close()


async def test_trace_by_id_and_client_ref_with_webhook_deliveries(stack: Stack) -> None:
    """A message is found by its id and by its client_ref, with its fallback chain, its events
    and the webhook attempt of each event; another tenant's admin finds nothing."""
    api = stack.api
    tenant, other = await make_tenant(api), await make_tenant(api)
    account_id, key = await stack.account(tenant, label="Shop OTP")
    await stack.recipient(NUMBER, outcomes={"rcs": "delivery_failed"})
    message_id = await stack.send(key, channel="rcs", client_ref="order-77")
    events: list[dict[str, Any]] = []

    async def delivered() -> bool:
        status, body = await api.call("GET", f"/v1/message-trace?q={message_id}")
        assert status == 200, body
        trace = body["trace"]
        events[:] = trace["events"]
        hooks = trace["webhook_deliveries"] or []
        return len(events) == 4 and len(hooks) == 4

    await eventually(delivered, 15, "four events delivered to the webhook")
    status, body = await api.call("GET", "/v1/message-trace?q=order-77")
    assert status == 200
    assert body["matches"] == [
        {"message_id": message_id, "account_id": account_id, "account_label": "Shop OTP"}
    ]
    trace = body["trace"]
    assert [(a["channel"], a["status"], a["fallback_to"]) for a in trace["attempts"]] == [
        ("rcs", "failed", "sms"),
        ("sms", "delivered", None),
    ]
    assert [e["type"].rsplit(".", 1)[-1] for e in trace["events"]] == [
        "sent",
        "fallback",
        "sent",
        "delivered",
    ]
    carried = {eid for d in trace["webhook_deliveries"] for eid in d["event_ids"]}
    assert carried == {e["id"] for e in trace["events"]}
    assert all(d["outcome"] == "delivered" for d in trace["webhook_deliveries"])
    assert trace["to"] == "+91******3210"
    stranger = await admin_of(api, "ops-trace-admin", other["enterprise_id"])
    for query in (message_id, "order-77"):
        status, body = await stranger.call("GET", f"/v1/message-trace?q={query}")
        assert status == 200
        assert (body["matches"], body["trace"]) == ([], None)
    status, body = await api.call("GET", "/v1/message-trace?q=")
    assert (status, body["errors"][0]["loc"]) == (422, ["q"])


async def test_routes_and_trace_say_503_without_routing_svc(api: Api) -> None:
    """With no routing-svc on the bus, the routes and the trace answer 503, not a 500."""
    for path in ("/v1/routes", "/v1/message-trace?q=msg_abc"):
        status, body = await api.call("GET", path)
        assert (status, body["type"]) == (503, "service_unavailable"), path
