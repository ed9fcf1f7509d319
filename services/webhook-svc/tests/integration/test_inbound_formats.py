"""Inbound messages in the non-native formats against a real nats-server: CleverTap's inbound
shapes reach the user_initiated webhook; a format with no inbound shape (kept by an account
stored before account-svc refused it there) dead-letters every inbound message with what to
change, and the letter is delivered once the format is fixed and it is replayed."""

from __future__ import annotations

from typing import Any

from parley_devtools.account_events import inbound_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from webhook_testkit import Account, dead_letters, inbound_event, publish_events, request, sample

NO_SHAPE = (
    "the moengage payload format has no shape for inbound messages: set "
    "webhooks.user_initiated.payload_format to clevertap or native, then replay"
)


async def test_clevertap_user_initiated_webhook_gets_its_inbound_shapes(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """A WhatsApp message arrives as CleverTap's incoming message callback and an SMS reply as
    a CleverTap `replied` callback carrying the metadata pairs (also sent as headers)."""
    pairs = {"enabled": True, "pairs": {"team": "care"}}
    hook = inbound_hook(receiver.url("/ct-in"), payload_format="clevertap", metadata=pairs)
    account = Account(master, inbound_webhook=hook)
    await account.publish(js)
    await start_service()
    aid = account.account_id
    chat = inbound_event(aid, text="where is my order?", received_at="2026-11-26T10:00:00.000Z")
    reply = inbound_event(
        aid, channel="sms", text="YES", in_reply_to="msg_1", received_at="2026-11-26T10:00:05.000Z"
    )
    await publish_events(js, [chat, reply], inbound=True)
    await eventually(lambda: len(receiver.on("/ct-in")) == 2, 5, "both delivered")
    by_id = {r.headers["webhook-id"]: r for r in receiver.on("/ct-in")}
    assert by_id[chat["id"]].json() == {
        "payloadVersion": "0.1",
        "from": "919876543210",
        "wabaNumber": "919800000001",
        "timestamp": "1795687200",
        "type": "text",
        "text": {"body": "where is my order?"},
    }
    assert by_id[reply["id"]].json() == [
        {
            "event": "replied",
            "data": [
                {
                    "ts": 1795687205,
                    "meta": "msg_1",
                    "toPhone": "919800000001",
                    "incomingText": "YES",
                    "metadata": {"team": "care"},
                }
            ],
        }
    ]
    assert by_id[reply["id"]].headers["x-parley-meta-team"] == "care"


async def test_a_format_without_inbound_shape_dead_letters_then_replays_after_the_fix(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Nothing is skipped: the message becomes a dead letter (kind user_initiated, attempts 0,
    the reason naming the field), counted; after a PATCH to native its replay is delivered."""
    account = Account(
        master, inbound_webhook=inbound_hook(receiver.url("/mo-in"), payload_format="moengage")
    )
    await account.publish(js)
    service = await start_service()
    before = sample("parley_webhook_inbound_not_expressible_total", format="moengage")
    aid = account.account_id
    event = inbound_event(aid)
    await publish_events(js, [event], inbound=True)

    async def one_letter() -> bool:
        return len(await dead_letters(nc, aid)) == 1

    await eventually(one_letter, 5, "dead-lettered")
    [letter] = await dead_letters(nc, aid)
    assert (letter["kind"], letter["event_ids"], letter["attempts"], letter["last_error"]) == (
        "user_initiated",
        [event["id"]],
        0,
        NO_SHAPE,
    )
    assert sample("parley_webhook_inbound_not_expressible_total", format="moengage") == before + 1
    assert receiver.on("/mo-in") == []

    account.inbound_webhook = inbound_hook(receiver.url("/mo-in"))
    account.version = 2
    await account.publish(js)
    await eventually(lambda: getattr(service.view.get(aid), "version", 0) == 2, 5, "config v2")
    answer = await request(
        nc,
        subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
        {"account_id": aid, "dead_letter_id": letter["id"]},
    )
    assert answer == {"status": 202}
    await eventually(lambda: receiver.event_ids("/mo-in") == [event["id"]], 5, "replayed")

    async def no_letter() -> bool:
        return await dead_letters(nc, aid) == []

    await eventually(no_letter, 5, "letter removed after delivery")
