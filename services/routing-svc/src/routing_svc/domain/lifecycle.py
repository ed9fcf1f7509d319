"""The message state machine: attempts, delivery reports, DR TTL expiry and fallback.

A `Message` holds its plan (`hops`) and one `Attempt` per channel tried, oldest first. Inputs
move it on; each returns a `Step`: the status events to publish (as `EventSpec`s), the attempt
to put back on SUBMIT (a fallback), and what to do with the DR TTL timer. Rules:

- attempt n uses hop n; a failure whose seed event is in the hop's `fallback_on` fails the
  attempt with a `fallback` event and queues attempt n+1; any other failure is final;
- `delivered` is final; a `read` after it is not; a `read` on a live attempt reports the
  delivery (final) and the read;
- a report for an attempt that was given up is published as `late` and changes nothing;
- exactly one event per message has `final: true` (`Message.final` records which).

Every input has a key; an input applied before (a redelivery after a crash) changes nothing and
returns the same events again, so they are republished with the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parley_shared.timefmt import parse_ts

from routing_svc.domain.policy import TRIGGERS, Hop

LIVE = "sent"
PENDING = "accepted"


class NotDispatched(Exception):
    """A report names an attempt that is not recorded as sent yet; retry it a little later."""


@dataclass(frozen=True)
class EventSpec:
    """One status event to publish: which attempt, what happened, and whether it is final."""

    attempt: int
    kind: str  # sent | delivered | read | failed | fallback
    at: str
    reason: str | None = None
    fallback_to: str | None = None
    final: bool = False
    late: bool = False

    @property
    def status(self) -> str:
        """`data.status`: a fallback reports its failed attempt."""
        return "failed" if self.kind == "fallback" else self.kind

    def to_json(self) -> list[Any]:
        """The stored form."""
        return [
            self.attempt,
            self.kind,
            self.at,
            self.reason,
            self.fallback_to,
            self.final,
            self.late,
        ]

    @classmethod
    def from_json(cls, raw: list[Any]) -> EventSpec:
        """A spec from its stored form."""
        return cls(raw[0], raw[1], raw[2], raw[3], raw[4], bool(raw[5]), bool(raw[6]))


@dataclass
class Attempt:
    """One channel tried, with its latest status."""

    n: int
    channel: str
    at: str
    status: str = PENDING  # accepted | sent | delivered | read | failed
    route: str | None = None
    sender: str | None = None
    reason: str | None = None
    fallback_to: str | None = None
    valid_until_ms: int | None = (
        None  # the message's validity, counted from this attempt's queueing
    )
    sent_ms: int | None = None  # when it was handed to the provider
    deadline_ms: int | None = None  # DR TTL deadline while sent
    parts: int = 1  # parts the provider took it in (a long SMS); delivered once all are
    delivered_parts: list[int] | None = None  # parts reported delivered so far

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "n": self.n,
            "channel": self.channel,
            "at": self.at,
            "status": self.status,
            "route": self.route,
            "sender": self.sender,
            "reason": self.reason,
            "fallback_to": self.fallback_to,
            "valid_until_ms": self.valid_until_ms,
            "sent_ms": self.sent_ms,
            "deadline_ms": self.deadline_ms,
            "parts": self.parts,
            "delivered_parts": self.delivered_parts,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Attempt:
        """An attempt from its stored form."""
        return cls(**raw)


@dataclass
class Message:
    """An accepted message and its attempts (the message log record)."""

    id: str
    account_id: str
    enterprise_id: str
    protection: str  # store | encrypt_and_store | do_not_store
    to_masked: str
    created_at: str
    hops: list[Hop]
    attempts: list[Attempt]
    conversational: bool = False
    to: str | None = None  # in clear (store)
    to_sealed: str | None = None  # sealed with the master key (other protections, in flight)
    content: dict[str, Any] | None = None  # in clear (store)
    content_sealed: str | None = None
    client_ref: str | None = None
    metadata: dict[str, Any] | None = None
    validity_s: int | None = None  # each attempt may wait this long before it goes out
    campaign_id: str | None = None  # Campaign Manager app: echoed in every status event
    final: list[Any] | None = None  # [attempt, status] of the one final event
    applied: dict[str, list[list[Any]]] = field(default_factory=dict)
    traffic_class: str = "transactional"  # its SUBMIT lane and turn (`domain.traffic`)
    trace: str | None = None  # W3C traceparent it was accepted under (tracing on), for the
    # reports that come without one (a provider's receipt) and the operator's trace

    @property
    def status(self) -> str:
        """The message's status: its latest attempt's."""
        return self.attempts[-1].status if self.attempts else PENDING

    def attempt(self, n: int) -> Attempt | None:
        """Attempt n, if it exists."""
        return self.attempts[n - 1] if 0 < n <= len(self.attempts) else None

    def fallback_from(self, n: int) -> str | None:
        """The channel attempt n fell back from (None for the first attempt)."""
        return self.attempts[n - 2].channel if n > 1 else None


@dataclass
class Step:
    """What an input did: events to publish, an attempt to queue, the timer to set or cancel.

    `timer_ms` is the DR TTL deadline of the attempt now live; `cancel_timer` the attempt whose
    timer (if one was set) is moot now.
    """

    events: list[EventSpec] = field(default_factory=list)
    enqueue: int | None = None
    timer_ms: int | None = None
    cancel_timer: int | None = None
    changed: bool = False


def dispatched(
    msg: Message, *, n: int, route: str, sender: str, now_ms: int, at: str, parts: int = 1
) -> Step:
    """Attempt n was handed to the provider on `route` (in `parts` parts): `sent`, and its DR
    TTL starts."""
    attempt = msg.attempt(n)
    if attempt is None or attempt.status != PENDING:
        return redelivered(msg, n)
    attempt.status, attempt.route, attempt.sender, attempt.at = LIVE, route, sender, at
    attempt.sent_ms, attempt.parts = now_ms, max(1, parts)
    attempt.deadline_ms = now_ms + msg.hops[n - 1].dr_ttl_s * 1000
    return _record(msg, f"d{n}", Step([EventSpec(n, "sent", at)], timer_ms=attempt.deadline_ms))


def redelivered(msg: Message, n: int) -> Step:
    """Attempt n came off SUBMIT again after it was handled: repeat its effects, change nothing.

    Its reports' effects too. A provider that reports with the send (the sandbox:
    `ImmediateReports`) gives its reports no input of their own that could come again: a
    process that died after writing such a report's outcome and before publishing its events
    (the final one among them) leaves SUBMIT's redelivery as their only way out. Events keep
    their ids, so one that did get out comes again as itself (a duplicate at most)."""
    step = replay(msg, f"d{n}") if f"d{n}" in msg.applied else replay(msg, f"x{n}")
    for key in [k for k in msg.applied if k.startswith(f"r{n}:")]:
        report = replay(msg, key)
        step.events += report.events
        step.enqueue = step.enqueue if report.enqueue is None else report.enqueue
        if report.cancel_timer is not None:
            step.cancel_timer, step.timer_ms = report.cancel_timer, None
    return step


def failed_before_send(
    msg: Message,
    *,
    n: int,
    reason: str,
    at: str,
    route: str | None = None,
    sender: str | None = None,
) -> Step:
    """Attempt n failed before it left (refused, `profile_not_found`, `expired_in_queue`)."""
    attempt = msg.attempt(n)
    if attempt is None or attempt.status != PENDING:
        return redelivered(msg, n)
    attempt.route, attempt.sender = route, sender
    return _record(msg, f"x{n}", _fail(msg, attempt, reason, at))


def reported(
    msg: Message, n: int, outcome: str, reason: str | None, at: str, *, part: int = 1
) -> Step:
    """A delivery report for attempt n: delivered, read, or failed with a reason.

    An attempt sent in several parts (a long SMS) is delivered once every part is reported
    delivered, and fails as soon as one part fails.
    """
    attempt = msg.attempt(n)
    if outcome == "delivered" and attempt is not None and attempt.parts > 1:
        return _part_delivered(msg, attempt, part, at)
    key = f"r{n}:{outcome}"
    if key in msg.applied:
        return replay(msg, key)
    if attempt is None or attempt.status == PENDING:
        raise NotDispatched(f"attempt {n} of {msg.id} is not recorded as sent")
    if attempt.status == LIVE:
        return _record(msg, key, _outcome(msg, attempt, outcome, reason, at))
    if attempt.status == "delivered" and outcome == "read":
        attempt.status, attempt.at = "read", at
        return _record(msg, key, Step([EventSpec(n, "read", at)]))
    if attempt.status in ("delivered", "read") and outcome in ("delivered", "read"):
        return Step()  # a repeat of what the attempt already reported
    late = EventSpec(n, outcome, at, reason if outcome == "failed" else None, late=True)
    return _record(msg, key, Step([late]))


def _part_delivered(msg: Message, attempt: Attempt, part: int, at: str) -> Step:
    """One part of a multi-part attempt was delivered; the attempt is once all of them are."""
    key = f"r{attempt.n}:p{part}"
    if key in msg.applied:
        return replay(msg, key)
    if attempt.status == PENDING:
        raise NotDispatched(f"attempt {attempt.n} of {msg.id} is not recorded as sent")
    if attempt.status != LIVE:
        return _late_or_repeat(msg, attempt, key, at)
    done = sorted({*(attempt.delivered_parts or []), part})
    attempt.delivered_parts = done
    if len(done) < attempt.parts:
        return _record(msg, key, Step())
    step = _outcome(msg, attempt, "delivered", None, at)
    _record(msg, f"r{attempt.n}:delivered", step)
    return _record(msg, key, step)


def _late_or_repeat(msg: Message, attempt: Attempt, key: str, at: str) -> Step:
    """A part's delivery after the attempt was decided: a repeat if it was delivered, else late."""
    if attempt.status in ("delivered", "read"):
        return Step()
    late = EventSpec(attempt.n, "delivered", at, late=True)
    return _record(msg, key, Step([late]))


