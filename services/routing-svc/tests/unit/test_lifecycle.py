"""The message state machine on its own: attempts, reports, DR TTL expiry, fallback chains."""

from __future__ import annotations

from dataclasses import replace

import pytest
from routing_svc.domain import records
from routing_svc.domain.lifecycle import (
    Attempt,
    Message,
    NotDispatched,
    Step,
    dispatched,
    expired,
    failed_before_send,
    redelivered,
    reported,
)
from routing_svc.domain.policy import Hop

SEEDS = ("delivery_failed", "dr_ttl_expired", "invalid_number", "validity_expired")
AT = "2026-11-26T10:00:00.000Z"


def hop(channel: str, on: tuple[str, ...] = SEEDS, ttl: int = 20) -> Hop:
    """A hop on `channel` falling back on `on`."""
    return Hop(channel, "S", "non_strict", None, (), ttl, on)


def message(*hops: Hop, protection: str = "store") -> Message:
    """A fresh message whose plan is `hops` (the last hop falls back on nothing)."""
    plan = [*hops[:-1], replace(hops[-1], fallback_on=())]
    return Message(
        id="msg_1",
        account_id="acc_1",
        enterprise_id="ent_1",
        protection=protection,
        to_masked="+91******3210",
        created_at=AT,
        hops=plan,
        attempts=[Attempt(1, plan[0].channel, AT)],
        to="+919876543210",
        content={"text": "hi"},
    )


def send(msg: Message, n: int, route: str = "r1") -> Step:
    """Attempt n went out on `route` at t=1000 ms."""
    return dispatched(msg, n=n, route=route, sender="S", now_ms=1000, at=AT)


def finals(*steps: Step) -> list[tuple[int, str]]:
    """(attempt, kind) of every final event among `steps`."""
    return [(s.attempt, s.kind) for step in steps for s in step.events if s.final]


def test_sent_then_delivered_is_one_final() -> None:
    """A send reports `sent` (not final) and starts the DR TTL; `delivered` is the one final."""
    msg = message(hop("sms"))
    step = send(msg, 1)
    assert [(s.kind, s.final) for s in step.events] == [("sent", False)]
    assert step.timer_ms == 1000 + 20_000
    done = reported(msg, 1, "delivered", None, AT)
    assert [(s.kind, s.final) for s in done.events] == [("delivered", True)]
    assert done.cancel_timer == 1
    assert msg.status == "delivered"
    assert msg.final == [1, "delivered"]


def test_read_after_delivered_is_not_final() -> None:
    """A later `read` has final false and moves the attempt to read."""
    msg = message(hop("rcs"))
    send(msg, 1)
    reported(msg, 1, "delivered", None, AT)
    step = reported(msg, 1, "read", None, AT)
    assert [(s.kind, s.final) for s in step.events] == [("read", False)]
    assert msg.attempts[0].status == "read"


def test_read_before_delivered_reports_delivery_first() -> None:
    """A read on a live attempt reports the delivery (final) and then the read."""
    msg = message(hop("rcs"))
    send(msg, 1)
    step = reported(msg, 1, "read", None, AT)
    assert [(s.kind, s.final) for s in step.events] == [("delivered", True), ("read", False)]
    assert reported(msg, 1, "delivered", None, AT).events == []


def test_failure_in_fallback_events_falls_back() -> None:
    """A seed failure gives a `fallback` event (failed, not final) and queues the next hop."""
    msg = message(hop("rcs"), hop("sms"))
    send(msg, 1)
    step = reported(msg, 1, "failed", "delivery_failed", AT)
    (event,) = step.events
    assert (event.kind, event.status, event.reason, event.fallback_to, event.final) == (
        "fallback",
        "failed",
        "delivery_failed",
        "sms",
        False,
    )
    assert step.enqueue == 2
    assert [a.channel for a in msg.attempts] == ["rcs", "sms"]
    assert msg.status == "accepted"


def test_failure_not_in_events_is_final() -> None:
    """A failure whose seed event the hop does not list is the final outcome."""
    msg = message(hop("rcs", on=("dr_ttl_expired",)), hop("sms"))
    send(msg, 1)
    step = reported(msg, 1, "failed", "invalid_number", AT)
    assert finals(step) == [(1, "failed")]
    assert step.enqueue is None


