"""Template Lookup on the messaging API: the view of approved templates built from TEMPLATES,
rendering `content.template`, matching plain text, and templates ignored with the app off."""

from __future__ import annotations

from typing import Any

from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.events import (
    TEMPLATE_CONFIG_DELETED,
    TEMPLATE_CONFIG_UPDATED,
    CloudEvent,
    TemplateData,
    dumps,
    new_event_id,
)
from parley_shared.ids import new_id
from parley_shared.timefmt import now_ts
from routing_accounts import Account
from routing_testkit import Routing

OTP = "Your OTP is {#otp#}. Valid for {#minutes#} minutes."
TEXT = "Your OTP is 4821. Valid for 5 minutes."
ON = {
    "template_lookup": True,
    "url_shortener": False,
    "campaign_manager": False,
    "digital_asset_manager": False,
}


async def publish_template(
    routing: Routing,
    enterprise_id: str,
    text: str = OTP,
    *,
    channel: str = "sms",
    status: str = "approved",
    version: int = 1,
    template_id: str | None = None,
) -> str:
    """Publish a template event exactly as account-svc's outbox does; returns the id."""
    template_id = template_id or new_id("tpl")
    stamp = now_ts()
    data = TemplateData(
        id=template_id,
        enterprise_id=enterprise_id,
        channel=channel,  # type: ignore[arg-type]
        name="otp",
        text=text,
        status=status,  # type: ignore[arg-type]
        version=version,
        created_at=stamp,
        updated_at=stamp,
    )
    event_id = new_event_id()
    event = CloudEvent[TemplateData](
        id=event_id,
        type=TEMPLATE_CONFIG_DELETED if status == "deleted" else TEMPLATE_CONFIG_UPDATED,
        source=f"parley/enterprises/{enterprise_id}",
        subject=template_id,
        data=data,
    )
    await routing.js.publish(
        subjects.template_config(template_id),
        dumps(event),
        headers={subjects.HEADER_MSG_ID: event_id},
    )
    return template_id


async def _answer(
    routing: Routing, account: Account, expected: int, kind: str | None = None, **body: Any
) -> Any:
    """Send until the answer has the expected status, and problem type when `kind` is given
    (the view follows within moments: until it has the template, a 422 can be another one)."""
    seen: list[Any] = []

    async def check() -> bool:
        status, answer = await routing.api.send(account, **body)
        seen[:] = [answer]
        return status == expected and (kind is None or answer.get("type") == kind)

    await eventually(check, 5)
    return seen[0]


async def test_text_matching_an_approved_template_is_accepted(routing: Routing) -> None:
    """With Template Lookup on, text that fits an approved template of the channel is sent."""
    account = await routing.account(["sms"], apps=ON)
    await publish_template(routing, account.enterprise_id)
    await _answer(routing, account, 202, content={"text": TEXT})


async def test_text_matching_nothing_is_template_not_matched(routing: Routing) -> None:
    """Text that fits no approved template answers 422 template_not_matched on content.text."""
    account = await routing.account(["sms"], apps=ON)
    await publish_template(routing, account.enterprise_id)
    await _answer(routing, account, 202, content={"text": TEXT})
    status, body = await routing.api.send(account, content={"text": "Your OTP is 4821."})
    assert (status, body["type"]) == (422, "template_not_matched")
    assert body["errors"][0]["loc"] == ["content", "text"]


async def test_templates_of_another_channel_or_enterprise_do_not_count(routing: Routing) -> None:
    """A template of another channel or another enterprise does not make text acceptable."""
    account = await routing.account(["sms"], apps=ON)
    other = await routing.account(["sms"], apps=ON)
    await publish_template(routing, account.enterprise_id, channel="whatsapp")
    await publish_template(routing, other.enterprise_id)
    await _answer(routing, other, 202, content={"text": TEXT})
    status, body = await routing.api.send(account, content={"text": TEXT})
    assert (status, body["type"]) == (422, "template_not_matched")


