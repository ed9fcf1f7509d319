"""Delivery reports and DR TTL timers, as they come off their streams.

A report for an attempt not recorded as sent yet (the provider answered faster than the
attempt's state was written, by another replica) is retried shortly; after `MAX_EARLY`
tries it is dropped with a warning. A report or timer for a message whose record cannot be
read (a replica of the bucket that does not have it yet, or a record expired) is retried after
`pull.MISSING_RETRY_S`, and terminated with an error at its `pull.MISSING_MAX_DELIVERIES`th
delivery (`retry_missing`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import structlog
from parley_shared.timefmt import format_ts, now_ts

from routing_svc.domain.channels import DeliveryReport, InboundMessage, ProviderReport
from routing_svc.domain.lifecycle import Message, NotDispatched, Step, expired, reported
from routing_svc.metrics import PROVIDER_REPORTS, REPORTS, TIMERS, UNKNOWN_REPORTS, inc
from routing_svc.ports import Handovers, InFlight, ProviderSink
from routing_svc.transitions import Transitions, decode, retry_missing

log = structlog.get_logger("routing_svc.outcomes")

MAX_EARLY = 100
EARLY_RETRY_S = 0.05


UNKNOWN_RETRY_S = 0.5
UNKNOWN_MAX_DELIVERIES = 40
"""A receipt may come before its send's answer was recorded (the provider's id not yet in the
map): it is retried every `UNKNOWN_RETRY_S` x tries (about 7 minutes in all), then counted as
unknown and dropped."""


class Outcomes:
    """Applies delivery reports, providers' receipts and fired timers to their messages."""

    def __init__(self, transitions: Transitions, handovers: Handovers | None = None) -> None:
        self._transitions = transitions
        self._handovers = handovers

    async def on_receipt(self, nats_msg: InFlight) -> None:
        """One report keyed by a provider's id (`parley.route.v1.receipt.<route>`)."""
        body = decode(nats_msg, "route", "id", "outcome")
        route, provider_id, outcome = str(body["route"]), str(body["id"]), str(body["outcome"])
        assert self._handovers is not None  # wired whenever a provider reports by its ids
        ref = await self._handovers.resolve(route, provider_id)
        if ref is None:
            tries = int(nats_msg.metadata.num_delivered)
            if tries >= UNKNOWN_MAX_DELIVERIES:
                log.warning("report_for_unknown_provider_id", route=route, outcome=outcome)
                inc(UNKNOWN_REPORTS, route)
                await nats_msg.term()
            else:
                await nats_msg.nak(delay=min(UNKNOWN_RETRY_S * tries, 30.0))
            return
        inc(PROVIDER_REPORTS, route, outcome if body.get("reason") is None else body["reason"])
        move = partial(
            reported,
            n=ref.attempt,
            outcome=outcome,
            reason=body.get("reason"),
            at=str(body.get("at") or now_ts()),
            part=ref.part,
        )
        await self._apply_report(nats_msg, ref.message_id, ref.attempt, move)

    async def on_report(self, nats_msg: InFlight) -> None:
        """One delivery report from ROUTING_REPORTS."""
        body = decode(nats_msg, "m", "a", "outcome")
        message_id, n = str(body["m"]), int(body["a"])
        move = partial(
            reported,
            n=n,
            outcome=str(body["outcome"]),
            reason=body.get("reason"),
            at=str(body.get("at") or now_ts()),
        )
        await self._apply_report(nats_msg, message_id, n, move)

    async def _apply_report(
        self, nats_msg: InFlight, message_id: str, n: int, move: Callable[[Message], Step]
    ) -> None:
        try:
            step = await self._transitions.apply(message_id, move)
        except NotDispatched:
            tries = int(nats_msg.metadata.num_delivered)
            if tries >= MAX_EARLY:
                log.warning("report_for_unsent_attempt", message_id=message_id, attempt=n)
                inc(REPORTS, "dropped")
                await nats_msg.term()
            else:
                await nats_msg.nak(delay=EARLY_RETRY_S * tries)
            return
        if step is None:
            if await retry_missing(nats_msg, "report_for_unknown_message", message_id, n):
                inc(REPORTS, "unknown")
            return
        late = any(spec.late for spec in step.events)
        inc(REPORTS, "late" if late else "applied")
        await nats_msg.ack()

    async def on_timer(self, nats_msg: InFlight) -> None:
        """One fired DR TTL timer from ROUTING_TIMERS."""
        body = decode(nats_msg, "m", "a")
        message_id, n = str(body["m"]), int(body["a"])
        step = await self._transitions.apply(message_id, partial(expired, n=n, at=now_ts()))
        if step is None:
            if await retry_missing(nats_msg, "timer_for_unknown_message", message_id, n):
                inc(TIMERS, "unknown")
            return
        inc(TIMERS, "expired" if step.changed else "moot")
        await nats_msg.ack()


def report_move(report: DeliveryReport) -> Callable[[Message], Step]:
    """The state change of a delivery report keyed by Parley's ids."""
    return partial(
        reported,
        n=report.attempt,
        outcome=report.outcome,
        reason=report.reason,
        at=format_ts(report.at),
    )


class ImmediateReports:
    """The `ProviderSink` providers get, in front of the durable one (JetStream).

    A report without delay that a provider makes while the router is handing it that very
    attempt (the sandbox knows the outcome at once) is kept in memory, and the router applies
    it in the same step as the dispatch: the attempt's SUBMIT message stays unacked until that
    step is stored, so a crash before then sends the attempt again and the report comes again.
    That saves a report's round trip through ROUTING_REPORTS (a publish, a delivery, an ack
    and a lock) per message. Everything else (delayed reports, receipts, users' messages, a
    report about another attempt) goes to the durable sink.
    """

    def __init__(self, durable: ProviderSink) -> None:
        self._durable = durable
        self._open: dict[tuple[str, int], list[DeliveryReport]] = {}

    def expect(self, message_id: str, n: int) -> None:
        """The router is about to hand attempt n of the message to its provider."""
        self._open[(message_id, n)] = []

    def take(self, message_id: str, n: int) -> list[DeliveryReport]:
        """The reports kept for attempt n since `expect`, in the order they were made."""
        return self._open.pop((message_id, n), [])

    async def forward(self, reports: list[DeliveryReport]) -> None:
        """Make kept reports durable after all (the router will not apply them itself)."""
        for report in reports:
            await self._durable.report(report)

    async def report(self, report: DeliveryReport, delay_s: float = 0.0) -> None:
        """Keep a report of an attempt being handed over; else make it durable."""
        kept = self._open.get((report.message_id, report.attempt))
        if kept is not None and delay_s <= 0:
            kept.append(report)
            return
        await self._durable.report(report, delay_s)

    async def receipt(self, report: ProviderReport) -> None:
        """Reports keyed by a provider's id always go to the durable sink."""
        await self._durable.receipt(report)

    async def inbound(self, message: InboundMessage) -> None:
        """Users' messages always go to the durable sink."""
        await self._durable.inbound(message)
