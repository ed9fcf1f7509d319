"""The sandbox endpoints: recipients, route counters, inbound messages and typing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from parley_devtools.waiting import eventually
from parley_shared.events import CloudEvent, InboundData, StatusData
from routing_testkit import NUMBER, Routing, allow

CONVERSATIONAL = {"communication_type": "conversational"}


async def test_put_recipient_answers_it_with_defaults(routing: Routing) -> None:
    """PUT answers 200 with the recipient, defaults filled in; DELETE answers 204."""
    status, body = await routing.api.call(
        "PUT", f"/v1/sandbox/recipients/{NUMBER}", {"outcomes": {"rcs": "invalid_number"}}
    )
    assert status == 200
    assert body["capabilities"] == ["rcs", "sms", "truecaller", "whatsapp"]
    assert body["outcomes"]["rcs"] == "invalid_number"
    assert (body["read"], body["report_delay_ms"]) == (False, 0)
    status, _ = await routing.api.call("DELETE", f"/v1/sandbox/recipients/{NUMBER}")
    assert status == 204


async def test_recipient_body_and_number_are_validated(routing: Routing) -> None:
    """An unknown outcome or a number that is not E.164 is 422."""
    status, body = await routing.api.call(
        "PUT", f"/v1/sandbox/recipients/{NUMBER}", {"outcomes": {"rcs": "lost"}}
    )
    assert (status, body["type"]) == (422, "validation_error")
    status, body = await routing.api.call("PUT", "/v1/sandbox/recipients/12345", {})
    assert (status, body["errors"][0]["loc"]) == (422, ["msisdn"])


async def test_deleted_recipient_is_delivered_again(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """After DELETE the number is unknown again: every channel, delivered at once."""
    await sandbox(NUMBER, outcomes={"sms": "delivery_failed"})
    account = await routing.account(["sms"])
    failed = await routing.events.final(await routing.api.sent(account))
    assert failed["data"]["status"] == "failed"
    await routing.api.call("DELETE", f"/v1/sandbox/recipients/{NUMBER}")
    delivered = await routing.events.final(await routing.api.sent(account))
    assert delivered["data"]["status"] == "delivered"


async def test_routes_counts_sends_per_route(routing: Routing) -> None:
    """GET /v1/sandbox/routes lists every route with the sends it took."""
    account = await routing.account(["sms"])
    for message_id in [await routing.api.sent(account) for _ in range(3)]:
        await routing.events.final(message_id)
    status, routes = await routing.api.call("GET", "/v1/sandbox/routes")
    assert status == 200
    assert routes["sms-1"] == {"sent": 3}
    assert routes["wa-3"] == {"sent": 0}
    assert set(routes) >= {"rcs-reliance-jio", "rcs-vodafone-idea", "rcs-airtel", "tc-1", "tc-2"}


async def test_inbound_reaches_the_account_owning_the_sender(routing: Routing) -> None:
    """A user's text to sender `to` reaches the conversational account listing it, on INBOUND."""
    owner = await routing.account(
        ["sms"], {"sms": {"sender_ids": allow("SHOP1")}}, **CONVERSATIONAL
    )
    await routing.account(["sms"], {"sms": {"sender_ids": allow("SHOP2")}}, **CONVERSATIONAL)
    body = {"channel": "sms", "from": NUMBER, "to": "SHOP1", "text": "hello"}
    status, answer = await routing.api.call("POST", "/v1/sandbox/inbound", body)
    assert status == 202
    assert answer["inbound_id"].startswith("inb_")
    await eventually(lambda: len(routing.events.inbound) == 1, 5)
    (event,) = routing.events.inbound
    CloudEvent[InboundData].model_validate(event)
    assert event["type"] == "parley.inbound.message"
    assert event["data"]["account_id"] == owner.account_id
    assert (event["data"]["from"], event["data"]["to"], event["data"]["text"]) == (
        NUMBER,
        "SHOP1",
        "hello",
    )
    assert event["data"]["inbound_id"] == answer["inbound_id"]


