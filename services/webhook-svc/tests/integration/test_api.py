"""The request/reply API: delivery log, dead letters and replay (queue group `webhook-svc`)."""

from __future__ import annotations

import asyncio
from typing import Any

from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.ids import new_id
from webhook_svc.adapters.codec import encode_dead_letter
from webhook_svc.domain.records import DeadLetter, Delivery
from webhook_testkit import Account, dead_letters, publish_events, request, status_event


async def _one_dead_letter(
    nc: Any, js: Any, master: Any, receiver: Receiver, path: str
) -> tuple[Account, dict[str, Any], dict[str, Any]]:
    """An account whose only event was dead-lettered (retries 0)."""
    account = Account(master, status_webhook=status_hook(receiver.url(path), retries=0))
    await account.publish(js)
    receiver.script(path, [500])
    event = status_event(account.account_id)
    await publish_events(js, [event])
    await eventually(lambda: dead_letters(nc, account.account_id), 5, "dead letter")
    [letter] = await dead_letters(nc, account.account_id)
    return account, event, letter


async def test_replay_delivers_again_and_removes_the_dead_letter(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """A replay answers 202, delivers the same body and webhook-id, and the dead letter goes."""
    await start_service()
    account, event, letter = await _one_dead_letter(nc, js, master, receiver, "/rp")
    body = {"account_id": account.account_id, "dead_letter_id": letter["id"]}
    assert await request(nc, subjects.WEBHOOK_DEAD_LETTERS_REPLAY, body) == {"status": 202}
    await eventually(lambda: len(receiver.on("/rp")) == 2, 5, "replayed delivery")
    first, replayed = receiver.on("/rp")
    assert replayed.body == first.body
    assert replayed.headers["webhook-id"] == first.headers["webhook-id"] == event["id"]
    await eventually(lambda: _empty(nc, account.account_id), 5, "dead letter removed")
    log = await request(nc, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": account.account_id})
    assert [(e["attempt"], e["outcome"]) for e in log["items"]][:2] == [
        (1, "delivered"),
        (1, "dead"),
    ]


async def _empty(nc: Any, account_id: str) -> bool:
    return not await dead_letters(nc, account_id)


async def test_failed_replay_becomes_a_new_dead_letter(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """A replay that fails again replaces the dead letter with a new one."""
    await start_service()
    account, event, letter = await _one_dead_letter(nc, js, master, receiver, "/rf")
    receiver.script("/rf", [503])
    body = {"account_id": account.account_id, "dead_letter_id": letter["id"]}
    assert await request(nc, subjects.WEBHOOK_DEAD_LETTERS_REPLAY, body) == {"status": 202}
    await eventually(lambda: _replaced(nc, account.account_id, letter["id"]), 5, "new dead letter")
    [new] = await dead_letters(nc, account.account_id)
    assert new["event_ids"] == [event["id"]]
    assert new["last_error"] == "HTTP 503"


async def _replaced(nc: Any, account_id: str, old_id: str) -> bool:
    items = await dead_letters(nc, account_id)
    return len(items) == 1 and items[0]["id"] != old_id


async def test_unknown_or_foreign_dead_letters_are_not_found(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Replaying an unknown id, or another account's dead letter, answers 404 not_found."""
    await start_service()
    _, _, letter = await _one_dead_letter(nc, js, master, receiver, "/nf")
    for body in (
        {"account_id": "acc_other", "dead_letter_id": letter["id"]},
        {"account_id": "acc_other", "dead_letter_id": "dl_missing"},
        {"account_id": "acc_other", "dead_letter_id": "dl.*"},
    ):
        reply = await request(nc, subjects.WEBHOOK_DEAD_LETTERS_REPLAY, body)
        assert reply["type"] == "not_found"
        assert reply["status"] == 404
        assert reply["title"]
        assert reply["detail"]
    assert await dead_letters(nc, "acc_other") == []


async def test_bad_requests_answer_problems(nc: Any, start_service: Any) -> None:
    """A non-JSON request is 400 malformed_request; a bad field is 422 naming it."""
    await start_service(roles=("api",))
    msg = await nc.request(subjects.WEBHOOK_DELIVERIES_QUERY, b"not json", timeout=5)
    assert b'"malformed_request"' in msg.data
    reply = await request(
        nc, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": "acc_1", "limit": 0}
    )
    assert (reply["status"], reply["errors"][0]["loc"]) == (422, ["limit"])
    reply = await request(nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {})
    assert (reply["status"], reply["errors"][0]["loc"]) == (422, ["account_id"])


async def test_delivery_log_is_newest_first_and_limited(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """The delivery log lists an account's attempts newest first, at most `limit`."""
    account = Account(master, status_webhook=status_hook(receiver.url("/l")))
    await account.publish(js)
    await start_service()
    events = [status_event(account.account_id) for _ in range(5)]
    for event in events:
        await publish_events(js, [event])
        await eventually(lambda e=event: e["id"] in receiver.event_ids("/l"), 5, "delivery")

    async def logged() -> bool:
        reply = await request(
            nc, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": account.account_id}
        )
        return len(reply["items"]) == 5

    await eventually(logged, 5, "five entries")
    reply = await request(
        nc, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": account.account_id, "limit": 3}
    )
    assert [e["event_ids"][0] for e in reply["items"]] == [e["id"] for e in events[::-1][:3]]
    assert all(e["outcome"] == "delivered" and e["status_code"] == 200 for e in reply["items"])


async def test_delivery_log_filtered_by_event_ids(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """With `event_ids`, only the attempts that carried one of those events are answered
    (each attempt of a retried event too); a bad list is 422 naming `event_ids`."""
    account = Account(master, status_webhook=status_hook(receiver.url("/f"), retries=1))
    await account.publish(js)
    await start_service()
    receiver.script("/f", [500])
    events = [status_event(account.account_id) for _ in range(3)]
    for event in events:  # the first fails once, then its retry is delivered
        await publish_events(js, [event])
        tries = 2 if event is events[0] else 1
        await eventually(
            lambda e=event, n=tries: receiver.event_ids("/f").count(e["id"]) == n, 5, "tries"
        )
    body = {"account_id": account.account_id, "event_ids": [events[0]["id"], events[2]["id"]]}

    async def logged() -> bool:
        reply = await request(nc, subjects.WEBHOOK_DELIVERIES_QUERY, body)
        return len(reply["items"]) == 3

    await eventually(logged, 5, "three attempts of the two events")
    reply = await request(nc, subjects.WEBHOOK_DELIVERIES_QUERY, body)
    assert [(e["event_ids"], e["outcome"]) for e in reply["items"]] == [
        ([events[2]["id"]], "delivered"),
        ([events[0]["id"]], "delivered"),
        ([events[0]["id"]], "failed"),
    ]
    reply = await request(nc, subjects.WEBHOOK_DELIVERIES_QUERY, {**body, "event_ids": []})
    assert (reply["status"], reply["errors"][0]["loc"]) == (422, ["event_ids"])


async def test_api_processes_share_requests_in_a_queue_group(nc: Any, start_service: Any) -> None:
    """Two API processes answer each request once between them (a queue group)."""
    await start_service(roles=("api",))
    await start_service(roles=("api",))
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(subjects.WEBHOOK_DEAD_LETTERS_QUERY, b'{"account_id": "acc_q"}', reply=inbox)
    first = await sub.next_msg(timeout=5)
    assert first.data == b'{"items":[]}'
    await nc.flush()
    try:
        await sub.next_msg(timeout=0.5)
    except TimeoutError:
        return
    raise AssertionError("the request was answered twice")


async def test_dead_letters_are_all_listed_when_no_limit_is_sent(
    nc: Any, js: Any, start_service: Any
) -> None:
    """Without `limit` every dead letter of the account is listed (well past 100), newest first;
    an explicit `limit` still answers only the newest ones."""
    account_id = new_id("acc")
    ids = [f"dl_{n:04d}" for n in range(130)]
    acks = []
    for n, dead_letter_id in enumerate(ids):
        delivery = Delivery(f"bat_{n}", account_id, "status", [f"evt_{n}"], b"x" * 2048)
        letter = DeadLetter(dead_letter_id, delivery, 4, "HTTP 500", "2026-11-26T10:00:00.000Z")
        subject = subjects.webhook_dead_letter(account_id, dead_letter_id)
        acks.append(await js.publish_async(subject, encode_dead_letter(letter)))
    await asyncio.gather(*acks)
    await start_service(roles=("api",))
    items = await dead_letters(nc, account_id)
    assert [item["id"] for item in items] == ids[::-1]
    assert items[0]["event_ids"] == ["evt_129"]
    reply = await request(
        nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account_id, "limit": 3}
    )
    assert [item["id"] for item in reply["items"]] == ids[::-1][:3]
