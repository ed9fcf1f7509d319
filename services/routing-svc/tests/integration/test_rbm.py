"""The RCS Business Messaging connector end to end: routing-svc in-process on a real NATS, its
`rbm` route pointing at the local fake of Google's RBM API and token endpoint (section 9)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from connectors_testkit import RBM_ROUTE, apps, callback_url, metric, routes_env, routes_file
from parley_devtools.fakes.rbm_api import RbmApi
from parley_devtools.waiting import eventually
from routing_testkit import NUMBER, Routing, allow

TEXT = "Your code is 4821"


@pytest.fixture
def routing_settings(
    tmp_path: Path, rbm_api: RbmApi, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """routing-svc with the fake's RBM route (and the sandbox's sms-1); profiles cached."""
    key_file = str(rbm_api.write_key_file(tmp_path / "sa.json"))
    for name, value in routes_env(rbm=rbm_api, key_file=key_file).items():
        monkeypatch.setenv(name, value)
    path = routes_file(tmp_path / "routes.json", rbm=rbm_api)
    return {"routes_file": str(path), "profile_cache_seconds": 300}


def rcs(**extra: Any) -> dict[str, dict[str, Any]]:
    """RCS channel settings over the airtel route (the fake's)."""
    return {"rcs": {"agent_providers": ["airtel"], **extra}}


async def sent(routing: Routing, rbm: RbmApi, account: Any, **body: Any) -> tuple[str, str]:
    """Send over RCS; (message id, RBM messageId) once the `sent` event is out."""
    message_id = await routing.api.sent(account, channel="rcs", **body)
    await routing.events.wait(message_id, "sent")
    return message_id, rbm.sent_to(body.get("to", NUMBER))[-1][0]


async def push(routing: Routing, rbm: RbmApi, data: dict[str, Any], **kwargs: Any) -> int:
    """RBM pushes `data` to the route's callback URL; the answer's status."""
    status, _, _ = await rbm.push(callback_url(routing, RBM_ROUTE), data, **kwargs)
    return status


async def test_text_goes_out_under_a_uuid_message_id_and_is_sent(
    routing: Routing, rbm_api: RbmApi
) -> None:
    """A text is POSTed as `{"contentMessage": {"text"}}` under a UUID messageId; sent once."""
    account = await routing.account(["rcs"], rcs())
    message_id, ours = await sent(routing, rbm_api, account, content={"text": TEXT})
    assert rbm_api.sent_to(NUMBER) == [(ours, {"contentMessage": {"text": TEXT}})]
    assert uuid.UUID(ours).version == 4
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert (status, body["attempts"][0]["route"]) == (200, RBM_ROUTE)
    assert rbm_api.token_requests == 1


async def test_media_url_goes_as_a_standalone_rich_card(routing: Routing, rbm_api: RbmApi) -> None:
    """With a media_url the message is a vertical standalone card: the media, the text below."""
    account = await routing.account(["rcs"], rcs(), apps=apps(digital_asset_manager=True))
    media = "https://cdn.example.com/offer.png"
    await sent(routing, rbm_api, account, content={"text": TEXT, "media_url": media})
    body = rbm_api.sent_to(NUMBER)[0][1]
    assert body == {
        "contentMessage": {
            "richCard": {
                "standaloneCard": {
                    "cardOrientation": "VERTICAL",
                    "cardContent": {
                        "description": TEXT,
                        "media": {
                            "height": "MEDIUM",
                            "contentInfo": {"fileUrl": media, "forceRefresh": False},
                        },
                    },
                }
            }
        }
    }


async def test_delivered_and_read_events_drive_the_message(
    routing: Routing, rbm_api: RbmApi
) -> None:
    """DELIVERED then READ with our messageId: delivered (final), then read; a replay is one."""
    account = await routing.account(["rcs"], rcs())
    message_id, ours = await sent(routing, rbm_api, account)
    delivered = rbm_api.event("DELIVERED", NUMBER, ours)
    for _ in range(3):
        assert await push(routing, rbm_api, delivered, pubsub_id="4815162342") == 200
    assert await push(routing, rbm_api, rbm_api.event("READ", NUMBER, ours)) == 200
    await routing.events.wait(message_id, "read")
    assert routing.events.kinds(message_id) == ["sent", "delivered", "read"]
    assert [e["data"]["final"] for e in routing.events.of(message_id)] == [False, True, False]


async def test_not_rcs_capable_at_send_fails_delivery_failed(
    routing: Routing, rbm_api: RbmApi
) -> None:
    """A 404 to the send fails the attempt delivery_failed."""
    rbm_api.unreachable.add(NUMBER)
    account = await routing.account(["rcs"], rcs())
    message_id = await routing.api.sent(account, channel="rcs")
    final = await routing.events.final(message_id)
    assert (final["data"]["status"], final["data"]["reason"]) == ("failed", "delivery_failed")


async def test_strict_profile_check_uses_capabilities_and_caches_them(
    routing: Routing, rbm_api: RbmApi
) -> None:
    """Strict: a number without RCS fails profile_not_found before any send; a capable one is
    looked up once and then cached."""
    other = "+919876500001"
    rbm_api.unreachable.add(other)
    account = await routing.account(["rcs"], rcs(verify_profile="strict"))
    refused = await routing.api.sent(account, channel="rcs", to=other)
    final = await routing.events.final(refused)
    assert (final["data"]["status"], final["data"]["reason"]) == ("failed", "profile_not_found")
    assert rbm_api.sent_to(other) == []
    for _ in range(3):
        await sent(routing, rbm_api, account)
    assert rbm_api.capability_calls == 2  # one per number, the capable one cached
    assert len(rbm_api.sent_to(NUMBER)) == 3


async def test_token_expiry_mid_traffic_refreshes_once(routing: Routing, rbm_api: RbmApi) -> None:
    """After the access token is revoked, concurrent sends all go out with one new token."""
    account = await routing.account(["rcs"], rcs())
    await sent(routing, rbm_api, account)
    rbm_api.expire_tokens()
    numbers = [f"+9198765433{i:02d}" for i in range(8)]
    ids = await asyncio.gather(
        *(routing.api.sent(account, channel="rcs", to=number) for number in numbers)
    )
    for message_id in ids:
        await routing.events.wait(message_id, "sent")
    assert rbm_api.token_requests == 2
    assert rbm_api.unauthorized >= 1
    assert all(len(rbm_api.sent_to(number)) == 1 for number in numbers)


async def test_throttling_for_a_while_loses_and_fails_nothing(
    routing: Routing, rbm_api: RbmApi
) -> None:
    """429 and 500 for a while: every message goes out once the fake recovers, ends delivered."""
    rbm_api.script(429, 3)
    rbm_api.script(500, 3)
    account = await routing.account(["rcs"], rcs())
    numbers = [f"+9198765434{i:02d}" for i in range(5)]
    ids = [await routing.api.sent(account, channel="rcs", to=number) for number in numbers]
    for message_id in ids:
        await routing.events.wait(message_id, "sent", within_s=30)
    for number in numbers:
        [(ours, _)] = rbm_api.sent_to(number)
        assert await push(routing, rbm_api, rbm_api.event("DELIVERED", number, ours)) == 200
    for message_id in ids:
        final = await routing.events.final(message_id)
        assert final["data"]["status"] == "delivered"
        assert "failed" not in routing.events.kinds(message_id)


async def test_setup_echoes_the_secret_only_for_the_client_token(
    routing: Routing, rbm_api: RbmApi
) -> None:
    """The webhook set-up answers `{"secret"}` for the right client token, 401 otherwise."""
    url = callback_url(routing, RBM_ROUTE)
    status, body, _ = await rbm_api.setup(url, secret="55501")
    assert (status, orjson.loads(body)) == (200, {"secret": "55501"})
    status, _, _ = await rbm_api.setup(url, client_token="SJENCPGJESMGUFPY")
    assert status == 401


async def test_bad_or_missing_signature_is_401_and_changes_nothing(
    routing: Routing, rbm_api: RbmApi
) -> None:
    """A READ push signed with another token, or unsigned, answers 401 and is not applied: the
    well-signed DELIVERED after them makes the message delivered, not read."""
    account = await routing.account(["rcs"], rcs())
    message_id, ours = await sent(routing, rbm_api, account)
    read = rbm_api.event("READ", NUMBER, ours)
    forged = rbm_api.sign(orjson.dumps(read), client_token="not-the-client-token")
    assert await push(routing, rbm_api, read, signature=forged) == 401
    assert await push(routing, rbm_api, read, unsigned=True) == 401
    refused = await metric(
        routing, "parley_route_callbacks_total", route=RBM_ROUTE, outcome="refused"
    )
    assert refused >= 2
    assert await push(routing, rbm_api, rbm_api.event("DELIVERED", NUMBER, ours)) == 200
    await routing.events.final(message_id)
    assert routing.events.kinds(message_id) == ["sent", "delivered"]


async def test_typing_and_user_text_reach_the_conversational_account(
    routing: Routing, rbm_api: RbmApi
) -> None:
    """IS_TYPING is a typing status event, a text one inbound event (redelivered: still one)."""
    account = await routing.account(
        ["rcs"],
        rcs(agents=allow(rbm_api.agent_id)),
        communication_type="conversational",
    )
    assert await push(routing, rbm_api, rbm_api.event("IS_TYPING", NUMBER)) == 200
    await eventually(lambda: any(e["type"].endswith(".typing") for e in routing.events.status))
    typing = next(e for e in routing.events.status if e["type"].endswith(".typing"))
    assert (typing["data"]["account_id"], typing["data"]["sender"]) == (
        account.account_id,
        rbm_api.agent_id,
    )
    text = rbm_api.user_text(NUMBER, "hi agent")
    for _ in range(2):
        assert await push(routing, rbm_api, text, pubsub_id="99887766") == 200
    await eventually(lambda: len(routing.events.inbound) == 1)
    data = routing.events.inbound[0]["data"]
    assert (data["channel"], data["from"], data["to"], data["text"]) == (
        "rcs",
        NUMBER,
        rbm_api.agent_id,
        "hi agent",
    )
    assert (
        await metric(routing, "parley_route_callback_items_total", route=RBM_ROUTE, kind="typing")
        == 1
    )


async def test_a_capabilities_outage_retries_the_check_instead_of_failing(
    routing: Routing, rbm_api: RbmApi
) -> None:
    """A strict check answered 500 twice is asked again; the message then goes out."""
    rbm_api.script(500, 2)
    account = await routing.account(["rcs"], rcs(verify_profile="strict"))
    message_id = await routing.api.sent(account, channel="rcs")
    await routing.events.wait(message_id, "sent", within_s=20)
    assert routing.events.kinds(message_id) == ["sent"]
    assert rbm_api.capability_calls == 1  # the two scripted answers came before it
    assert rbm_api.api_calls == 4  # two refused checks, the check, the send