def test_chain_runs_to_its_end_with_one_final() -> None:
    """rcs -> whatsapp -> sms: two fallbacks, then sms's outcome is the one final."""
    msg = message(hop("rcs"), hop("whatsapp"), hop("sms"))
    steps = [send(msg, 1), reported(msg, 1, "failed", "delivery_failed", AT)]
    steps += [send(msg, 2), reported(msg, 2, "failed", "invalid_number", AT)]
    steps += [send(msg, 3), reported(msg, 3, "failed", "delivery_failed", AT)]
    kinds = [s.kind for step in steps for s in step.events]
    assert kinds == ["sent", "fallback", "sent", "fallback", "sent", "failed"]
    assert finals(*steps) == [(3, "failed")]


def test_last_hop_never_falls_back() -> None:
    """The last hop of a plan has nothing to fall back to, whatever its settings said."""
    msg = message(hop("sms"))
    send(msg, 1)
    step = reported(msg, 1, "failed", "delivery_failed", AT)
    assert finals(step) == [(1, "failed")]


def test_dr_ttl_expiry_falls_back_and_late_report_changes_nothing() -> None:
    """An expired DR TTL falls back; the report that comes afterwards is late and ignored."""
    msg = message(hop("rcs"), hop("sms"))
    send(msg, 1)
    step = expired(msg, 1, AT)
    assert [(s.kind, s.reason) for s in step.events] == [("fallback", "dr_ttl_expired")]
    assert step.cancel_timer is None
    late = reported(msg, 1, "delivered", None, AT)
    assert [(s.kind, s.late, s.final) for s in late.events] == [("delivered", True, False)]
    assert late.enqueue is None
    assert msg.attempts[0].status == "failed"
    assert msg.final is None


def test_timer_of_a_settled_attempt_is_moot() -> None:
    """A timer firing after the attempt's outcome changes nothing and publishes nothing."""
    msg = message(hop("sms"))
    send(msg, 1)
    reported(msg, 1, "delivered", None, AT)
    step = expired(msg, 1, AT)
    assert step.events == []
    assert not step.changed


def test_dr_ttl_expiry_without_fallback_is_final() -> None:
    """Without a next hop the expiry is the final `dr_ttl_expired` failure."""
    msg = message(hop("sms"))
    send(msg, 1)
    assert finals(expired(msg, 1, AT)) == [(1, "failed")]
    assert msg.attempts[0].reason == "dr_ttl_expired"


def test_profile_not_found_counts_as_delivery_failed() -> None:
    """A failed strict profile check falls back where delivery_failed does."""
    msg = message(hop("rcs", on=("delivery_failed",)), hop("sms"))
    step = failed_before_send(msg, n=1, reason="profile_not_found", at=AT)
    assert [(s.kind, s.reason) for s in step.events] == [("fallback", "profile_not_found")]
    assert msg.attempts[0].route is None


def test_expired_in_queue_counts_as_validity_expired() -> None:
    """`expired_in_queue` falls back only where validity_expired is listed."""
    listed = message(hop("rcs", on=("validity_expired",)), hop("sms"))
    assert failed_before_send(listed, n=1, reason="expired_in_queue", at=AT).enqueue == 2
    unlisted = message(hop("rcs", on=("delivery_failed",)), hop("sms"))
    step = failed_before_send(unlisted, n=1, reason="expired_in_queue", at=AT)
    assert finals(step) == [(1, "failed")]


def test_report_before_dispatch_is_refused() -> None:
    """A report for an attempt not recorded as sent asks to be retried."""
    msg = message(hop("sms"))
    with pytest.raises(NotDispatched):
        reported(msg, 1, "delivered", None, AT)


def test_repeated_inputs_replay_the_same_events() -> None:
    """A redelivered input changes nothing and returns the events it caused the first time."""
    msg = message(hop("rcs"), hop("sms"))
    first = send(msg, 1)
    again = redelivered(msg, 1)
    assert again.events == first.events
    assert not again.changed
    assert again.timer_ms == first.timer_ms
    failed = reported(msg, 1, "failed", "delivery_failed", AT)
    replay = reported(msg, 1, "failed", "delivery_failed", AT)
    assert replay.events == failed.events
    assert replay.enqueue == 2
    assert not replay.changed


def test_a_redelivered_send_repeats_its_reports_events_too() -> None:
    """A send whose report came with it (the sandbox) and was written, then SUBMIT came again
    (the process died before the report's events were published): the redelivery repeats
    `sent` and the final `delivered`, cancels the timer, arms none and changes nothing; another
    attempt's reports are not its own."""
    msg = message(hop("rcs"), hop("sms"))
    first = send(msg, 1)
    report = reported(msg, 1, "delivered", None, AT)
    again = redelivered(msg, 1)
    assert again.events == first.events + report.events
    assert finals(again) == [(1, "delivered")]
    assert (again.cancel_timer, again.timer_ms, again.enqueue) == (1, None, None)
    assert not again.changed
    assert redelivered(msg, 2).events == []