async def test_inbound_to_unclaimed_sender_goes_to_the_last_conversational_sender(
    routing: Routing,
) -> None:
    """No access list names `to`: the conversational account that last sent to the user gets
    it, with in_reply_to; an outgoing account never does; nobody at all is 404."""
    outgoing = await routing.account(["rcs"])
    talker = await routing.account(["rcs"], **CONVERSATIONAL)
    body = {"channel": "rcs", "from": NUMBER, "to": "some-agent", "text": "hi"}
    status, answer = await routing.api.call("POST", "/v1/sandbox/inbound", body)
    assert (status, answer["type"]) == (404, "not_found")
    await routing.events.final(await routing.api.sent(outgoing, channel="rcs"))
    status, _ = await routing.api.call("POST", "/v1/sandbox/inbound", body)
    assert status == 404
    last = await routing.api.sent(talker, channel="rcs")
    await routing.events.final(last)
    status, _ = await routing.api.call("POST", "/v1/sandbox/inbound", body)
    assert status == 202
    await eventually(lambda: len(routing.events.inbound) == 1, 5)
    data = routing.events.inbound[0]["data"]
    assert (data["account_id"], data["in_reply_to"]) == (talker.account_id, last)
    on_sms = {**body, "channel": "sms"}
    assert (await routing.api.call("POST", "/v1/sandbox/inbound", on_sms))[0] == 404


async def test_inbound_masks_the_user_for_do_not_store(routing: Routing) -> None:
    """Under do_not_store the inbound event's `from` is masked."""
    await routing.account(
        ["sms"],
        {"sms": {"sender_ids": allow("SHOP1")}},
        data_protection="do_not_store",
        **CONVERSATIONAL,
    )
    body = {"channel": "sms", "from": NUMBER, "to": "SHOP1", "text": "hello"}
    assert (await routing.api.call("POST", "/v1/sandbox/inbound", body))[0] == 202
    await eventually(lambda: len(routing.events.inbound) == 1, 5)
    assert routing.events.inbound[0]["data"]["from"] == "+91******3210"


async def test_typing_is_a_status_event(routing: Routing) -> None:
    """Typing reaches STATUS as parley.message.typing, not INBOUND."""
    owner = await routing.account(
        ["whatsapp"], {"whatsapp": {"wabas": allow("+919800000001")}}, **CONVERSATIONAL
    )
    body = {"channel": "whatsapp", "from": NUMBER, "to": "+919800000001", "typing": True}
    status, answer = await routing.api.call("POST", "/v1/sandbox/inbound", body)
    assert status == 202, answer

    def typing() -> list[dict[str, Any]]:
        return [e for e in routing.events.status if e["type"] == "parley.message.typing"]

    await eventually(lambda: len(typing()) == 1, 5)
    event = typing()[0]
    CloudEvent[StatusData].model_validate(event)
    assert event["data"]["account_id"] == owner.account_id
    assert (event["data"]["recipient"], event["data"]["sender"]) == (NUMBER, "+919800000001")
    assert event["data"]["final"] is False
    assert routing.events.inbound == []


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "sms", "from": NUMBER, "to": "X"},
        {"channel": "sms", "from": NUMBER, "to": "X", "text": "a", "typing": True},
        {"channel": "fax", "from": NUMBER, "to": "X", "text": "a"},
    ],
)
async def test_inbound_needs_text_or_typing(routing: Routing, body: dict[str, Any]) -> None:
    """Neither or both of text and typing, or an unknown channel, is 422."""
    status, answer = await routing.api.call("POST", "/v1/sandbox/inbound", body)
    assert (status, answer["type"]) == (422, "validation_error")


async def test_seven_digit_number_is_a_recipient(routing: Routing) -> None:
    """The sandbox takes every E.164 number the messaging API takes: 7 digits too."""
    status, body = await routing.api.call("PUT", "/v1/sandbox/recipients/+1234567", {})
    assert (status, body["msisdn"]) == (200, "+1234567")
    status, _ = await routing.api.call("DELETE", "/v1/sandbox/recipients/+1234567")
    assert status == 204


@pytest.mark.parametrize("routing_settings", [{"profile_cache_seconds": 300}])
async def test_recipient_change_holds_for_the_next_strict_send(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """Even with profile answers cached, a PUT or DELETE of a sandbox recipient decides the
    strict profile check of the very next send."""
    account = await routing.account(["rcs"], {"rcs": {"verify_profile": "strict"}})

    async def final_of_next_send() -> tuple[str, str | None]:
        final = await routing.events.final(await routing.api.sent(account, channel="rcs"))
        return final["data"]["status"], final["data"]["reason"]

    await sandbox(NUMBER, capabilities=["rcs", "sms"])
    assert await final_of_next_send() == ("delivered", None)
    await sandbox(NUMBER, capabilities=["sms"])
    assert await final_of_next_send() == ("failed", "profile_not_found")
    await sandbox(NUMBER, capabilities=["rcs"])
    assert await final_of_next_send() == ("delivered", None)
    await sandbox(NUMBER, capabilities=["sms"])
    assert await final_of_next_send() == ("failed", "profile_not_found")
    status, _ = await routing.api.call("DELETE", f"/v1/sandbox/recipients/{NUMBER}")
    assert status == 204
    assert await final_of_next_send() == ("delivered", None)
