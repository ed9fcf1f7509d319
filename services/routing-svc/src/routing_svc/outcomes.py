"""Delivery reports and DR TTL timers, as they come off their streams.

A report for an attempt not recorded as sent yet (the provider answered faster than the
attempt's state was written, by another replica) is retried shortly; after `MAX_EARLY`
tries it is dropped with a warning. A report or timer for a message whose record cannot be
read (a replica of the bucket that does not have it yet, or a record expired) is retried after
`pull.MISSING_RETRY_S`, and terminated with an error at its `pull.MISSING_MAX_DELIVERIES`th
delivery (`retry_missing`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
import structlog

from routing_svc.adapters.pull import retry_missing
from routing_svc.clock import now_ts
from routing_svc.domain.lifecycle import NotDispatched, expired, reported
from routing_svc.metrics import REPORTS, TIMERS, inc
from routing_svc.transitions import Transitions

log = structlog.get_logger("routing_svc.outcomes")

MAX_EARLY = 100
EARLY_RETRY_S = 0.05


class Outcomes:
    """Applies delivery reports and fired timers to their messages."""

    def __init__(self, transitions: Transitions) -> None:
        self._transitions = transitions

    async def on_report(self, nats_msg: Any) -> None:
        """One delivery report from ROUTING_REPORTS."""
        body = orjson.loads(nats_msg.data)
        message_id, n = str(body["m"]), int(body["a"])
        move = partial(
            reported,
            n=n,
            outcome=str(body["outcome"]),
            reason=body.get("reason"),
            at=str(body.get("at") or now_ts()),
        )
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

    async def on_timer(self, nats_msg: Any) -> None:
        """One fired DR TTL timer from ROUTING_TIMERS."""
        body = orjson.loads(nats_msg.data)
        message_id, n = str(body["m"]), int(body["a"])
        step = await self._transitions.apply(message_id, partial(expired, n=n, at=now_ts()))
        if step is None:
            if await retry_missing(nats_msg, "timer_for_unknown_message", message_id, n):
                inc(TIMERS, "unknown")
            return
        inc(TIMERS, "expired" if step.changed else "moot")
        await nats_msg.ack()
