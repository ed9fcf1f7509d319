"""Events of accounts webhook-svc cannot open, against a real nats-server: waiting for a
config is capped per account and in time, then dead-lettered with the reason (listed by the
API, replayable); an account whose secrets do not open is reported, not waited for."""

from __future__ import annotations

from typing import Any

from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.sealing import MasterKey, generate_master_key
from webhook_testkit import (
    Account,
    dead_letters,
    log_lines,
    publish_events,
    request,
    sample,
    status_event,
)

FULL = "more than 3 events waiting for the account's config"
LATE = "account config not received within 1 s"
UNOPENABLE = "account config unusable: its sealed secrets cannot be opened with the master key"


async def _letters(nc: Any, account_id: str, count: int) -> bool:
    return len(await dead_letters(nc, account_id)) == count


async def _ack_pending(js: Any) -> int:
    info = await js.consumer_info(subjects.STREAM_STATUS, subjects.DURABLE_WEBHOOK_STATUS)
    return int(info.num_ack_pending)


async def test_waiting_events_are_capped_then_dead_lettered_while_others_flow(
    *, nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Of 5 events for an account whose config never comes, 2 past the cap of 3 are
    dead-lettered at once and the 3 waiting ones once 1 s has passed, each with its reason and
    `attempts` 0; another account's events flow meanwhile and nothing stays unacknowledged.
    Once the config arrives, a replayed one is rendered and delivered, and leaves the list."""
    known = Account(master, status_webhook=status_hook(receiver.url("/k")))
    await known.publish(js)
    service = await start_service(park_max_per_account=3, park_max_seconds=1.0)
    full_before = sample("parley_webhook_parked_dead_lettered_total", reason="account_full")
    late_before = sample("parley_webhook_parked_dead_lettered_total", reason="expired")
    missing = Account(master, status_webhook=status_hook(receiver.url("/m")))
    waiting = [status_event(missing.account_id) for _ in range(5)]
    await publish_events(js, waiting)
    flowing = [status_event(known.account_id) for _ in range(3)]
    await publish_events(js, flowing)
    aid = missing.account_id
    await eventually(lambda: _letters(nc, aid, 2), 5, "two dead letters past the cap")
    assert service.intake.waiting == 3
    early = await dead_letters(nc, aid)
    assert {letter["last_error"] for letter in early} == {FULL}
    assert sorted(e for letter in early for e in letter["event_ids"]) == sorted(
        e["id"] for e in waiting[3:]
    )
    await eventually(lambda: _letters(nc, aid, 5), 5, "the waiting three dead-lettered")
    letters = await dead_letters(nc, aid)
    assert sorted(letter["last_error"] for letter in letters) == sorted([FULL] * 2 + [LATE] * 3)
    assert {(letter["kind"], letter["attempts"]) for letter in letters} == {("status", 0)}
    assert sorted(receiver.event_ids("/k")) == sorted(e["id"] for e in flowing)
    assert receiver.on("/m") == []
    assert service.intake.waiting == 0
    await eventually(lambda: _no_ack_pending(js), 5, "everything acknowledged")
    assert sample("parley_webhook_parked_dead_lettered_total", reason="account_full") == (
        full_before + 2
    )
    assert sample("parley_webhook_parked_dead_lettered_total", reason="expired") == late_before + 3

    await missing.publish(js)
    await eventually(lambda: service.view.get(aid) is not None, 5, "config applied")
    [letter] = [x for x in letters if x["event_ids"] == [waiting[0]["id"]]]
    reply = await request(
        nc,
        subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
        {"account_id": aid, "dead_letter_id": letter["id"]},
    )
    assert reply == {"status": 202}
    await eventually(lambda: receiver.event_ids("/m") == [waiting[0]["id"]], 5, "replayed")
    [received] = receiver.on("/m")
    assert received.json() == waiting[0]
    assert received.headers["webhook-id"] == waiting[0]["id"]
    await eventually(lambda: _letters(nc, aid, 4), 5, "the replayed letter removed")


async def _no_ack_pending(js: Any) -> bool:
    return await _ack_pending(js) == 0


async def test_an_account_whose_secrets_do_not_open_is_reported_not_waited_for(
    *, nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any, log_stream: Any
) -> None:
    """A config sealed under another master key is logged with the account id and counted as
    unusable; its events are dead-lettered at once with that reason instead of waiting. A newer
    config that opens makes it usable again, and the dead letter can then be replayed."""
    elsewhere = MasterKey.from_b64(generate_master_key())
    account = Account(elsewhere, status_webhook=status_hook(receiver.url("/x")))
    service = await start_service()
    await account.publish(js)
    aid = account.account_id
    await eventually(lambda: sample("parley_webhook_accounts_unusable") == 1, 5, "counted")
    [line] = log_lines(log_stream, "account_config_unusable")
    assert (line["account_id"], line["version"]) == (aid, 1)
    event = status_event(aid)
    await publish_events(js, [event])
    await eventually(lambda: _letters(nc, aid, 1), 5, "dead-lettered at once")
    assert service.intake.waiting == 0
    [letter] = await dead_letters(nc, aid)
    assert (letter["last_error"], letter["event_ids"], letter["attempts"]) == (
        UNOPENABLE,
        [event["id"]],
        0,
    )
    assert receiver.requests == []

    account.master, account.version = master, 2
    await account.publish(js)
    await eventually(lambda: sample("parley_webhook_accounts_unusable") == 0, 5, "usable again")
    fresh = status_event(aid)
    await publish_events(js, [fresh])
    await eventually(lambda: receiver.event_ids("/x") == [fresh["id"]], 5, "delivered")
    reply = await request(
        nc,
        subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
        {"account_id": aid, "dead_letter_id": letter["id"]},
    )
    assert reply == {"status": 202}
    await eventually(lambda: receiver.event_ids("/x") == [fresh["id"], event["id"]], 5, "replay")
    await eventually(lambda: _letters(nc, aid, 0), 5, "letter removed after delivery")