def expired(msg: Message, n: int, at: str) -> Step:
    """Attempt n's DR TTL ran out: `dr_ttl_expired` if it is still waiting for its report."""
    key = f"t{n}"
    if key in msg.applied:
        return replay(msg, key)
    attempt = msg.attempt(n)
    if attempt is None or attempt.status != LIVE:
        return Step()
    step = _fail(msg, attempt, "dr_ttl_expired", at)
    step.cancel_timer = None  # it has just fired
    return _record(msg, key, step)


def replay(msg: Message, key: str) -> Step:
    """The effects of an input applied before, derived from its stored events (no change)."""
    specs = [EventSpec.from_json(raw) for raw in msg.applied.get(key, [])]
    step = Step(events=specs)
    for spec in specs:
        if spec.kind == "fallback":
            step.enqueue = spec.attempt + 1
        if spec.kind == "sent":
            attempt = msg.attempt(spec.attempt)
            if attempt is not None and attempt.status == LIVE:
                step.timer_ms = attempt.deadline_ms
        elif not spec.late and not key.startswith("t"):
            step.cancel_timer = spec.attempt
    return step


def _outcome(msg: Message, attempt: Attempt, outcome: str, reason: str | None, at: str) -> Step:
    if outcome == "failed":
        return _fail(msg, attempt, reason or "delivery_failed", at)
    attempt.status, attempt.at, attempt.deadline_ms = outcome, at, None
    events = [_final(msg, EventSpec(attempt.n, "delivered", at, final=True))]
    if outcome == "read":
        events.append(EventSpec(attempt.n, "read", at))
    return Step(events, cancel_timer=attempt.n)


