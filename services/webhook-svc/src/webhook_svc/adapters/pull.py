"""webhook-svc's durable pull consumers: `parley_runtime.pull.PullLoop` as the `Source` port.

The loop pulls, bounds what this process holds (`max_in_flight`), keeps held messages alive
(an in-progress ack every `ack_wait / 3`, so a batch waiting on a slow endpoint is not
redelivered to another worker) and counts deliveries (`parley_runtime.pull` says how). Every
delivery counts (`give_up="on_arrival"`): a message arriving for more than `max_deliver` times
is not handed out again but copied to WEBHOOK_POISON (`adapters.poison`), then terminated.

Here: the `Source` the intake settles through (`ack`, `nak`, `fail`, `term`, `backlog`), the
handler called inline for each message as it arrives, the webhook metrics, and
`erase_on_ack` (a `do_not_store` account's event deleted from its stream once acknowledged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import structlog
from nats.js.api import ConsumerConfig
from parley_runtime.pull import Durable, PullLoop, PullSettings
from parley_runtime.redelivery import ack_info, ack_pending
from parley_shared.subjects import account_id_of

from webhook_svc import metrics
from webhook_svc.adapters.poison import PoisonStore

log = structlog.get_logger("webhook_svc.pull")

EXPIRES_S = 5.0
PUBLISH_WAIT_S = 5.0
NO_MESSAGE = 10057
"""JetStream's "no message found": erased already (a redelivered copy acked twice)."""

Handler = Callable[["PullSource", Any], Awaitable[None]]


def pull_settings(
    *,
    max_in_flight: int,
    batch: int,
    ack_wait_seconds: float,
    max_ack_pending: int,
    max_deliver: int,
    redelivery_delay_seconds: float,
    redelivery_delay_max_seconds: float,
) -> PullSettings:
    """How a webhook-svc consumer pulls: every delivery counts towards `max_deliver`, requests
    expire after 5 s, and `ensure` updates the consumer to these settings."""
    return PullSettings(
        batch=batch,
        max_in_flight=max_in_flight,
        ack_wait_seconds=ack_wait_seconds,
        max_ack_pending=max_ack_pending,
        max_deliver=max_deliver,
        redelivery_delay_seconds=redelivery_delay_seconds,
        redelivery_delay_max_seconds=redelivery_delay_max_seconds,
        expires_seconds=EXPIRES_S,
        give_up="on_arrival",
        update_existing=True,
    )


class PullSource:
    """One durable pull consumer of one stream, as used by one process."""

    def __init__(
        self,
        nc: Any,
        *,
        stream: str,
        durable: str,
        filter_subject: str,
        handler: Handler,
        poison: PoisonStore,
        settings: PullSettings,
    ) -> None:
        """Describe the consumer (`settings` as `pull_settings` makes them); nothing happens
        until `start`."""
        self.name = durable
        self._nc, self._stream, self._handler = nc, stream, handler
        self._erase: set[str] = set()  # replies whose message is deleted once acked
        self._erasing: set[asyncio.Task[None]] = set()
        self._loop = PullLoop(
            nc,
            Durable(stream, durable, filter_subject),
            handover=self._handover,
            poison=poison.add,
            settings=settings,
            count=self._count,
            account_of=account_id_of,
        )
        self._counters = {
            "invalid": metrics.child(metrics.INVALID_MESSAGES, durable),
            "failed": metrics.child(metrics.FAILED_MESSAGES, durable),
            "not_stored": metrics.child(metrics.FAILED_MESSAGES, durable),
            "poisoned": metrics.child(metrics.POISON_MESSAGES, durable),
        }
        metrics.HELD.labels(durable).set_function(lambda: self._loop.held)

    @property
    def held(self) -> int:
        """Messages handed out and not yet acknowledged or nacked."""
        return self._loop.held

    def config(self) -> ConsumerConfig:
        """The durable consumer's configuration."""
        return self._loop.config()

    async def ensure(self) -> None:
        """Create the durable consumer, or update it to this configuration."""
        await self._loop.ensure()

    async def start(self) -> None:
        """Ensure the consumer, then pull and hand out messages until `stop`."""
        await self._loop.start()

    def reset(self) -> None:
        """Forget outstanding pull requests (after a reconnect the server may have lost them)."""
        self._loop.reset()

    async def _handover(self, msg: Any) -> None:
        await self._handler(self, msg)

    def _count(self, outcome: str) -> None:
        self._counters[outcome].inc()

    async def ack(self, replies: Sequence[str]) -> None:
        """Acknowledge messages this consumer handed out (and erase those marked for it)."""
        erase = self._erase
        erased = [r for r in replies if r in erase and self._loop.holds(r)] if erase else []
        await self._loop.ack(replies)
        for reply in erased:
            erase.discard(reply)
            task = asyncio.get_running_loop().create_task(self._erase_now(reply))
            self._erasing.add(task)
            task.add_done_callback(self._erasing.discard)

    def backlog(self, reply: str) -> int:
        """Messages pending for this consumer behind the one of `reply` (from its ack subject:
        the server's count when it delivered it)."""
        return ack_pending(reply)

    def erase_on_ack(self, reply: str) -> None:
        """Delete the message from its stream (overwriting it) once it is acknowledged; given
        back instead, it is not deleted (it comes back and is marked again)."""
        self._erase.add(reply)

    async def _erase_now(self, reply: str) -> None:
        """`STREAM.MSG.DELETE` of one message; one that fails is left to its TTL (counted)."""
        _, sequence = ack_info(reply)
        subject = f"$JS.API.STREAM.MSG.DELETE.{self._stream}"
        try:
            answer = await self._nc.request(
                subject, orjson.dumps({"seq": sequence}), timeout=PUBLISH_WAIT_S
            )
            error = orjson.loads(answer.data).get("error")
        except Exception as exc:  # noqa: BLE001 - the message's TTL removes it anyway
            error = {"description": type(exc).__name__}
        if error and error.get("err_code") != NO_MESSAGE:
            metrics.STORE_ERRORS.labels("erase").inc()
            log.warning(
                "message_not_erased",
                consumer=self.name,
                stream_seq=sequence,
                error=str(error.get("description")),
            )
        else:
            metrics.child(metrics.ERASED, self.name).inc()

    async def nak(self, replies: Sequence[str], delay_s: float | None = None) -> None:
        """Give messages back for redelivery (after `delay_s`, when given)."""
        self._erase.difference_update(replies)
        await self._loop.nak(replies, delay_s)

    async def fail(self, replies: Sequence[str]) -> None:
        """Give messages back after a failure, each after a delay growing with its deliveries."""
        self._erase.difference_update(replies)
        await self._loop.fail(replies)

    async def term(self, reply: str, reason: str, account_id: str | None = None) -> None:
        """Terminate a message that can never be handled; log it once (no body) and count it."""
        self._erase.discard(reply)
        if not await self._loop.term(reply, reason):
            return
        _, sequence = ack_info(reply)
        log.warning(
            "message_terminated",
            consumer=self.name,
            stream_seq=sequence,
            account_id=account_id,
            reason=reason,
        )

    async def stop(self) -> None:
        """Stop pulling; messages still arriving are given back at once."""
        await self._loop.stop()

    async def close(self) -> None:
        """Give back every message still held, and drop the inbox subscription."""
        if self._erasing:
            await asyncio.wait(set(self._erasing), timeout=PUBLISH_WAIT_S)
        await self._loop.close()
