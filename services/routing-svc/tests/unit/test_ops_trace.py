"""A message's trace rebuilt from its record alone (`adapters/ops_api.trace`): attempts in
order and each status event once, in the order they happened, with the ids
`domain.events` publishes."""

from __future__ import annotations

from dataclasses import replace

from routing_svc.adapters.ops_api import RouteRates, trace
from routing_svc.domain import records
from routing_svc.domain.events import status_event
from routing_svc.domain.lifecycle import Attempt, EventSpec, Message, dispatched, reported
from routing_svc.domain.policy import Hop
from routing_svc.metrics import SUBMITS

SEEDS = ("delivery_failed", "dr_ttl_expired", "invalid_number", "validity_expired")


def at(second: int) -> str:
    """A contract timestamp `second` seconds after 10:00."""
    return f"2026-11-26T10:00:{second:02d}.000Z"


def message(*channels: str) -> Message:
    """A fresh message planned over `channels`, each falling back to the next on every seed."""
    plan = [Hop(c, "S", "non_strict", None, (), 20, SEEDS) for c in channels]
    plan[-1] = replace(plan[-1], fallback_on=())
    return Message(
        id="msg_1",
        account_id="acc_1",
        enterprise_id="ent_1",
        protection="store",
        to_masked="+91******3210",
        created_at=at(0),
        hops=plan,
        attempts=[Attempt(1, channels[0], at(0))],
        to="+919876543210",
        content={"text": "secret words"},
        client_ref="order-1",
    )


def test_a_multipart_delivery_recorded_twice_is_one_event() -> None:
    """A long SMS's final delivery is recorded under two inputs; the trace lists it once."""
    msg = message("sms")
    dispatched(msg, n=1, route="sms-1", sender="S", now_ms=1000, at=at(1), parts=2)
    reported(msg, 1, "delivered", None, at(2), part=1)
    reported(msg, 1, "delivered", None, at(3), part=2)
    events = trace(msg)["events"]
    assert [(e["type"], e["time"], e["final"]) for e in events] == [
        ("parley.message.sent", at(1), False),
        ("parley.message.delivered", at(3), True),
    ]


def test_the_fallback_chain_and_event_ids_match_what_is_published() -> None:
    """RCS fails and falls back to SMS, which delivers: two attempts, four events in order,
    each with the id `status_event` gives it; the stored record gives the same trace."""
    msg = message("rcs", "sms")
    dispatched(msg, n=1, route="rcs-airtel", sender="S", now_ms=1000, at=at(1))
    reported(msg, 1, "failed", "delivery_failed", at(2))
    dispatched(msg, n=2, route="sms-1", sender="S", now_ms=3000, at=at(3))
    reported(msg, 2, "read", None, at(4))
    view = trace(msg)
    assert [
        (a["channel"], a["route"], a["status"], a["fallback_to"]) for a in view["attempts"]
    ] == [
        ("rcs", "rcs-airtel", "failed", "sms"),
        ("sms", "sms-1", "read", None),
    ]
    assert view["attempts"][1]["sent_at"] == "1970-01-01T00:00:03.000Z"
    kinds = [(e["attempt"], e["status"], e["reason"], e["final"]) for e in view["events"]]
    assert kinds == [
        (1, "sent", None, False),
        (1, "failed", "delivery_failed", False),
        (2, "sent", None, False),
        (2, "delivered", None, True),
        (2, "read", None, False),
    ]
    spec = EventSpec(1, "fallback", at(2), "delivery_failed", "sms")
    assert view["events"][1]["id"] == status_event(msg, spec, msg.to_masked)["id"]
    assert view["events"][1]["type"] == "parley.message.fallback"
    assert trace(records.from_json(records.to_json(msg))) == view
    assert "secret words" not in str(view)
    assert "+919876543210" not in str(view)


def test_route_rates_follow_the_submits_counter() -> None:
    """Ten sends between two samples one second apart are 10 per second; an idle route is 0."""
    clock = iter([100.0, 101.0])
    rates = RouteRates(clock=lambda: next(clock))
    rates.sample()
    for _ in range(10):
        SUBMITS.labels("route-rates-test").inc()
    rates.sample()
    assert rates.rate("route-rates-test") == 10.0
    assert rates.rate("no-such-route") == 0.0
