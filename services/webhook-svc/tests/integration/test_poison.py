"""Poison messages on the STATUS, INBOUND and WEBHOOK_RETRY consumers against a real
nats-server: invalid ones are terminated and counted at once, ones that fail every delivery
end in WEBHOOK_POISON after WEBHOOK_MAX_DELIVER, and full streams never lose or ack work."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from nats.js.api import StreamConfig
from parley_devtools.account_events import inbound_hook, status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from webhook_testkit import (
    Account,
    Terminations,
    inbound_event,
    log_lines,
    publish_events,
    sample,
    status_event,
)

MARKER = "SECRET-MARKER-9f2c"
STREAMS = {
    "status": (subjects.STREAM_STATUS, subjects.DURABLE_WEBHOOK_STATUS),
    "inbound": (subjects.STREAM_INBOUND, subjects.DURABLE_WEBHOOK_INBOUND),
    "retry": (subjects.STREAM_WEBHOOK_RETRY, subjects.DURABLE_WEBHOOK_RETRY),
}
FAST = {"max_deliver": 3, "redelivery_delay_seconds": 0.1, "redelivery_delay_max_seconds": 0.2}


def poison_message(consumer: str, payload: str, account_id: str) -> tuple[str, bytes]:
    """(subject, bytes) of a message that can never be handled by `consumer`: bytes that are
    no JSON at all, or JSON that fails validation."""
    subject = {
        "status": subjects.status(account_id),
        "inbound": subjects.inbound(account_id),
        "retry": subjects.webhook_retry_due(account_id),
    }[consumer]
    if payload == "garbage":
        return subject, b"\x00\xff" + MARKER.encode() + b" {not json"
    if consumer == "status":
        event = {"id": "evt_poison", "type": "parley.message.delivered", "data": MARKER}
        return subject, orjson.dumps(event)
    if consumer == "inbound":  # names another account than its subject: must never go out
        data = {"account_id": "acc_someone_else", "text": MARKER}
        return subject, orjson.dumps(
            {"id": "inb_p", "type": "parley.inbound.message", "data": data}
        )
    meta = {"batch_id": "bat_p", "account_id": account_id, "kind": "nope", "event_ids": ["e"]}
    return subject, orjson.dumps(meta) + b"\n" + orjson.dumps({MARKER: 1})


async def consumer_info(js: Any, consumer: str) -> Any:
    """The durable consumer's state on the server."""
    stream, durable = STREAMS[consumer]
    return await js.consumer_info(stream, durable)


@pytest.mark.parametrize("payload", ["garbage", "invalid"])
@pytest.mark.parametrize("consumer", ["status", "inbound", "retry"])
async def test_invalid_messages_are_terminated_counted_and_logged_once(
    consumer: str,
    payload: str,
    *,
    nc: Any,
    js: Any,
    master: Any,
    receiver: Receiver,
    start_service: Any,
    log_stream: Any,
) -> None:
    """A message a consumer can never handle is terminated at its first delivery (the server
    announces MSG_TERMINATED, it is never redelivered), counted under its consumer and logged
    once without its body, while good events of the same account keep flowing."""
    account = Account(
        master,
        status_webhook=status_hook(receiver.url("/s")),
        inbound_webhook=inbound_hook(receiver.url("/i")),
    )
    await account.publish(js)
    service = await start_service(**FAST)
    stream, durable = STREAMS[consumer]
    terminations = await Terminations().start(nc)
    before = sample("parley_webhook_invalid_messages_total", consumer=durable)
    subject, data = poison_message(consumer, payload, account.account_id)
    ack = await js.publish(subject, data)
    good_status, good_inbound = status_event(account.account_id), inbound_event(account.account_id)
    await publish_events(js, [good_status])
    await publish_events(js, [good_inbound], inbound=True)
    await eventually(lambda: receiver.event_ids("/s") == [good_status["id"]], 5, "status flows")
    await eventually(lambda: receiver.event_ids("/i") == [good_inbound["id"]], 5, "inbound flows")
    await eventually(lambda: bool(terminations.of(stream, ack.seq)), 5, "MSG_TERMINATED advisory")
    assert sample("parley_webhook_invalid_messages_total", consumer=durable) == before + 1
    info = await consumer_info(js, consumer)
    assert (info.num_ack_pending, info.num_redelivered) == (0, 0)
    [line] = [x for x in log_lines(log_stream, "message_terminated") if x["consumer"] == durable]
    assert (line["stream_seq"], line["account_id"]) == (ack.seq, account.account_id)
    assert line["reason"]
    assert MARKER not in log_stream.getvalue()
    assert service.ready()[0]


async def _limit_stream(js: Any, name: str, **limits: Any) -> None:
    """Tighten a stream's limits on the server (as an operator would), keeping the rest."""
    config: StreamConfig = (await js.stream_info(name)).config
    for key, value in limits.items():
        setattr(config, key, value)
    await js.update_stream(config)


