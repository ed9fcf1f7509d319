"""The WhatsApp Cloud API connector end to end: routing-svc in-process on a real NATS, its
`whatsapp_cloud` route pointing at the local fake of Meta's Graph API (CONTRACT section 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from connectors_testkit import WA_ROUTE, apps, callback_url, metric, routes_env, routes_file
from parley_devtools.fakes.graph_api import GraphApi
from parley_devtools.waiting import eventually
from routing_testkit import NUMBER, Routing, allow, fallback

SEEDS = ("delivery_failed", "dr_ttl_expired", "invalid_number", "validity_expired")
TEXT = "Your code is 4821"


@pytest.fixture
def routing_settings(
    tmp_path: Path, graph_api: GraphApi, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """routing-svc with the fake's WhatsApp route (and the sandbox's sms-1)."""
    for name, value in routes_env(graph_api).items():
        monkeypatch.setenv(name, value)
    return {"routes_file": str(routes_file(tmp_path / "routes.json", graph_api))}


async def sent(routing: Routing, graph: GraphApi, account: Any, **body: Any) -> tuple[str, str]:
    """Send over WhatsApp; (message id, the Graph API's id) once the `sent` event is out."""
    message_id = await routing.api.sent(account, channel="whatsapp", **body)
    await routing.events.wait(message_id, "sent")
    return message_id, graph.sent_to(body.get("to", NUMBER))[-1].wamid


async def notify(routing: Routing, graph: GraphApi, *statuses: dict[str, Any]) -> None:
    """Meta posts signed statuses; routing-svc answers 200."""
    body = graph.notification(statuses=statuses)
    status, answer, _ = await graph.notify(callback_url(routing, WA_ROUTE), body)
    assert status == 200, answer


def outcome(routing: Routing, message_id: str) -> list[tuple[str, str | None, bool]]:
    """(kind, reason, final) of a message's events."""
    return [
        (e["type"].rsplit(".", 1)[-1], e["data"]["reason"], e["data"]["final"])
        for e in routing.events.of(message_id)
    ]


async def test_text_goes_out_with_the_contract_body_and_is_sent(
    routing: Routing, graph_api: GraphApi
) -> None:
    """A text message is POSTed to /{version}/{phone id}/messages with the exact body; sent once."""
    account = await routing.account(["whatsapp"])
    message_id, _ = await sent(routing, graph_api, account, content={"text": TEXT})
    assert [item.body for item in graph_api.sent_to(NUMBER)] == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": NUMBER[1:],
            "type": "text",
            "text": {"body": TEXT, "preview_url": False},
        }
    ]
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert (status, body["attempts"][0]["route"], body["status"]) == (200, WA_ROUTE, "sent")
    assert await metric(routing, "parley_route_up", route=WA_ROUTE) == 1.0


async def test_media_url_goes_as_an_image_with_the_text_as_caption(
    routing: Routing, graph_api: GraphApi
) -> None:
    """With a media_url the body is `type: image` with `link` and `caption`."""
    account = await routing.account(["whatsapp"], apps=apps(digital_asset_manager=True))
    media = "https://cdn.example.com/offer.png"
    await sent(routing, graph_api, account, content={"text": TEXT, "media_url": media})
    body = graph_api.sent_to(NUMBER)[0].body
    assert (body["type"], body["image"]) == ("image", {"link": media, "caption": TEXT})
    assert "text" not in body


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["sent", "delivered"], [("sent", None, False), ("delivered", None, True)]),
        (
            ["delivered", "read"],
            [("sent", None, False), ("delivered", None, True), ("read", None, False)],
        ),
        (["failed:131000"], [("sent", None, False), ("failed", "delivery_failed", True)]),
        (["failed:131026"], [("sent", None, False), ("failed", "invalid_number", True)]),
    ],
)
async def test_each_status_maps_as_the_contract_says(
    routing: Routing, graph_api: GraphApi, statuses: list[str], expected: list[Any]
) -> None:
    """delivered -> delivered, read -> read, failed -> delivery_failed (131026: invalid_number),
    sent -> nothing."""
    account = await routing.account(["whatsapp"])
    message_id, wamid = await sent(routing, graph_api, account)
    for item in statuses:
        name, _, code = item.partition(":")
        entry = graph_api.status(wamid, name, NUMBER, error_code=int(code) if code else None)
        await notify(routing, graph_api, entry)
    await eventually(lambda: len(routing.events.of(message_id)) >= len(expected))
    assert outcome(routing, message_id) == expected


