"""Abuse of routing-svc's messaging API: a client hiding its address in an X-Forwarded-For line
of its own, and bodies nested thousands of levels deep.

routing-svc runs in-process against a real nats-server (`routing_fixtures`, the same fixtures
as routing-svc's own integration tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from nats.js.api import StreamConfig
from parley_devtools.waiting import eventually
from parley_shared import subjects
from routing_fixtures import log_stream, master_key, routing, routing_settings
from routing_svc.bootstrap import create_app
from routing_testkit import Routing, allow, make_settings

__all__ = ["log_stream", "master_key", "routing", "routing_settings"]

SMS = {"to": "+919876543210", "channel": "sms", "content": {"text": "hi"}}


@pytest.fixture
def trusted_loopback(routing_settings: dict[str, str]) -> None:
    """routing-svc believes X-Forwarded-For from loopback (the test's own proxy)."""
    routing_settings["trusted_proxies"] = "127.0.0.1"


@pytest.mark.usefixtures("trusted_loopback")
async def test_a_forged_forwarded_for_line_does_not_pass_the_allowlist(routing: Routing) -> None:
    """The client sends `X-Forwarded-For: <allowed address>`; the proxy appends its own line
    with the client's real address: the right-to-left walk over every line finds the real one
    (403), while a single honest line with an allowed address passes."""
    account = await routing.account(["sms"], ip_restriction=allow("203.0.113.0/24"))
    forged = CIMultiDict([("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "198.51.100.7")])
    status, body = await routing.api.call(
        "POST", "/v1/messages", SMS, key=account.api_key, headers=forged
    )
    assert (status, body["type"]) == (403, "ip_not_allowed")
    honest = CIMultiDict([("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "203.0.113.9")])
    status, body = await routing.api.call(
        "POST", "/v1/messages", SMS, key=account.api_key, headers=honest
    )
    assert status == 202, body


@pytest.mark.parametrize("depth", [40, 1_000, 20_000])
async def test_deeply_nested_bodies_are_refused_not_a_500(routing: Routing, depth: int) -> None:
    """A body (or its `metadata`) nested `depth` levels answers 400 `malformed_request` (or 413
    when simply too large), never a 500, and the service goes on answering."""
    account = await routing.account(["sms"])
    nested = json.loads('{"a":' * min(depth, 500) + "1" + "}" * min(depth, 500))
    raw = json.dumps({**SMS, "metadata": nested}).encode() if depth <= 500 else None
    bodies = [("[" * depth + "]" * depth).encode()]
    if raw is not None:
        bodies.append(raw)
    for body in bodies:
        status, answer = await routing.api.call(
            "POST",
            "/v1/messages",
            raw=body,
            key=account.api_key,
            headers={"Content-Type": "application/json"},
        )
        assert status in (400, 413), answer
        assert answer["type"] in ("malformed_request", "payload_too_large")
    assert (await routing.api.send(account))[0] == 202


POISON = [
    (subjects.submit("acc_x"), b"not json"),
    (subjects.submit("acc_x"), b'{"m": "msg_1"}'),
    (subjects.submit("acc_x"), b'{"m": "msg_1", "a": "one"}'),
    (subjects.report("msg_1"), b"[1, 2]"),
    (subjects.timer_fired("msg_1"), b"\xff\xfe"),
    (subjects.receipt("sms-1"), b'{"route": "sms-1"}'),
    (subjects.user_message("sms-1"), b'{"route": "sms-1", "key": "k"}'),
]


async def poisoned(routing: Routing, consumer: str, reason: str) -> float:
    """`parley_routing_poison_messages_total{consumer,reason}` from /metrics."""
    async with routing.api.session.get(routing.api.base + "/metrics") as resp:
        text = await resp.text()
    wanted = f'parley_routing_poison_messages_total{{consumer="{consumer}",reason="{reason}"}} '
    for line in text.splitlines():
        if line.startswith(wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_poison_on_every_consumer_is_terminated_counted_and_others_flow(
    routing: Routing,
) -> None:
    """Garbage on SUBMIT, reports, timers, receipts and users' messages is terminated and
    counted once each (never retried), while a real message is delivered meanwhile."""
    for subject, data in POISON:
        await routing.js.publish(subject, data)
    account = await routing.account(["sms"])
    message_id = await routing.api.sent(account)
    assert (await routing.events.final(message_id))["data"]["status"] == "delivered"
    expected = {
        subjects.DURABLE_ROUTING_SUBMIT: 3,
        subjects.DURABLE_ROUTING_REPORTS: 1,
        subjects.DURABLE_ROUTING_TIMERS: 1,
        subjects.DURABLE_ROUTING_RECEIPTS: 1,
        subjects.DURABLE_ROUTING_USER_MESSAGES: 1,
    }
    for consumer, count in expected.items():
        await eventually(lambda c=consumer, n=count: _at_least(routing, c, n), 10)
    for consumer in expected:
        info = await routing.js.consumer_info(
            subjects.STREAM_ROUTING_REPORTS
            if consumer
            in (
                subjects.DURABLE_ROUTING_REPORTS,
                subjects.DURABLE_ROUTING_RECEIPTS,
                subjects.DURABLE_ROUTING_USER_MESSAGES,
            )
            else subjects.STREAM_SUBMIT
            if consumer == subjects.DURABLE_ROUTING_SUBMIT
            else subjects.STREAM_ROUTING_TIMERS,
            consumer,
        )
        assert info.num_ack_pending == 0  # nothing left looping


async def _at_least(routing: Routing, consumer: str, count: int) -> bool:
    return await poisoned(routing, consumer, "invalid") >= count


@pytest.fixture
def few_deliveries(routing_settings: dict[str, Any]) -> None:
    """Three deliveries before a failing message is parked."""
    routing_settings["max_deliver"] = 3


@pytest.mark.usefixtures("few_deliveries")
async def test_a_message_failing_every_delivery_is_parked_in_routing_poison(
    routing: Routing,
) -> None:
    """A receipt whose route cannot be a KV key fails every try: after three deliveries it is
    copied, bytes untouched, to ROUTING_POISON (source in headers) and terminated."""
    data = b'{"route": "no such/route", "id": "x", "outcome": "delivered"}'
    await routing.js.publish(subjects.receipt("sms-1"), data)
    consumer = subjects.DURABLE_ROUTING_RECEIPTS
    await eventually(lambda: _exhausted(routing, consumer), 20)
    parked = await routing.js.get_last_msg(
        subjects.STREAM_ROUTING_POISON, subjects.routing_poison(consumer)
    )
    assert parked.data == data
    assert parked.headers["Parley-Poison-Stream"] == subjects.STREAM_ROUTING_REPORTS
    assert parked.headers["Parley-Poison-Deliveries"] == "3"


async def _exhausted(routing: Routing, consumer: str) -> bool:
    return await poisoned(routing, consumer, "exhausted") >= 1


@pytest.fixture
def api_only(routing_settings: dict[str, Any]) -> None:
    """The service under test takes sends but routes nothing (no workers)."""
    routing_settings["role"] = "api"


@pytest.mark.usefixtures("api_only")
async def test_a_full_submit_stream_answers_503_and_loses_nothing_accepted(
    routing: Routing,
) -> None:
    """The account's SUBMIT lane (OTP: SUBMIT_OTP) bounded at 5 messages: sends past it
    answer 503 `overloaded` (Retry-After); the five accepted all reach a final status once a
    worker runs."""
    info = await routing.js.stream_info(subjects.STREAM_SUBMIT_OTP)
    config: StreamConfig = info.config
    config.max_msgs = 5
    await routing.js.update_stream(config)
    account = await routing.account(["sms"])
    answers = [await routing.api.send(account) for _ in range(8)]
    accepted = [body["message_id"] for status, body in answers if status == 202]
    refused = [body for status, body in answers if status != 202]
    assert len(accepted) == 5
    assert {(body["status"], body["type"]) for body in refused} == {(503, "overloaded")}
    settings = make_settings(routing.nats_url, routing.master_key, role="worker")
    worker = TestServer(create_app(settings), host="127.0.0.1")
    await worker.start_server()
    try:
        for message_id in accepted:
            assert (await routing.events.final(message_id, within_s=20))["data"]["status"] == (
                "delivered"
            )
        await eventually(lambda: len(routing.events.status) >= 10, 5)
    finally:
        await worker.close()
