"""routing-svc's durable pull consumers: `parley_runtime.pull.PullLoop` with a task per message.

The loop pulls, bounds what this replica holds (`max_in_flight`), keeps held messages alive and
counts deliveries (`parley_runtime.pull` says how). Here each message runs in its own task so
a slow send does not hold up the next one, and the handler acks, naks or terms the message
itself (nats-py's `msg.ack()` and the like). What it lets out decides the rest:
- `Undecodable` (the message cannot be read or lacks its fields): terminated at once, logged
  once (ids only), counted `invalid`: no delivery would ever make it readable;
- any other exception: given back with a delay that doubles per delivery (1 s up to 60 s); at
  its `max_deliver`th delivery it is copied to ROUTING_POISON (bytes untouched, where it came
  from in headers) and only once that copy is stored terminated, so nothing is dropped
  unstored and one broken message cannot loop forever.
Only such failures count towards `max_deliver` (`give_up="on_failure"`): the handlers nak on
purpose to wait for a record or an outcome, and those deliveries are no failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from parley_runtime.pull import Durable, Poisoned, PullLoop, PullSettings
from parley_runtime.redelivery import ack_info
from parley_shared import subjects

from routing_svc.errors import Undecodable
from routing_svc.metrics import POISONED, inc

log = structlog.get_logger("routing_svc.pull")

Handler = Callable[[Any], Awaitable[None]]
RETRY_DELAY_S = 1.0
RETRY_DELAY_MAX_S = 60.0
POISON_TIMEOUT_S = 5.0
STOP_WAIT_S = 5.0
REASONS = {"invalid": "invalid", "poisoned": "exhausted", "not_stored": "not_stored"}
"""`parley_routing_poison_messages_total{reason}` by the loop's outcome (failures uncounted)."""


class PullConsumer:
    """One replica's share of a durable pull consumer."""

    def __init__(
        self,
        nc: Any,
        js: Any,
        *,
        stream: str,
        durable: str,
        filter_subject: str,
        handler: Handler,
        batch: int = 256,
        max_in_flight: int = 2000,
        ack_wait_seconds: float = 60.0,
        max_deliver: int = 20,
    ) -> None:
        """Describe the consumer; nothing happens until `start`."""
        self._js, self._handler = js, handler
        self.stream, self.durable, self.filter_subject = stream, durable, filter_subject
        self._tasks: set[asyncio.Task[None]] = set()
        settings = PullSettings(
            batch=batch,
            max_in_flight=max_in_flight,
            ack_wait_seconds=ack_wait_seconds,
            max_ack_pending=max(max_in_flight * 4, 10_000),
            max_deliver=max_deliver,
            redelivery_delay_seconds=RETRY_DELAY_S,
            redelivery_delay_max_seconds=RETRY_DELAY_MAX_S,
        )
        self.loop = PullLoop(
            nc,
            Durable(stream, durable, filter_subject),
            handover=self._handover,
            poison=self._poison,
            settings=settings,
            count=self._count,
        )

    async def ensure(self) -> None:
        """Create the durable consumer when it does not exist (an existing one is kept)."""
        await self.loop.ensure()

    async def start(self) -> None:
        """Ensure the consumer and start pulling."""
        await self.loop.start()

    async def stop(self) -> None:
        """Stop asking for messages and let the ones being handled finish (briefly); those
        still running come back after the ack wait."""
        await self.loop.stop()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=STOP_WAIT_S)
        await self.loop.close(give_back=False)

    async def _handover(self, msg: Any) -> None:
        task = asyncio.create_task(self._run(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, msg: Any) -> None:
        reply = msg.reply
        try:
            await self._handler(msg)
        except Undecodable as exc:
            if msg.is_acked:  # settled before it raised: nothing left to decide
                await self.loop.release(reply)
                return
            log.error("message_undecodable", durable=self.durable, reason=str(exc))  # noqa: TRY400 - no traceback: ids only
            await self.loop.term(reply, str(exc))
        except Exception as exc:  # noqa: BLE001 - a failing message is retried, never dropped
            if msg.is_acked:
                await self.loop.release(reply)
                return
            delivered, _ = ack_info(reply)
            if delivered < self.loop.settings.max_deliver:
                log.warning(
                    "message_handling_failed",
                    durable=self.durable,
                    error=type(exc).__name__,
                    delivery=delivered,
                )
            await self.loop.fail([reply], type(exc).__name__)
        else:
            await self.loop.release(reply)

    async def _poison(self, copy: Poisoned) -> None:
        """Store a given-up message on ROUTING_POISON; `Nats-Msg-Id` (stream and sequence)
        keeps a replica that dies between copy and term from storing it twice."""
        headers = {
            subjects.HEADER_MSG_ID: f"{copy.stream}.{copy.sequence}",
            "Parley-Poison-Stream": copy.stream,
            "Parley-Poison-Subject": copy.subject,
            "Parley-Poison-Sequence": str(copy.sequence),
            "Parley-Poison-Deliveries": str(copy.deliveries),
            "Parley-Poison-Error": copy.error,
        }
        await self._js.publish(
            subjects.routing_poison(copy.consumer),
            copy.data,
            headers=headers,
            timeout=POISON_TIMEOUT_S,
        )

    def _count(self, outcome: str) -> None:
        reason = REASONS.get(outcome)
        if reason is not None:
            inc(POISONED, self.durable, reason)
