"""The traffic tally on its own (`domain/traffic.py`): what counts, per minute and account,
within the hour window and the per-minute bound."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from account_svc.domain.traffic import OTHER, TrafficTally

NOW = datetime(2026, 11, 26, 10, 30, 20, tzinfo=UTC).timestamp()


def event(kind: str, minute: str = "10:30", **data: Any) -> dict[str, Any]:
    """A status event of `kind` at 2026-11-26T`minute`."""
    body = {"channel": "sms", "route": "sms-1", "attempt": 1, "final": False, **data}
    return {"type": f"parley.message.{kind}", "time": f"2026-11-26T{minute}:05.000Z", "data": body}


def attempt(outcome: str, minute: str = "10:30", events: int = 1) -> dict[str, Any]:
    """A webhook delivery log entry."""
    return {"outcome": outcome, "at": f"2026-11-26T{minute}:07.000Z", "event_ids": ["e"] * events}


def tally(max_keys: int = 2000) -> TrafficTally:
    """A tally whose clock stands at 10:30:20."""
    return TrafficTally(minutes=60, max_keys=max_keys, clock=lambda: NOW)


def test_statuses_channels_and_routes_are_counted_per_minute() -> None:
    """Sends, finals and a fallback land in their minute; by channel counts the sends."""
    t = tally()
    t.fold_status("acc_1", event("sent", "10:29", channel="rcs", route="rcs-airtel"))
    t.fold_status(
        "acc_1", event("fallback", "10:29", channel="rcs", route="rcs-airtel", reason="x")
    )
    t.fold_status("acc_1", event("sent", attempt=2))
    t.fold_status("acc_1", event("delivered", attempt=2, final=True))
    t.fold_status("acc_1", event("read", attempt=2))
    view = t.view(None)
    assert view["minutes"][-1] == "2026-11-26T10:30"
    assert view["minutes"][0] == "2026-11-26T09:31"
    assert view["status"]["sent"][-2:] == [1, 1]
    assert view["status"]["fallback"][-2:] == [1, 0]
    assert (view["channels"]["rcs"][-2], view["channels"]["sms"][-1]) == (1, 1)
    assert view["totals"]["finished"] == 1
    assert (view["delivery_rate"], view["fallback_rate"]) == (1.0, 1.0)
    rows = {row["route"]: row for row in view["routes"]}
    assert (rows["rcs-airtel"]["ended"], rows["rcs-airtel"]["delivery_rate"]) == (1, 0.0)
    assert (rows["sms-1"]["delivered"], rows["sms-1"]["delivery_rate"]) == (1, 1.0)


def test_late_typing_and_unreadable_events_do_not_count_as_traffic() -> None:
    """A late report is counted apart; typing, clicked and events without a time are not
    folded at all."""
    t = tally()
    assert t.fold_status("acc_1", event("delivered", late=True, final=False))
    assert not t.fold_status("acc_1", event("typing"))
    assert not t.fold_status("acc_1", event("clicked"))
    assert not t.fold_status("acc_1", {"type": "parley.message.sent", "time": "soon", "data": {}})
    assert not t.fold_status("acc_1", {"type": "parley.message.sent", "data": "x"})
    view = t.view(None)
    assert view["totals"]["late"] == 1
    assert (view["totals"]["delivered"], view["totals"]["finished"]) == (0, 0)
    assert view["delivery_rate"] is None


def test_only_the_last_hour_is_kept() -> None:
    """An event older than the window is refused, and minutes leave the window as time
    passes."""
    now = [NOW]
    t = TrafficTally(minutes=60, clock=lambda: now[0])
    assert not t.fold_status("acc_1", event("sent", "09:30"))
    assert t.fold_status("acc_1", event("sent", "09:31"))
    now[0] += 60
    assert t.fold_status("acc_1", event("sent", "10:31"))
    view = t.view(None)
    assert view["minutes"][0] == "2026-11-26T09:32"
    assert view["totals"]["sent"] == 1


def test_views_are_per_account() -> None:
    """A view of some accounts counts only theirs; None counts everyone."""
    t = tally()
    t.fold_status("acc_1", event("sent"))
    t.fold_status("acc_2", event("sent"))
    t.fold_status("acc_2", event("sent"))
    t.fold_attempt("acc_2", attempt("dead", events=3))
    assert t.view({"acc_1"})["totals"]["sent"] == 1
    assert t.view({"acc_2"})["webhooks"]["totals"]["dead"] == {"attempts": 1, "events": 3}
    assert t.view({"acc_1"})["webhooks"]["totals"]["dead"]["attempts"] == 0
    assert t.view(None)["totals"]["sent"] == 3
    assert t.view(set())["totals"]["sent"] == 0


def test_a_minute_past_its_bound_counts_new_keys_under_other() -> None:
    """Past `max_keys` counters in a minute, new ones go to OTHER: totals stay right, the
    accounts' own views miss them, and the view says truncated."""
    t = tally(max_keys=2)
    for account in ("acc_1", "acc_2", "acc_3", "acc_4"):
        t.fold_status(account, event("sent"))
    t.fold_status("acc_1", event("sent"))
    view = t.view(None)
    assert view["totals"]["sent"] == 5
    assert view["truncated"] is True
    assert t.view({"acc_1"})["totals"]["sent"] == 2
    assert t.view({"acc_3"})["totals"]["sent"] == 0
    assert t.view({OTHER})["totals"]["sent"] == 2
    t.fold_status("acc_1", event("sent", "10:29"))
    assert t.view({"acc_1"})["status"]["sent"][-2] == 1  # another minute, another bound


def test_webhook_attempts_by_outcome_per_minute() -> None:
    """Attempts are counted by outcome in their minute with the events they carried."""
    t = tally()
    t.fold_attempt("acc_1", attempt("delivered", events=50))
    t.fold_attempt("acc_1", attempt("failed", "10:29"))
    assert not t.fold_attempt("acc_1", {"outcome": "maybe", "at": "2026-11-26T10:30:00.000Z"})
    hooks = t.view(None)["webhooks"]
    assert hooks["totals"]["delivered"] == {"attempts": 1, "events": 50}
    assert hooks["per_minute"]["failed"][-2:] == [1, 0]
    t.clear()
    assert t.view(None)["webhooks"]["totals"]["delivered"]["attempts"] == 0