@pytest.mark.parametrize(
    ("script", "reason"),
    [("invalid", "invalid_number"), ("not_allowed", "invalid_number"), (100, "delivery_failed")],
)
async def test_refusals_at_send_fail_the_attempt(
    routing: Routing, graph_api: GraphApi, script: Any, reason: str
) -> None:
    """400 with 131026 or 131030 fails invalid_number; any other 4xx fails delivery_failed."""
    if script == "invalid":
        graph_api.invalid.add(NUMBER)
    elif script == "not_allowed":
        graph_api.not_allowed.add(NUMBER)
    else:
        graph_api.script(400, 1, code=script)
    account = await routing.account(["whatsapp"])
    message_id = await routing.api.sent(account, channel="whatsapp")
    final = await routing.events.final(message_id)
    assert (final["data"]["status"], final["data"]["reason"]) == ("failed", reason)
    assert routing.events.kinds(message_id) == ["failed"]


async def test_invalid_number_falls_back_to_sms(routing: Routing, graph_api: GraphApi) -> None:
    """A WhatsApp attempt refused 131026 falls back to SMS (the sandbox here), which delivers."""
    graph_api.invalid.add(NUMBER)
    settings = {"whatsapp": {"fallback": fallback("sms", 20, *SEEDS)}}
    account = await routing.account(["whatsapp", "sms"], settings)
    message_id = await routing.api.sent(account, channel="whatsapp")
    final = await routing.events.final(message_id)
    assert [
        (e["data"]["channel"], k)
        for e, k in zip(
            routing.events.of(message_id), routing.events.kinds(message_id), strict=True
        )
    ] == [("whatsapp", "fallback"), ("sms", "sent"), ("sms", "delivered")]
    assert final["data"]["fallback_from"] == "whatsapp"


async def test_throttling_for_a_while_loses_and_fails_nothing(
    routing: Routing, graph_api: GraphApi
) -> None:
    """429 (Retry-After), 500 and a 400 rate-limit code for a while: every message is sent once
    when the fake recovers and ends delivered; none fails."""
    graph_api.script(429, 3, retry_after="0")
    graph_api.script(500, 3)
    graph_api.script(400, 2, code=130429)
    account = await routing.account(["whatsapp"])
    numbers = [f"+9198765432{i:02d}" for i in range(6)]
    ids = [await routing.api.sent(account, channel="whatsapp", to=n) for n in numbers]
    for message_id in ids:
        await routing.events.wait(message_id, "sent", within_s=30)
    assert {429, 500, 400} <= set(graph_api.answers)
    for number in numbers:
        [accepted] = graph_api.sent_to(number)
        await notify(routing, graph_api, graph_api.status(accepted.wamid, "delivered", number))
    for message_id in ids:
        final = await routing.events.final(message_id)
        assert final["data"]["status"] == "delivered"
        assert "failed" not in routing.events.kinds(message_id)


async def test_a_connection_lost_unanswered_is_sent_again_once(
    routing: Routing, graph_api: GraphApi
) -> None:
    """A send whose connection drops unanswered is offered again and accepted the second time."""
    graph_api.drop(1)
    account = await routing.account(["whatsapp"])
    message_id, _ = await sent(routing, graph_api, account)
    assert graph_api.requests == 2
    assert len(graph_api.sent_to(NUMBER)) == 1
    assert routing.events.kinds(message_id) == ["sent"]