async def test_a_message_failing_every_delivery_lands_in_the_poison_stream(
    *,
    nc: Any,
    js: Any,
    master: Any,
    receiver: Receiver,
    start_service: Any,
    log_stream: Any,
) -> None:
    """With the dead-letter stream full (discard new), an event whose only try failed can be
    stored nowhere: it is given back with a growing delay, tried max_deliver (3) times, then
    copied to WEBHOOK_POISON (bytes and origin intact) and terminated; another account's
    events keep flowing meanwhile and nothing is acknowledged before the copy is stored."""
    failing = Account(master, status_webhook=status_hook(receiver.url("/a"), retries=0))
    healthy = Account(master, status_webhook=status_hook(receiver.url("/b")))
    await failing.publish(js)
    await healthy.publish(js)
    receiver.script("/a", [500] * 10)
    await start_service(**FAST)
    await _limit_stream(js, subjects.STREAM_WEBHOOK_DEAD_LETTERS, max_msgs=1)
    await js.publish(subjects.webhook_dead_letter("acc_filler", "dl_filler"), b"{}\n{}")
    durable = subjects.DURABLE_WEBHOOK_STATUS
    poisoned_before = sample("parley_webhook_poison_messages_total", consumer=durable)
    event = status_event(failing.account_id)
    await publish_events(js, [event])
    flowing = [status_event(healthy.account_id) for _ in range(5)]
    for one in flowing:
        await publish_events(js, [one])

    async def poisoned() -> bool:
        info = await js.stream_info(subjects.STREAM_WEBHOOK_POISON)
        return bool(info.state.messages == 1)

    await eventually(poisoned, 15, "the event in WEBHOOK_POISON")
    subject = subjects.webhook_poison(durable, failing.account_id)
    copy = await js.get_last_msg(subjects.STREAM_WEBHOOK_POISON, subject)
    assert orjson.loads(copy.data) == event
    headers = copy.headers or {}
    assert headers["Parley-Poison-Stream"] == subjects.STREAM_STATUS
    assert headers["Parley-Poison-Subject"] == subjects.status(failing.account_id)
    assert headers["Parley-Poison-Consumer"] == durable
    assert headers["Parley-Poison-Deliveries"] == "4"
    await eventually(
        lambda: (
            sample("parley_webhook_poison_messages_total", consumer=durable) == poisoned_before + 1
        ),
        5,
        "poison counted",
    )
    assert len(receiver.on("/a")) == 3
    assert sorted(receiver.event_ids("/b")) == sorted(e["id"] for e in flowing)
    info = await consumer_info(js, "status")
    assert info.num_ack_pending == 0
    [line] = log_lines(log_stream, "message_poisoned")
    assert (line["account_id"], line["deliveries"]) == (failing.account_id, 4)
    assert int(headers["Parley-Poison-Sequence"]) == line["stream_seq"]


async def test_a_full_retry_stream_refuses_writes_and_loses_no_waiting_retry(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """WEBHOOK_RETRY cannot discard new (message schedules): at its fill limit webhook-svc stops
    writing instead, so the retries already waiting stay, the failed event is not acknowledged
    but given back with a delay, and once there is room it is retried and delivered."""
    account = Account(master, status_webhook=status_hook(receiver.url("/r"), retries=1))
    await account.publish(js)
    receiver.script("/r", [500, 500, 500])
    await start_service(
        max_deliver=50, redelivery_delay_seconds=0.2, redelivery_delay_max_seconds=0.4
    )
    await _limit_stream(js, subjects.STREAM_WEBHOOK_RETRY, max_msgs=5)
    waiting = [subjects.webhook_retry_at("acc_filler", f"filler{i}") for i in range(5)]
    for subject in waiting:
        headers = {
            "Nats-Schedule": "@at 2099-01-01T00:00:00Z",
            "Nats-Schedule-Target": subjects.webhook_retry_due("acc_filler"),
        }
        await js.publish(subject, b"{}\n{}", headers=headers)
    before = sample("parley_webhook_store_errors_total", store="retry")
    event = status_event(account.account_id)
    await publish_events(js, [event])
    await eventually(
        lambda: sample("parley_webhook_store_errors_total", store="retry") >= before + 2,
        10,
        "two refused retry writes",
    )
    info = await consumer_info(js, "status")
    assert info.num_ack_pending == 1
    assert info.num_redelivered >= 1
    for subject in waiting:  # nothing waiting was discarded to make room
        await js.get_last_msg(subjects.STREAM_WEBHOOK_RETRY, subject)
    assert receiver.event_ids("/r")
    assert all(r.path == "/r" for r in receiver.requests)
    for subject in waiting:
        await js.purge_stream(subjects.STREAM_WEBHOOK_RETRY, subject=subject)
    delivered = len(receiver.on("/r"))
    await eventually(lambda: len(receiver.on("/r")) > max(delivered, 3), 15, "a 200 after room")

    async def acked() -> bool:
        return bool((await consumer_info(js, "status")).num_ack_pending == 0)

    await eventually(acked, 10, "acknowledged once stored or delivered")
