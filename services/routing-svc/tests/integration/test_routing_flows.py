"""Routing end to end on the sandbox: reports, fallback chains, DR TTL, late reports,
profile checks and validity."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from parley_devtools.waiting import eventually
from parley_shared import subjects
from routing_svc.adapters.kv import MESSAGES
from routing_svc.domain.message_ids import log_key
from routing_testkit import NUMBER, Routing, fallback

SEEDS = ("delivery_failed", "dr_ttl_expired", "invalid_number", "validity_expired")


def rcs_then_sms(**rcs: Any) -> dict[str, dict[str, Any]]:
    """Channel settings: RCS (with `rcs` overrides) falling back to SMS on every seed event."""
    return {"rcs": {"fallback": fallback("sms", 20, *SEEDS), **rcs}}


def data(routing: Routing, message_id: str) -> list[tuple[Any, ...]]:
    """(type, channel, status, reason, fallback_to, final, attempt) of a message's events."""
    return [
        (
            e["type"].rsplit(".", 1)[-1],
            e["data"]["channel"],
            e["data"]["status"],
            e["data"]["reason"],
            e["data"]["fallback_to"],
            e["data"]["final"],
            e["data"]["attempt"],
        )
        for e in routing.events.of(message_id)
    ]


async def test_delivery_failed_falls_back_to_sms(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """RCS fails, a fallback event names sms, then SMS delivers: one final, attempt 2."""
    await sandbox(NUMBER, outcomes={"rcs": "delivery_failed"})
    account = await routing.account(["rcs", "sms"], rcs_then_sms())
    message_id = await routing.api.sent(account, channel="rcs")
    final = await routing.events.final(message_id)
    assert data(routing, message_id) == [
        ("sent", "rcs", "sent", None, None, False, 1),
        ("fallback", "rcs", "failed", "delivery_failed", "sms", False, 1),
        ("sent", "sms", "sent", None, None, False, 2),
        ("delivered", "sms", "delivered", None, None, True, 2),
    ]
    assert final["data"]["fallback_from"] == "rcs"
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert status == 200
    assert [(a["channel"], a["status"], a["reason"]) for a in body["attempts"]] == [
        ("rcs", "failed", "delivery_failed"),
        ("sms", "delivered", None),
    ]


async def test_strict_profile_check_fails_to_fallback(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """A strict RCS send to a recipient without RCS fails profile_not_found and falls back."""
    await sandbox(NUMBER, capabilities=["sms"])
    account = await routing.account(["rcs", "sms"], rcs_then_sms(verify_profile="strict"))
    message_id = await routing.api.sent(account, channel="rcs")
    await routing.events.final(message_id)
    assert data(routing, message_id) == [
        ("fallback", "rcs", "failed", "profile_not_found", "sms", False, 1),
        ("sent", "sms", "sent", None, None, False, 2),
        ("delivered", "sms", "delivered", None, None, True, 2),
    ]
    status, routes = await routing.api.call("GET", "/v1/sandbox/routes")
    assert status == 200
    assert sum(v["sent"] for k, v in routes.items() if k.startswith("rcs-")) == 0


async def test_non_strict_send_to_recipient_without_channel_fails(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """non_strict sends anyway; the sandbox reports delivery_failed; no fallback: final."""
    await sandbox(NUMBER, capabilities=["sms"])
    account = await routing.account(["rcs"])
    message_id = await routing.api.sent(account, channel="rcs")
    final = await routing.events.final(message_id)
    assert (final["data"]["status"], final["data"]["reason"]) == ("failed", "delivery_failed")
    assert routing.events.kinds(message_id) == ["sent", "failed"]


async def test_an_immediate_report_is_applied_with_the_send_a_delayed_one_via_the_stream(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """The sandbox's at-once outcome is applied in the dispatch's step (nothing published on
    ROUTING_REPORTS); a recipient with a report delay is reported through the stream."""

    async def published() -> int:
        return int((await routing.js.stream_info(subjects.STREAM_ROUTING_REPORTS)).state.last_seq)

    account = await routing.account(["sms"])
    before = await published()
    quick = [await routing.api.sent(account, channel="sms") for _ in range(5)]
    for message_id in quick:
        assert (await routing.events.final(message_id))["data"]["status"] == "delivered"
        assert routing.events.kinds(message_id) == ["sent", "delivered"]
    assert await published() == before
    await sandbox(NUMBER, report_delay_ms=300)
    slow = await routing.api.sent(account, channel="sms")
    assert (await routing.events.final(slow))["data"]["status"] == "delivered"
    assert await published() > before


async def _stored_status(
    routing: Routing, account_id: str, count: int, missing_ok: bool = False
) -> list[Any]:
    """The first `count` status events of an account as STATUS stored them (stream order);
    `missing_ok`: those stored within 10 s, when fewer are."""
    found: list[Any] = []
    sub = await routing.js.subscribe(
        subjects.status(account_id),
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    try:
        while len(found) < count:
            try:
                found.append(await sub.next_msg(timeout=10))
            except nats.errors.TimeoutError:
                if not missing_ok:
                    raise
                break
    finally:
        await sub.unsubscribe()
    return found


async def test_an_at_once_outcome_is_written_before_the_sent_event_which_goes_with_it(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """With the sandbox's at-once outcome, one write records the send and the outcome, and
    only then do `sent` and `delivered` go out, back to back on STATUS (before, `sent` was
    published at once, ahead of that write: the record did not yet say what it said, and the
    two events left apart, so a webhook got them in two requests). Without an at-once outcome,
    `sent` still goes out first, once the held change is written."""
    account = await routing.account(["sms"])
    ids = []
    for _ in range(3):  # one at a time: their events do not interleave on STATUS
        ids.append(message_id := await routing.api.sent(account, channel="sms"))
        await routing.events.final(message_id)
    stored = await _stored_status(routing, account.account_id, 2 * len(ids))
    kv = await routing.js.key_value(MESSAGES)
    for message_id in ids:
        sent, delivered = [m for m in stored if orjson.loads(m.data)["subject"] == message_id]
        assert [orjson.loads(m.data)["data"]["status"] for m in (sent, delivered)] == [
            "sent",
            "delivered",
        ]
        assert delivered.metadata.sequence.stream == sent.metadata.sequence.stream + 1
        record = await kv.get(log_key(message_id))
        written = await routing.js.get_msg(f"KV_{MESSAGES}", record.revision)
        assert orjson.loads(record.value)["attempts"][0]["status"] == "delivered"
        assert written.time < sent.metadata.timestamp
    await sandbox(NUMBER, report_delay_ms=300)
    slow = await routing.api.sent(account, channel="sms")
    await routing.events.final(slow)
    assert routing.events.kinds(slow) == ["sent", "delivered"]


@pytest.fixture
def long_linger(routing_settings: dict[str, Any]) -> None:
    """A held dispatch waits up to 1 s for its report (before `routing` starts)."""
    routing_settings["state_linger_seconds"] = 1.0


async def test_a_held_sent_event_survives_a_report_step_whose_publish_failed(
    long_linger: None, routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """A report that comes through ROUTING_REPORTS within the linger writes the held dispatch
    with its outcome and publishes the held `sent` event with its own. When that publish fails
    (STATUS refuses it), the report comes again and replays only its own events: the `sent`
    event must stay with the dispatch, whose flush publishes it, not be dropped."""
    account = await routing.account(["sms"])
    await sandbox(NUMBER, report_delay_ms=300)
    status = await routing.js.stream_info(subjects.STREAM_STATUS)
    size = status.config.max_msg_size
    message_id = await routing.api.sent(account, channel="sms")
    kv = await routing.js.key_value(MESSAGES)

    async def outcome_written() -> bool:
        record = orjson.loads((await kv.get(log_key(message_id))).value)
        return bool(record["attempts"][0]["status"] == "delivered")

    status.config.max_msg_size = 16  # every status event is refused, with an error ack
    await routing.js.update_stream(status.config)
    try:
        await eventually(outcome_written, 5, "the report's step written")
    finally:
        status.config.max_msg_size = size
        await routing.js.update_stream(status.config)
    stored = await _stored_status(routing, account.account_id, 2, missing_ok=True)
    assert sorted(orjson.loads(m.data)["data"]["status"] for m in stored) == ["delivered", "sent"]


async def test_read_after_delivered(routing: Routing, sandbox: Callable[..., Any]) -> None:
    """A recipient that reads: delivered (final) then read (not final)."""
    await sandbox(NUMBER, read=True)
    account = await routing.account(["rcs"])
    message_id = await routing.api.sent(account, channel="rcs")
    read = await routing.events.wait(message_id, "read")
    assert routing.events.kinds(message_id) == ["sent", "delivered", "read"]
    assert read["data"]["final"] is False
    assert [e["data"]["final"] for e in routing.events.of(message_id)].count(True) == 1


async def test_chain_of_three_channels_without_loops(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """whatsapp -> rcs -> sms -> (whatsapp cut): each channel once, the last failure final."""
    await sandbox(
        NUMBER,
        outcomes={"whatsapp": "invalid_number", "rcs": "delivery_failed", "sms": "delivery_failed"},
    )
    account = await routing.account(
        ["rcs", "sms", "whatsapp"],
        {
            "whatsapp": {"fallback": fallback("rcs", 20, *SEEDS)},
            "rcs": {"fallback": fallback("sms", 20, *SEEDS)},
            "sms": {"fallback": fallback("whatsapp", 20, *SEEDS)},
        },
    )
    message_id = await routing.api.sent(account, channel="whatsapp")
    final = await routing.events.final(message_id)
    assert [(k, ch, ft) for k, ch, _, _, ft, _, _ in data(routing, message_id)] == [
        ("sent", "whatsapp", None),
        ("fallback", "whatsapp", "rcs"),
        ("sent", "rcs", None),
        ("fallback", "rcs", "sms"),
        ("sent", "sms", None),
        ("failed", "sms", None),
    ]
    assert (final["data"]["attempt"], final["data"]["reason"]) == (3, "delivery_failed")


@pytest.mark.parametrize("routing_settings", [{"timer_grace_seconds": 0.2}])
async def test_dr_ttl_expiry_falls_back_and_the_late_report_is_flagged(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """No report within the DR TTL: fallback dr_ttl_expired; the report that comes later is
    published with late: true and changes nothing."""
    await sandbox(NUMBER, report_delay_ms=2500)
    account = await routing.account(
        ["rcs", "sms"], {"rcs": {"fallback": fallback("sms", 1, "dr_ttl_expired")}}
    )
    message_id = await routing.api.sent(account, channel="rcs")
    await routing.events.final(message_id, within_s=10)
    events = data(routing, message_id)
    assert events[1] == ("fallback", "rcs", "failed", "dr_ttl_expired", "sms", False, 1)
    await _until_both_delivered(routing, message_id)
    lates = [e for e in routing.events.of(message_id) if e["data"].get("late")]
    assert [(e["data"]["attempt"], e["data"]["final"]) for e in lates] == [(1, False)]
    assert [e["data"]["final"] for e in routing.events.of(message_id)].count(True) == 1
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert status == 200
    assert [(a["channel"], a["status"], a["reason"]) for a in body["attempts"]] == [
        ("rcs", "failed", "dr_ttl_expired"),
        ("sms", "delivered", None),
    ]


async def _until_both_delivered(routing: Routing, message_id: str) -> None:
    def both() -> bool:
        delivered = [e for e in routing.events.of(message_id) if e["type"].endswith("delivered")]
        return len(delivered) == 2

    await eventually(both, 10)


@pytest.mark.parametrize(
    "routing_settings", [{"timer_grace_seconds": 0.2, "default_dr_ttl_seconds": 1}]
)
async def test_without_fallback_the_default_dr_ttl_gives_a_final_outcome(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """A provider that never reports: the default DR TTL fails the message dr_ttl_expired."""
    await sandbox(NUMBER, outcomes={"sms": "no_report"})
    account = await routing.account(["sms"])
    message_id = await routing.api.sent(account)
    final = await routing.events.final(message_id, within_s=10)
    assert (final["data"]["status"], final["data"]["reason"]) == ("failed", "dr_ttl_expired")


@pytest.fixture
def slow_routes(tmp_path: Path) -> str:
    """A routes file whose only WhatsApp route takes 2 messages a second."""
    routes = [
        {"name": "sms-1", "channel": "sms", "capacity_per_s": 500},
        {"name": "wa-slow", "channel": "whatsapp", "capacity_per_s": 2},
    ]
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"routes": routes}))
    return str(path)


@pytest.fixture
def routing_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Setting overrides: the routes file when a test asks for `slow_routes`, else params."""
    if "slow_routes" in request.fixturenames:
        return {"routes_file": request.getfixturevalue("slow_routes")}
    return getattr(request, "param", {})


async def test_validity_passing_in_the_queue_is_expired_in_queue(
    slow_routes: str, routing: Routing
) -> None:
    """Messages that wait for capacity past their validity fail expired_in_queue, which
    falls back where validity_expired is listed."""
    account = await routing.account(
        ["whatsapp", "sms"],
        {
            "whatsapp": {
                "traffic_management": {"enabled": True, "strategy": "capacity_based"},
                "fallback": fallback("sms", None, "validity_expired"),
            }
        },
    )
    ids = [
        await routing.api.sent(account, channel="whatsapp", validity_seconds=1) for _ in range(6)
    ]
    finals = [await routing.events.final(message_id, within_s=10) for message_id in ids]
    expired = [
        e for m in ids for e in routing.events.of(m) if e["data"]["reason"] == "expired_in_queue"
    ]
    assert expired, "some messages should have waited past their validity"
    for event in expired:
        assert (event["type"], event["data"]["fallback_to"]) == ("parley.message.fallback", "sms")
    assert {f["data"]["status"] for f in finals} == {"delivered"}
    assert sum(1 for f in finals if f["data"]["channel"] == "whatsapp") >= 2


async def test_capacity_based_sends_wait_instead_of_exceeding(
    slow_routes: str, routing: Routing
) -> None:
    """Capacity-based traffic never goes past a route's capacity: 6 sends at 2/s take ~2.5 s."""
    account = await routing.account(
        ["whatsapp"],
        {"whatsapp": {"traffic_management": {"enabled": True, "strategy": "capacity_based"}}},
    )
    ids = [await routing.api.sent(account, channel="whatsapp") for _ in range(6)]
    sent = [await routing.events.wait(m, "sent", within_s=10) for m in ids]
    times = sorted(e["time"] for e in sent)
    from parley_shared.timefmt import parse_ts

    span = (parse_ts(times[-1]) - parse_ts(times[0])).total_seconds()
    assert span >= 2.0