async def test_bad_or_missing_signature_is_401_and_changes_nothing(
    routing: Routing, graph_api: GraphApi
) -> None:
    """A callback signed with another secret, a tampered body or no signature answers 401; the
    message stays sent until a well-signed report comes."""
    account = await routing.account(["whatsapp"])
    message_id, wamid = await sent(routing, graph_api, account)
    url = callback_url(routing, WA_ROUTE)
    body = graph_api.notification(statuses=[graph_api.status(wamid, "failed", NUMBER)])
    raw = orjson.dumps(body)
    forged = graph_api.sign(raw, secret="not-the-app-secret")
    tampered = graph_api.sign(raw.replace(b"failed", b"delivered"))
    for kwargs in ({"signature": forged}, {"signature": tampered}, {"unsigned": True}):
        status, answer, kind = await graph_api.notify(url, raw, **kwargs)
        assert (status, kind) == (401, "application/problem+json"), answer
    assert (
        await metric(routing, "parley_route_callbacks_total", route=WA_ROUTE, outcome="refused")
        >= 3
    )
    await notify(routing, graph_api, graph_api.status(wamid, "delivered", NUMBER))
    await routing.events.final(message_id)
    assert outcome(routing, message_id) == [("sent", None, False), ("delivered", None, True)]


async def test_verify_handshake(routing: Routing, graph_api: GraphApi) -> None:
    """The right verify token gets the challenge back as text/plain; a wrong one or mode is 403."""
    url = callback_url(routing, WA_ROUTE)
    assert await graph_api.verify(url, challenge="8812") == (200, b"8812", "text/plain")
    status, _, _ = await graph_api.verify(url, verify_token="guess")
    assert status == 403
    status, _, _ = await graph_api.get(
        url,
        {
            "hub.mode": "unsubscribe",
            "hub.verify_token": graph_api.verify_token,
            "hub.challenge": "1",
        },
    )
    assert status == 403


async def test_replayed_callbacks_make_one_event(routing: Routing, graph_api: GraphApi) -> None:
    """Meta resending the same delivered status three times makes one delivered event."""
    account = await routing.account(["whatsapp"])
    message_id, wamid = await sent(routing, graph_api, account)
    entry = graph_api.status(wamid, "delivered", NUMBER)
    for _ in range(3):
        await notify(routing, graph_api, entry)
    await notify(routing, graph_api, graph_api.status(wamid, "read", NUMBER))
    await routing.events.wait(message_id, "read")
    assert routing.events.kinds(message_id) == ["sent", "delivered", "read"]


async def test_user_messages_and_stop_reach_the_conversational_account(
    routing: Routing, graph_api: GraphApi
) -> None:
    """A text becomes one inbound event (resent: still one); STOP opts the user out; an image
    is acknowledged and carried nowhere."""
    account = await routing.account(
        ["whatsapp"],
        {"whatsapp": {"wabas": allow(graph_api.display_number)}},
        communication_type="conversational",
        consent={"lookup_opt_in": False, "lookup_opt_out": True},
    )
    url = callback_url(routing, WA_ROUTE)
    hello = graph_api.user_message(NUMBER, "hello there")
    for _ in range(2):
        status, _, _ = await graph_api.notify(url, graph_api.notification(messages=[hello]))
        assert status == 200
    await eventually(lambda: len(routing.events.inbound) == 1)
    data = routing.events.inbound[0]["data"]
    assert (data["account_id"], data["channel"], data["from"], data["to"], data["text"]) == (
        account.account_id,
        "whatsapp",
        NUMBER,
        graph_api.display_number,
        "hello there",
    )
    image = graph_api.user_message(NUMBER, kind="image")
    stop = graph_api.user_message(NUMBER, " stop ")
    body = graph_api.notification(messages=[image, stop])
    assert (await graph_api.notify(url, body))[0] == 200
    await eventually(lambda: len(routing.events.inbound) == 2)
    status, consent = await routing.api.call("GET", f"/v1/consent/{NUMBER}", key=account.api_key)
    assert (status, consent["status"]) == (200, "opted_out")
    status, refused = await routing.api.send(account, channel="whatsapp")
    assert (status, refused["type"]) == (422, "opted_out")
    assert [e["data"]["text"] for e in routing.events.inbound] == ["hello there", " stop "]