def _fail(msg: Message, attempt: Attempt, reason: str, at: str) -> Step:
    n = attempt.n
    was_live = attempt.status == LIVE
    attempt.status, attempt.reason, attempt.at, attempt.deadline_ms = "failed", reason, at, None
    hop = msg.hops[n - 1]
    if TRIGGERS.get(reason) in hop.fallback_on and n < len(msg.hops):
        following = msg.hops[n].channel
        attempt.fallback_to = following
        msg.attempts.append(Attempt(n + 1, following, at, valid_until_ms=valid_until(msg, at)))
        spec = EventSpec(n, "fallback", at, reason, following)
        return Step([spec], enqueue=n + 1, cancel_timer=n if was_live else None)
    spec = _final(msg, EventSpec(n, "failed", at, reason, final=True))
    return Step([spec], cancel_timer=n if was_live else None)


def valid_until(msg: Message, queued_at: str) -> int | None:
    """Until when an attempt queued at `queued_at` may still go out (None: no validity)."""
    if msg.validity_s is None:
        return None
    return int(parse_ts(queued_at).timestamp() * 1000) + msg.validity_s * 1000


def _final(msg: Message, spec: EventSpec) -> EventSpec:
    """Mark the message's outcome; a second final is impossible by construction, checked here."""
    if msg.final is not None:
        raise AssertionError(f"{msg.id} already has its final event")
    msg.final = [spec.attempt, spec.status]
    if msg.protection == "do_not_store":
        msg.to_sealed, msg.content_sealed = None, None
    return spec


def _record(msg: Message, key: str, step: Step) -> Step:
    msg.applied[key] = [spec.to_json() for spec in step.events]
    step.changed = True
    return step
