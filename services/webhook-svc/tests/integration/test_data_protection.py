"""What webhook-svc keeps of a protected account's events, against a real nats-server: waiting
retries and dead letters sealed, a do_not_store dead letter without text, a do_not_store text
erased from INBOUND once delivered, and a deleted account's data purged."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from nats.js.errors import NotFoundError
from parley_devtools.account_events import inbound_hook, status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from webhook_testkit import (
    Account,
    dead_letters,
    inbound_event,
    publish_events,
    request,
    status_event,
)

SECRET_TEXT = "my passport number is Z1234567"
NUMBER_DIGITS = b"9876543210"


async def stored(js: Any, stream: str) -> list[tuple[str, bytes]]:
    """Every message a stream holds now: (subject, data). A stream that never held a message
    reports first and last sequence 0, and sequence 0 is a bad request, not a missing one."""
    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    out = []
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:
            continue
        out.append((msg.subject, bytes(msg.data or b"")))
    return out


@pytest.mark.parametrize("protection", ["store", "encrypt_and_store", "do_not_store"])
async def test_a_waiting_retry_is_sealed_unless_store(
    js: Any, master: Any, receiver: Receiver, start_service: Any, protection: str
) -> None:
    """A batch waiting for its next attempt holds the number and text in clear only under
    store; otherwise its body is sealed (the metadata line says so)."""
    hook = inbound_hook(receiver.url("/in"), retries=3)
    account = Account(master, inbound_webhook=hook, data_protection=protection)
    await account.publish(js)
    receiver.script("/in", [500])
    await start_service(retry_schedule="600")
    await publish_events(js, [inbound_event(account.account_id, text=SECRET_TEXT)], inbound=True)
    await eventually(lambda: len(receiver.on("/in")) == 1, 5, "first attempt")

    async def waiting() -> list[bytes]:
        return [d for _, d in await stored(js, subjects.STREAM_WEBHOOK_RETRY)]

    await eventually(lambda: _any(waiting), 5, "the retry stored")
    (record,) = await waiting()
    meta = orjson.loads(record.split(b"\n", 1)[0])
    clear = SECRET_TEXT.encode() in record and NUMBER_DIGITS in record
    assert clear is (protection == "store")
    assert meta.get("sealed", False) is (protection != "store")


async def _any(read: Any) -> bool:
    return bool(await read())


@pytest.mark.parametrize("protection", ["encrypt_and_store", "do_not_store"])
async def test_dead_letters_of_protected_accounts(
    js: Any, master: Any, receiver: Receiver, start_service: Any, protection: str
) -> None:
    """An encrypt_and_store dead letter is sealed at rest and its replay delivers the text; a
    do_not_store one keeps no text (its replay delivers the event with `text: null`)."""
    hook = inbound_hook(receiver.url("/dl"), retries=0)
    account = Account(master, inbound_webhook=hook, data_protection=protection)
    await account.publish(js)
    receiver.script("/dl", [500])
    await start_service()
    nc = js._nc
    event = inbound_event(account.account_id, text=SECRET_TEXT)
    await publish_events(js, [event], inbound=True)
    aid = account.account_id
    await eventually(lambda: _letters(nc, aid, 1), 5, "dead-lettered")
    ((_, letter),) = await stored(js, subjects.STREAM_WEBHOOK_DEAD_LETTERS)
    assert SECRET_TEXT.encode() not in letter
    assert NUMBER_DIGITS not in letter
    (listed,) = await dead_letters(nc, aid)
    reply = await request(
        nc,
        subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
        {"account_id": aid, "dead_letter_id": listed["id"]},
    )
    assert reply == {"status": 202}
    await eventually(lambda: len(receiver.on("/dl")) == 2, 5, "replayed")
    replayed = receiver.on("/dl")[1].json()
    assert replayed["id"] == event["id"]
    expected = SECRET_TEXT if protection == "encrypt_and_store" else None
    assert replayed["data"]["text"] == expected


async def _letters(nc: Any, account_id: str, count: int) -> bool:
    return len(await dead_letters(nc, account_id)) == count


async def test_a_do_not_store_text_leaves_inbound_once_delivered(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Once webhook-svc delivered a do_not_store account's inbound message, the message is
    erased from INBOUND; a store account's stays for the stream's retention."""
    private = Account(master, inbound_webhook=inbound_hook(receiver.url("/p")))
    private.data_protection = "do_not_store"
    public = Account(master, inbound_webhook=inbound_hook(receiver.url("/s")))
    for account in (private, public):
        await account.publish(js)
    await start_service()
    await publish_events(
        js,
        [
            inbound_event(private.account_id, text="private words"),
            inbound_event(public.account_id, text="public words"),
        ],
        inbound=True,
    )
    await eventually(lambda: bool(receiver.on("/p") and receiver.on("/s")), 5, "delivered")
    assert receiver.on("/p")[0].json()["data"]["text"] == "private words"

    async def kept() -> list[bytes]:
        return [d for _, d in await stored(js, subjects.STREAM_INBOUND)]

    await eventually(lambda: _without(kept, b"private words"), 5, "erased")
    assert any(b"public words" in data for data in await kept())


async def _without(read: Any, needle: bytes) -> bool:
    return all(needle not in data for data in await read())


async def test_a_deleted_accounts_webhook_data_is_purged(
    js: Any, nc: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """The tombstone purges the account's dead letters and delivery log (another account's
    stay)."""
    doomed = Account(master, status_webhook=status_hook(receiver.url("/d"), retries=0))
    other = Account(master, status_webhook=status_hook(receiver.url("/o"), retries=0))
    receiver.script("/d", [500])
    receiver.script("/o", [500])
    for account in (doomed, other):
        await account.publish(js)
    await start_service()
    await publish_events(js, [status_event(doomed.account_id), status_event(other.account_id)])
    await eventually(lambda: _letters(nc, doomed.account_id, 1), 5, "dead letter")
    await eventually(lambda: _letters(nc, other.account_id, 1), 5, "other dead letter")
    doomed.deleted, doomed.version = True, doomed.version + 1
    await doomed.publish(js)

    async def gone() -> bool:
        held = [s for s, _ in await stored(js, subjects.STREAM_WEBHOOK_DEAD_LETTERS)]
        held += [s for s, _ in await stored(js, subjects.STREAM_WEBHOOK_DELIVERIES)]
        return not any(s.endswith(doomed.account_id) or f".{doomed.account_id}." in s for s in held)

    await eventually(gone, 10, "purged")
    assert len(await dead_letters(nc, other.account_id)) == 1
