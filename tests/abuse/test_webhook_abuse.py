"""Abuse of webhook-svc against a real nats-server: a flood of poison messages on every one
of its consumers, and webhook targets that hide a loopback address inside an IPv6 form.

Self-contained on purpose (tests/abuse/conftest.py belongs to the account-svc abuse tests):
the fixtures below use only the devtools plugin's `nats_url` and webhook_testkit.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import nats
import orjson
import pytest
from parley_devtools.account_events import inbound_hook, status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.logging import configure_logging
from parley_shared.sealing import MasterKey, generate_master_key
from parley_shared.streams import ensure_streams
from webhook_testkit import (
    Account,
    ServiceRunner,
    Terminations,
    dead_letters,
    inbound_event,
    log_lines,
    publish_events,
    sample,
    status_event,
)

MARKER = "ABUSE-MARKER-51d0"
CONSUMERS = {
    subjects.DURABLE_WEBHOOK_STATUS: subjects.STREAM_STATUS,
    subjects.DURABLE_WEBHOOK_INBOUND: subjects.STREAM_INBOUND,
    subjects.DURABLE_WEBHOOK_RETRY: subjects.STREAM_WEBHOOK_RETRY,
}
ROUNDS = 40  # each round: 6 poison messages (2 per consumer) and 2 good events
REFUSED = "target address not allowed (loopback, private, link-local or reserved)"
# 127.0.0.1 inside each IPv6 form that carries an IPv4 address.
LOOPBACK_FORMS = {
    "nat64": "64:ff9b::7f00:1",
    "nat64-local": "64:ff9b:1::7f00:1",
    "6to4": "2002:7f00:1::1",
    "teredo": "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "ipv4-compatible": "::127.0.0.1",
    "ipv4-mapped": "::ffff:127.0.0.1",
}


@pytest.fixture
def webhook_logs() -> io.StringIO:
    """Everything webhook-svc logs during the test, as JSON lines."""
    stream = io.StringIO()
    configure_logging("webhook-svc", "DEBUG", json_output=True, stream=stream)
    return stream


@pytest.fixture
async def webhook_nc(nats_url: str) -> AsyncIterator[Any]:
    """The test's own NATS connection, with Parley's streams in place."""
    conn = await nats.connect(nats_url)
    await ensure_streams(conn.jetstream())
    yield conn
    await conn.close()


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[Receiver]:
    """A scripted webhook receiver on loopback."""
    receiver = await Receiver().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def webhook_runner(nats_url: str) -> AsyncIterator[tuple[ServiceRunner, MasterKey]]:
    """Starts webhook-svc in-process (stopped at the end), and the master key it uses."""
    key = generate_master_key()
    runner = ServiceRunner(nats_url, key)
    yield runner, MasterKey.from_b64(key)
    await runner.close()


def _poison(round_no: int, account_id: str) -> list[tuple[str, str, bytes]]:
    """(consumer, subject, bytes) of six messages no consumer can ever handle."""
    garbage = b"\x00\xfe" + MARKER.encode() + str(round_no).encode()
    retry_meta = {"batch_id": "bat_x", "account_id": account_id, "kind": "?", "event_ids": ["e"]}
    status_data = {"account_id": account_id, "metadata": MARKER}
    return [
        (subjects.DURABLE_WEBHOOK_STATUS, subjects.status(account_id), garbage),
        (
            subjects.DURABLE_WEBHOOK_STATUS,
            subjects.status(account_id),
            orjson.dumps({"id": f"evt_p{round_no}", "type": "x", "data": status_data}),
        ),
        (subjects.DURABLE_WEBHOOK_INBOUND, subjects.inbound(account_id), garbage),
        (
            subjects.DURABLE_WEBHOOK_INBOUND,
            subjects.inbound(account_id),
            orjson.dumps([MARKER, round_no]),
        ),
        (subjects.DURABLE_WEBHOOK_RETRY, subjects.webhook_retry_due(account_id), garbage),
        (
            subjects.DURABLE_WEBHOOK_RETRY,
            subjects.webhook_retry_due(account_id),
            orjson.dumps(retry_meta) + b"\n" + MARKER.encode(),
        ),
    ]


@pytest.mark.timeout(60)
async def test_a_poison_flood_on_every_consumer_is_terminated_while_events_flow(
    webhook_nc: Any,
    webhook_receiver: Receiver,
    webhook_runner: tuple[ServiceRunner, MasterKey],
    webhook_logs: io.StringIO,
) -> None:
    """240 messages no consumer can handle (garbage bytes and JSON failing validation, on
    STATUS, INBOUND and WEBHOOK_RETRY) are each terminated once at first delivery, counted per
    consumer and logged without their bodies, while every good event interleaved with them is
    delivered and webhook-svc stays ready."""
    runner, master = webhook_runner
    js = webhook_nc.jetstream()
    receiver = webhook_receiver
    account = Account(
        master,
        status_webhook=status_hook(receiver.url("/s")),
        inbound_webhook=inbound_hook(receiver.url("/i")),
    )
    await account.publish(js)
    service = await runner.start(
        max_deliver=3, redelivery_delay_seconds=0.1, redelivery_delay_max_seconds=0.2
    )
    terminations = await Terminations().start(webhook_nc)
    before = {c: sample("parley_webhook_invalid_messages_total", consumer=c) for c in CONSUMERS}
    sent: dict[str, int] = dict.fromkeys(CONSUMERS, 0)
    good_status: list[str] = []
    good_inbound: list[str] = []
    for round_no in range(ROUNDS):
        for consumer, subject, data in _poison(round_no, account.account_id):
            await js.publish(subject, data)
            sent[consumer] += 1
        status, inbound = status_event(account.account_id), inbound_event(account.account_id)
        await publish_events(js, [status])
        await publish_events(js, [inbound], inbound=True)
        good_status.append(status["id"])
        good_inbound.append(inbound["id"])

    def terminated(consumer: str) -> float:
        return sample("parley_webhook_invalid_messages_total", consumer=consumer) - before[consumer]

    await eventually(
        lambda: all(terminated(c) == sent[c] for c in CONSUMERS), 20, "every poison terminated"
    )
    await eventually(lambda: sorted(receiver.event_ids("/s")) == sorted(good_status), 10, "status")
    await eventually(
        lambda: sorted(receiver.event_ids("/i")) == sorted(good_inbound), 10, "inbound"
    )
    await eventually(lambda: len(terminations.seen) == sum(sent.values()), 5, "advisories")
    for consumer, stream in CONSUMERS.items():
        info = await js.consumer_info(stream, consumer)
        assert (info.num_ack_pending, info.num_redelivered) == (0, 0), consumer
    assert len(log_lines(webhook_logs, "message_terminated")) == sum(sent.values())
    assert MARKER not in webhook_logs.getvalue()
    poison = await js.stream_info(subjects.STREAM_WEBHOOK_POISON)
    assert poison.state.messages == 0  # invalid is terminated, not stored as poison
    assert service.ready()[0]


@pytest.mark.timeout(60)
async def test_targets_hiding_loopback_in_ipv6_forms_are_never_contacted(
    webhook_nc: Any,
    webhook_receiver: Receiver,
    webhook_runner: tuple[ServiceRunner, MasterKey],
) -> None:
    """With private targets off, HTTPS and NATS webhooks whose host is 127.0.0.1 wrapped in
    NAT64 (well-known and local-use), 6to4, Teredo, IPv4-compatible or -mapped IPv6 are
    refused by the SSRF guard: no request reaches the receiver, each event is dead-lettered
    with the refusal, and every refusal is counted."""
    runner, master = webhook_runner
    js = webhook_nc.jetstream()
    receiver = webhook_receiver
    accounts = []
    for form in LOOPBACK_FORMS.values():
        for url in (
            f"https://[{form}]:{receiver.port}/ssrf",
            f"nats://[{form}]:{receiver.port}/hooks.ssrf",
        ):
            account = Account(master, status_webhook=status_hook(url, retries=0))
            await account.publish(js)
            accounts.append(account)
    refused_before = sample("parley_webhook_ssrf_refused_total")
    await runner.start(allow_private_targets=False)
    for account in accounts:
        await publish_events(js, [status_event(account.account_id)])

    async def all_dead() -> bool:
        for account in accounts:
            if not await dead_letters(webhook_nc, account.account_id):
                return False
        return True

    await eventually(all_dead, 20, "every event dead-lettered")
    for account in accounts:
        [letter] = await dead_letters(webhook_nc, account.account_id)
        assert letter["last_error"] == REFUSED, account.status_webhook
    assert receiver.requests == []
    assert sample("parley_webhook_ssrf_refused_total") >= refused_before + len(accounts)
