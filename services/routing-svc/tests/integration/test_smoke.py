"""Smoke: a message goes from the API to a delivered status event."""

import aiohttp
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


async def test_metrics_show_every_route_up_for_the_sandbox(routing: Routing) -> None:
    """`/metrics` has `parley_route_up{route}` for each route; sandbox routes are always up."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(routing.api.base + "/metrics") as response,
    ):
        text = await response.text()
    assert 'parley_route_up{route="sms-1"} 1.0' in text
    assert 'parley_route_up{route="wa-3"} 1.0' in text
