"""The message log and data protection, status events, and the send over NATS request/reply."""

from __future__ import annotations

import nats
import orjson
from parley_shared import subjects
from parley_shared.events import CloudEvent, StatusData
from routing_svc.adapters.kv import MESSAGES
from routing_svc.domain.message_ids import log_key
from routing_testkit import NUMBER, Routing

MASKED = "+91******3210"
TEXT = "Your code is 4821"


async def _stored(routing: Routing, message_id: str) -> bytes:
    kv = await routing.js.key_value(MESSAGES)
    return bytes((await kv.get(log_key(message_id))).value)


async def test_get_message_under_store(routing: Routing) -> None:
    """Under store, GET shows the number and content in full, with its attempts."""
    account = await routing.account(["sms"])
    message_id = await routing.api.sent(account, client_ref="order-77")
    await routing.events.final(message_id)
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert status == 200
    assert body["message_id"] == message_id
    assert (body["to"], body["content"], body["client_ref"]) == (NUMBER, {"text": TEXT}, "order-77")
    assert body["status"] == "delivered"
    (attempt,) = body["attempts"]
    assert (attempt["channel"], attempt["route"], attempt["status"]) == (
        "sms",
        "sms-1",
        "delivered",
    )
    assert attempt["reason"] is None
    assert attempt["at"].endswith("Z")


async def test_get_message_of_another_account_is_404(routing: Routing) -> None:
    """Another account's message, or an unknown id, answers 404 not_found."""
    owner = await routing.account(["sms"])
    other = await routing.account(["sms"])
    message_id = await routing.api.sent(owner)
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=other.api_key)
    assert (status, body["type"]) == (404, "not_found")
    status, _ = await routing.api.call("GET", "/v1/messages/msg_nope", key=owner.api_key)
    assert status == 404


async def test_encrypt_and_store_seals_number_and_content_at_rest(routing: Routing) -> None:
    """Under encrypt_and_store the log holds neither number nor text in clear; GET shows both."""
    account = await routing.account(["sms"], data_protection="encrypt_and_store")
    message_id = await routing.api.sent(account)
    await routing.events.final(message_id)
    raw = await _stored(routing, message_id)
    assert NUMBER[1:].encode() not in raw
    assert TEXT.encode() not in raw
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert (status, body["to"], body["content"]) == (200, NUMBER, {"text": TEXT})
    final = await routing.events.final(message_id)
    assert final["data"]["recipient"] == NUMBER


async def test_do_not_store_masks_and_forgets(routing: Routing) -> None:
    """Under do_not_store GET masks the number and shows no content; events mask the
    recipient; the log keeps no number or text once the outcome is published."""
    account = await routing.account(["sms"], data_protection="do_not_store")
    message_id = await routing.api.sent(account)
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert (status, body["to"], body["content"]) == (200, MASKED, None)
    final = await routing.events.final(message_id)
    for event in routing.events.of(message_id):
        assert event["data"]["recipient"] == MASKED
    assert final["data"]["status"] == "delivered"
    raw = await _stored(routing, message_id)
    stored = orjson.loads(raw)
    assert stored["to_sealed"] is None
    assert stored["content_sealed"] is None
    assert NUMBER[1:].encode() not in raw
    assert TEXT.encode() not in raw


async def test_status_events_are_native_cloudevents(routing: Routing) -> None:
    """sent and delivered events: native CloudEvents on the account's STATUS subject."""
    account = await routing.account(["sms"])
    message_id = await routing.api.sent(account, client_ref="r1", metadata={"campaign": "c1"})
    await routing.events.final(message_id)
    sent, delivered = routing.events.of(message_id)
    for event in (sent, delivered):
        CloudEvent[StatusData].model_validate(event)
        assert event["source"] == f"parley/accounts/{account.account_id}"
        assert event["data"]["metadata"] == {"campaign": "c1"}
        assert event["data"]["client_ref"] == "r1"
        assert event["data"]["sender"] == "PARLEY"
        assert event["data"]["fallback_from"] is None
    assert (sent["data"]["status"], sent["data"]["final"]) == ("sent", False)
    assert (delivered["data"]["status"], delivered["data"]["final"]) == ("delivered", True)
    info = await routing.js.stream_info(subjects.STREAM_STATUS)
    assert info.state.messages >= 2


async def test_send_over_nats_request_reply(routing: Routing) -> None:
    """The same send over NATS: the 202 JSON, or problem JSON with its status."""
    account = await routing.account(["sms"])
    body = orjson.dumps({"to": NUMBER, "channel": "sms", "content": {"text": TEXT}})
    headers = {"Authorization": f"Bearer {account.api_key}"}
    # From the account's own inbox, as CONTRACT section 10 has integrators connect.
    nc = await nats.connect(routing.nats_url, inbox_prefix=f"_INBOX.{account.account_id}")
    reply = await nc.request(subjects.API_MESSAGES_SEND, body, timeout=5, headers=headers)
    answer = orjson.loads(reply.data)
    assert answer["status"] == "accepted"
    assert reply.headers["Parley-Status"] == "202"
    await routing.events.final(answer["message_id"])
    reply = await routing.nc.request(subjects.API_MESSAGES_SEND, body, timeout=5)
    problem = orjson.loads(reply.data)
    assert (problem["type"], problem["status"]) == ("unauthorized", 401)
    bad = orjson.dumps({"to": NUMBER, "channel": "fax", "content": {"text": TEXT}})
    reply = await nc.request(subjects.API_MESSAGES_SEND, bad, timeout=5, headers=headers)
    await nc.close()
    problem = orjson.loads(reply.data)
    assert (problem["type"], problem["status"]) == ("validation_error", 422)
    assert problem["errors"][0]["loc"] == ["channel"]


async def test_send_over_nats_for_an_encrypting_account(routing: Routing) -> None:
    """Over NATS too, an encrypting account sends an envelope and gets one back."""
    account = await routing.account(["sms"], encrypted=True)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    message = {"to": NUMBER, "channel": "sms", "content": {"text": TEXT}}
    nc = await nats.connect(routing.nats_url, inbox_prefix=f"_INBOX.{account.account_id}")
    try:
        reply = await nc.request(
            subjects.API_MESSAGES_SEND, account.seal(message), timeout=5, headers=headers
        )
        assert account.open(reply.data)["status"] == "accepted"
        reply = await nc.request(
            subjects.API_MESSAGES_SEND, orjson.dumps(message), timeout=5, headers=headers
        )
        assert orjson.loads(reply.data)["type"] == "decryption_failed"
    finally:
        await nc.close()
