"""Message templates (Template Lookup app): the management API, its tenant scope, and the
template events that reach the TEMPLATES stream through the outbox."""

from __future__ import annotations

from typing import Any

import nats
import orjson
from account_testkit import Api, make_tenant
from parley_devtools.waiting import eventually
from parley_shared import subjects

PASSWORD = "tenant-password-1"
OTP = "Your OTP is {#otp#}. Do not share it."


def template(tenant: dict[str, str], **changes: Any) -> dict[str, Any]:
    """A template body for the tenant's enterprise."""
    body: dict[str, Any] = {
        "enterprise_id": tenant["enterprise_id"],
        "channel": "sms",
        "name": "otp",
        "text": OTP,
        "regulatory_template_id": "1107160000000012345",
    }
    body.update(changes)
    return body


async def _event(nats_url: str, template_id: str, status: str) -> Any:
    """The last TEMPLATES message of a template once it reports `status`."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def reported() -> Any:
            try:
                msg = await js.get_last_msg(
                    subjects.STREAM_TEMPLATES, subjects.template_config(template_id)
                )
            except nats.js.errors.NotFoundError:
                return None
            event = orjson.loads(msg.data)
            return event if event["data"]["status"] == status else None

        return await eventually(reported, what=f"the {status} event of {template_id}", step_s=0.05)
    finally:
        await nc.close()


async def test_create_answers_pending_template(api: Api) -> None:
    """POST /v1/templates answers 201 with the template, status pending."""
    tenant = await make_tenant(api)
    status, body = await api.call("POST", "/v1/templates", template(tenant))
    assert status == 201, body
    assert body["id"].startswith("tpl_")
    assert (body["status"], body["text"], body["channel"]) == ("pending", OTP, "sms")
    assert body["regulatory_template_id"] == "1107160000000012345"
    assert body["created_at"].endswith("Z")


async def test_approve_reject_and_list_by_status(api: Api) -> None:
    """Approve and reject change the status; the list filters by enterprise and status."""
    tenant = await make_tenant(api)
    _, first = await api.call("POST", "/v1/templates", template(tenant))
    _, second = await api.call("POST", "/v1/templates", template(tenant, name="other"))
    status, approved = await api.call("POST", f"/v1/templates/{first['id']}/approve")
    assert (status, approved["status"]) == (200, "approved")
    status, rejected = await api.call("POST", f"/v1/templates/{second['id']}/reject")
    assert (status, rejected["status"]) == (200, "rejected")
    ent = tenant["enterprise_id"]
    status, listed = await api.call("GET", f"/v1/templates?enterprise_id={ent}&status=approved")
    assert status == 200
    assert [item["id"] for item in listed["items"]] == [first["id"]]
    _, everything = await api.call("GET", f"/v1/templates?enterprise_id={ent}")
    assert {item["id"] for item in everything["items"]} == {first["id"], second["id"]}


async def test_delete_removes_the_template(api: Api) -> None:
    """DELETE answers 204; the template is then 404."""
    tenant = await make_tenant(api)
    _, created = await api.call("POST", "/v1/templates", template(tenant))
    status, _ = await api.call("DELETE", f"/v1/templates/{created['id']}")
    assert status == 204
    status, body = await api.call("GET", f"/v1/templates/{created['id']}")
    assert (status, body["type"]) == (404, "not_found")


async def test_template_validation(api: Api) -> None:
    """Unknown channels, unknown fields, a regulatory id off SMS and a bad status are 422."""
    tenant = await make_tenant(api)
    cases = [
        (template(tenant, channel="fax"), ["channel"]),
        (template(tenant, extra=1), ["extra"]),
        (template(tenant, channel="whatsapp"), ["regulatory_template_id"]),
        (template(tenant, text=""), ["text"]),
    ]
    for body, loc in cases:
        status, answer = await api.call("POST", "/v1/templates", body)
        assert (status, answer["type"]) == (422, "validation_error"), body
        assert loc in [error["loc"] for error in answer["errors"]], answer
    status, answer = await api.call("GET", "/v1/templates?status=maybe")
    assert (status, answer["errors"][0]["loc"]) == (422, ["status"])


async def test_taken_name_is_a_conflict(api: Api) -> None:
    """A second template of the same name, enterprise and channel answers 409."""
    tenant = await make_tenant(api)
    await api.call("POST", "/v1/templates", template(tenant))
    status, answer = await api.call("POST", "/v1/templates", template(tenant))
    assert (status, answer["type"]) == (409, "conflict")


async def test_another_tenants_templates_answer_404(api: Api) -> None:
    """An enterprise user neither sees nor changes another enterprise's templates (404)."""
    mine = await make_tenant(api)
    theirs = await make_tenant(api)
    _, foreign = await api.call("POST", "/v1/templates", template(theirs))
    status, user = await api.call(
        "POST",
        "/v1/users",
        {
            "username": "tpl-ent-admin",
            "password": PASSWORD,
            "role": "admin",
            "organization_id": mine["enterprise_id"],
        },
    )
    assert status == 201, user
    admin = await api.as_user("tpl-ent-admin", PASSWORD)
    status, _ = await admin.call("POST", "/v1/templates", template(theirs))
    assert status == 404
    for method, path in (
        ("GET", f"/v1/templates/{foreign['id']}"),
        ("POST", f"/v1/templates/{foreign['id']}/approve"),
        ("POST", f"/v1/templates/{foreign['id']}/reject"),
        ("DELETE", f"/v1/templates/{foreign['id']}"),
        ("GET", f"/v1/templates?enterprise_id={theirs['enterprise_id']}"),
    ):
        status, _ = await admin.call(method, path)
        assert status == 404, (method, path)
    status, own = await admin.call("POST", "/v1/templates", template(mine))
    assert status == 201, own
    _, listed = await admin.call("GET", "/v1/templates")
    assert [item["id"] for item in listed["items"]] == [own["id"]]


async def test_changes_are_published_on_templates_stream(api: Api, nats_url: str) -> None:
    """Create, approve and delete each publish the template's snapshot (a tombstone last)."""
    tenant = await make_tenant(api)
    _, created = await api.call("POST", "/v1/templates", template(tenant))
    event = await _event(nats_url, created["id"], "pending")
    assert event["type"] == "parley.template.config.updated"
    assert event["data"]["text"] == OTP
    assert event["data"]["enterprise_id"] == tenant["enterprise_id"]
    await api.call("POST", f"/v1/templates/{created['id']}/approve")
    event = await _event(nats_url, created["id"], "approved")
    approved_version = event["data"]["version"]
    await api.call("DELETE", f"/v1/templates/{created['id']}")
    event = await _event(nats_url, created["id"], "deleted")
    assert event["type"] == "parley.template.config.deleted"
    assert event["data"]["version"] > approved_version


async def test_templates_are_in_the_openapi_document(api: Api) -> None:
    """The OpenAPI document lists every template operation."""
    status, document = await api.call("GET", "/openapi.json")
    assert status == 200
    paths = document["paths"]
    assert set(paths["/v1/templates"]) == {"get", "post"}
    assert set(paths["/v1/templates/{id}"]) == {"get", "delete"}
    assert "post" in paths["/v1/templates/{id}/approve"]
    assert "post" in paths["/v1/templates/{id}/reject"]
