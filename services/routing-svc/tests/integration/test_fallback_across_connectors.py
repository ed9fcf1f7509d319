"""Fallback across real connectors: WhatsApp Cloud API (its fake) -> SMS over SMPP (the SMSC
simulator), in one routing-svc with both routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from connectors_testkit import WA_ROUTE, callback_url, routes_env
from parley_devtools.fakes.graph_api import GraphApi
from parley_devtools.smsc import Smsc
from parley_devtools.waiting import eventually
from routing_testkit import NUMBER, Routing, fallback

SEEDS = ("delivery_failed", "dr_ttl_expired", "invalid_number", "validity_expired")


@pytest.fixture
def routing_settings(
    tmp_path: Path, graph_api: GraphApi, smsc: Smsc, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A routes file with the fake's WhatsApp route and an SMPP route at the simulator."""
    for name, value in routes_env(graph_api).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TEST_SMSC_PASSWORD", "secret")
    routes = [
        {
            "name": WA_ROUTE,
            "channel": "whatsapp",
            "capacity_per_s": 200,
            "provider": "whatsapp_cloud",
            "whatsapp_cloud": {
                "base_url": graph_api.base_url,
                "api_version": graph_api.api_version,
                "phone_number_id": graph_api.phone_number_id,
                "display_number": graph_api.display_number,
                "token_env": "TEST_WA_TOKEN",
                "app_secret_env": "TEST_WA_APP_SECRET",
                "verify_token_env": "TEST_WA_VERIFY_TOKEN",
            },
        },
        {
            "name": "sms-smsc",
            "channel": "sms",
            "capacity_per_s": 200,
            "provider": "smpp",
            "smpp": {
                "host": smsc.host,
                "port": smsc.port,
                "system_id": "parley",
                "password_env": "TEST_SMSC_PASSWORD",
            },
        },
    ]
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"routes": routes}), "utf-8")
    return {"routes_file": str(path), "timer_grace_seconds": 0.2}


async def test_a_failed_whatsapp_message_falls_back_to_sms_over_smpp(
    routing: Routing, graph_api: GraphApi, smsc: Smsc
) -> None:
    """Meta reports the WhatsApp message failed; the SMS fallback goes out through the SMSC
    and its receipt makes it the final `delivered`."""
    await eventually(lambda: smsc.bound >= 1, 15)
    account = await routing.account(
        ["whatsapp", "sms"], {"whatsapp": {"fallback": fallback("sms", 20, *SEEDS)}}
    )
    message_id = await routing.api.sent(account, channel="whatsapp")
    await routing.events.wait(message_id, "sent")
    wamid = graph_api.sent_to(NUMBER)[-1].wamid
    body = graph_api.notification(
        statuses=[graph_api.status(wamid, "failed", NUMBER, error_code=131000)]
    )
    status, answer, _ = await graph_api.notify(callback_url(routing, WA_ROUTE), body)
    assert status == 200, answer
    final = await routing.events.final(message_id, within_s=20)
    assert (final["data"]["channel"], final["data"]["route"]) == ("sms", "sms-smsc")
    assert (final["data"]["status"], final["data"]["fallback_from"]) == ("delivered", "whatsapp")
    assert [s.pdu.destination_addr for s in smsc.submits] == [NUMBER[1:]]