def test_a_redelivered_send_repeats_its_fallback() -> None:
    """A report that failed attempt 1 over to attempt 2: a redelivery of attempt 1 queues attempt
    2 again (SUBMIT drops the copy by its message id) and repeats the events."""
    msg = message(hop("rcs"), hop("sms"))
    send(msg, 1)
    failed = reported(msg, 1, "failed", "delivery_failed", AT)
    again = redelivered(msg, 1)
    assert again.enqueue == 2 == failed.enqueue
    assert again.events[1:] == failed.events


def test_do_not_store_drops_number_and_content_with_the_outcome() -> None:
    """Under do_not_store the sealed number and content go with the final outcome."""
    msg = message(hop("sms"), protection="do_not_store")
    msg.to, msg.content = None, None
    msg.to_sealed, msg.content_sealed = "s1.x.y", "s1.x.z"
    send(msg, 1)
    assert msg.to_sealed is not None
    reported(msg, 1, "delivered", None, AT)
    assert msg.to_sealed is None
    assert msg.content_sealed is None


def test_record_round_trips() -> None:
    """A message survives its stored form unchanged."""
    msg = message(hop("rcs"), hop("sms"))
    send(msg, 1)
    reported(msg, 1, "failed", "delivery_failed", AT)
    assert records.from_json(records.to_json(msg)) == msg


def test_view_lists_attempts_oldest_first_with_latest_status() -> None:
    """GET's view: attempts oldest first, each with its latest status; status of the last."""
    msg = message(hop("rcs"), hop("sms"))
    send(msg, 1, "rcs-airtel")
    reported(msg, 1, "failed", "delivery_failed", AT)
    send(msg, 2, "sms-1")
    reported(msg, 2, "delivered", None, AT)
    view = records.view(msg, "+919876543210", {"text": "hi"})
    assert view["status"] == "delivered"
    assert view["channel"] == "rcs"
    assert [(a["channel"], a["route"], a["status"], a["reason"]) for a in view["attempts"]] == [
        ("rcs", "rcs-airtel", "failed", "delivery_failed"),
        ("sms", "sms-1", "delivered", None),
    ]


def send_parts(msg: Message, n: int, parts: int) -> Step:
    """Attempt n went out in `parts` parts (a long SMS)."""
    return dispatched(msg, n=n, route="r1", sender="S", now_ms=1000, at=AT, parts=parts)


def test_a_multipart_attempt_is_delivered_once_every_part_is() -> None:
    """Three parts: the first two deliveries change the record only; the third is the final."""
    msg = message(hop("sms"))
    send_parts(msg, 1, 3)
    first = reported(msg, 1, "delivered", None, AT, part=2)
    again = reported(msg, 1, "delivered", None, AT, part=2)
    second = reported(msg, 1, "delivered", None, AT, part=1)
    assert (first.events, second.events, again.events) == ([], [], [])
    assert first.changed
    assert msg.attempts[0].status == "sent"
    last = reported(msg, 1, "delivered", None, AT, part=3)
    assert finals(last) == [(1, "delivered")]
    assert msg.attempts[0].status == "delivered"
    assert records.from_json(records.to_json(msg)).attempts[0].delivered_parts == [1, 2, 3]


def test_a_multipart_attempt_fails_as_soon_as_one_part_fails() -> None:
    """One failed part fails the attempt (and falls back); a later part's delivery is late."""
    msg = message(hop("sms"), hop("whatsapp"))
    send_parts(msg, 1, 2)
    reported(msg, 1, "delivered", None, AT, part=1)
    failed = reported(msg, 1, "failed", "delivery_failed", AT, part=2)
    assert [(s.kind, s.fallback_to) for s in failed.events] == [("fallback", "whatsapp")]
    late = reported(msg, 1, "delivered", None, AT, part=2)
    assert [(s.kind, s.late) for s in late.events] == [("delivered", True)]
    assert msg.attempts[0].status == "failed"


def test_a_part_reported_before_the_attempt_is_recorded_as_sent_waits() -> None:
    """A part's receipt for an attempt not yet recorded as sent is retried (NotDispatched)."""
    msg = message(hop("sms"))
    msg.attempts[0].parts = 2
    with pytest.raises(NotDispatched):
        reported(msg, 1, "delivered", None, AT, part=1)