async def test_pending_rejected_and_deleted_templates_do_not_count(routing: Routing) -> None:
    """Only approved templates match: a later rejection or deletion takes one out of the view."""
    account = await routing.account(["sms"], apps=ON)
    pending = await publish_template(routing, account.enterprise_id, status="pending")
    status, _ = await routing.api.send(account, content={"text": TEXT})
    assert status == 422
    await publish_template(routing, account.enterprise_id, template_id=pending, version=2)
    await _answer(routing, account, 202, content={"text": TEXT})
    await publish_template(
        routing, account.enterprise_id, template_id=pending, version=3, status="rejected"
    )
    await _answer(routing, account, 422, content={"text": TEXT})
    await publish_template(routing, account.enterprise_id, template_id=pending, version=4)
    await _answer(routing, account, 202, content={"text": TEXT})
    await publish_template(
        routing, account.enterprise_id, template_id=pending, version=5, status="deleted"
    )
    await _answer(routing, account, 422, content={"text": TEXT})


async def test_template_is_rendered_from_params(routing: Routing) -> None:
    """`content.template` is rendered: the log keeps the text sent and the template given."""
    account = await routing.account(["sms"], apps=ON)
    template_id = await publish_template(routing, account.enterprise_id)
    given = {"id": template_id, "params": {"otp": "4821", "minutes": "5"}}
    answer = await _answer(routing, account, 202, content={"template": given})
    message_id = answer["message_id"]
    await routing.events.final(message_id)
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert status == 200
    assert body["content"] == {"text": TEXT, "template": given}


async def test_template_params_must_name_every_placeholder(routing: Routing) -> None:
    """Params missing or adding a placeholder answer 422 on content.template.params."""
    account = await routing.account(["sms"], apps=ON)
    template_id = await publish_template(routing, account.enterprise_id)
    given = {"id": template_id, "params": {"otp": "4821"}}
    body = await _answer(routing, account, 422, "validation_error", content={"template": given})
    assert body["errors"][0]["loc"] == ["content", "template", "params"]
    assert "minutes" in body["errors"][0]["msg"]


async def test_unknown_template_id_is_template_not_matched(routing: Routing) -> None:
    """A template id that is not an approved template of the enterprise and channel is 422."""
    account = await routing.account(["sms"], apps=ON)
    given = {"id": "tpl_nope", "params": {}}
    status, body = await routing.api.send(account, content={"template": given})
    assert (status, body["type"]) == (422, "template_not_matched")
    assert body["errors"][0]["loc"] == ["content", "template", "id"]


async def test_templates_are_not_consulted_with_the_app_off(routing: Routing) -> None:
    """With Template Lookup off any text is sent, and content.template is refused naming the app."""
    account = await routing.account(["sms"])
    template_id = await publish_template(routing, account.enterprise_id)
    status, _ = await routing.api.send(account, content={"text": "anything at all"})
    assert status == 202
    given = {"id": template_id, "params": {"otp": "1", "minutes": "5"}}
    status, body = await routing.api.send(account, content={"template": given})
    assert (status, body["type"]) == (422, "validation_error")
    assert body["errors"][0]["loc"] == ["content", "template"]
    assert "template_lookup" in body["errors"][0]["msg"]


async def test_text_and_template_together_are_refused(routing: Routing) -> None:
    """A content with both text and template is 422 validation_error."""
    account = await routing.account(["sms"], apps=ON)
    content = {"text": TEXT, "template": {"id": "tpl_x", "params": {}}}
    status, body = await routing.api.send(account, content=content)
    assert (status, body["type"]) == (422, "validation_error")


async def test_problem_types_are_in_the_openapi_document(routing: Routing) -> None:
    """The OpenAPI document lists template_not_matched among the problem types."""
    status, document = await routing.api.call("GET", "/openapi.json")
    assert status == 200
    assert "template_not_matched" in str(document["components"]["schemas"]["Problem"])


async def test_dlt_style_template_takes_params_by_position(routing: Routing) -> None:
    """A DLT-style template of repeated `{#var#}` is rendered from a list of values in order."""
    account = await routing.account(["sms"], apps=ON)
    text = "Dear {#var#}, your order {#var#} has shipped."
    template_id = await publish_template(routing, account.enterprise_id, text)
    given = {"id": template_id, "params": ["Asha", "A-77"]}
    answer = await _answer(routing, account, 202, content={"template": given})
    _, body = await routing.api.call(
        "GET", f"/v1/messages/{answer['message_id']}", key=account.api_key
    )
    assert body["content"]["text"] == "Dear Asha, your order A-77 has shipped."
