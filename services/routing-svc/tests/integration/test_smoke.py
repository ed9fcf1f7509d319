"""Smoke: a message goes from the API to a delivered status event."""

from routing_testkit import Routing


async def test_sms_send_is_delivered(routing: Routing) -> None:
    """An SMS to an unknown recipient is accepted, sent and delivered (final)."""
    account = await routing.account(["sms"])
    message_id = await routing.api.sent(account)
    final = await routing.events.final(message_id)
    assert final["data"]["status"] == "delivered"
    assert routing.events.kinds(message_id) == ["sent", "delivered"]
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert status == 200
    assert body["status"] == "delivered"
