"""A durable pull consumer that keeps pull requests outstanding and runs messages concurrently.

nats-py's `fetch` waits for each batch to fill or time out; this consumer instead keeps
requests for up to `batch` messages open on the server (expiring every `expires` seconds,
with idle heartbeats), so a message is handed over the moment it is stored, and runs each one
in its own task, up to `max_in_flight` at a time, asking for more as tasks finish. Any number
of replicas share the durable consumer: JetStream hands each message to one of them.

The handler acks, naks or terms each message itself. What it lets out decides the rest:
- `Undecodable` (the message cannot be read or lacks its fields): terminated at once, logged
  once (ids only), counted: no delivery would ever make it readable;
- any other exception: given back with a delay that doubles per delivery (1 s up to 60 s);
  at its `max_deliver`th delivery it is copied to ROUTING_POISON (bytes untouched, where it
  came from in headers) and only once that copy is stored terminated, so nothing is dropped
  unstored and one broken message cannot loop forever.
The count is kept here (JetStream's `num_delivered`) rather than by the consumer's own
`max_deliver`, whose advisory is a core publish nobody may hear and comes after the fact.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from parley_shared import subjects

from routing_svc.errors import Undecodable
from routing_svc.metrics import POISONED, inc

log = structlog.get_logger("routing_svc.pull")

Handler = Callable[[Any], Awaitable[None]]
RETRY_DELAY_S = 1.0
RETRY_DELAY_MAX_S = 60.0
POISON_TIMEOUT_S = 5.0


def retry_delay(delivered: int) -> float:
    """Seconds before a failed message delivered `delivered` times (1 = first) comes back."""
    return float(min(RETRY_DELAY_S * 2 ** min(max(delivered, 1) - 1, 16), RETRY_DELAY_MAX_S))


# nats-py, not FastStream, on this hot path: measured on a durable pull consumer with explicit
# acks, FastStream's pull subscriber handled 0.20-0.28x the events per second of nats-py's
# fetch + ack (6,700-9,000 against 31,700-35,700/s, `python -m
# parley_devtools.bench.faststream_cost`, docs/performance.md "FastStream on a hot path").
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
        ack_wait_s: float = 60.0,
        expires_s: float = 30.0,
        heartbeat_s: float = 5.0,
        max_deliver: int = 20,
    ) -> None:
        self._nc, self._js = nc, js
        self.stream, self.durable, self.filter_subject = stream, durable, filter_subject
        self._handler = handler
        self._max_deliver = max_deliver
        self._batch, self._max = batch, max_in_flight
        self._ack_wait, self._expires, self._heartbeat = ack_wait_s, expires_s, heartbeat_s
        self._pending = 0  # messages requested and not yet delivered
        self._running = 0  # messages being handled
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[int, tuple[Any, float]] = {}  # messages being handled, since when
        self._sub: Any = None
        self._watch: asyncio.Task[None] | None = None
        self._last_heard = time.monotonic()
        self._inbox = ""
        self._stopping = False

    async def ensure(self) -> None:
        """Create the durable consumer when it does not exist (an existing one is kept)."""
        config = ConsumerConfig(
            durable_name=self.durable,
            filter_subject=self.filter_subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_deliver=-1,
            max_ack_pending=max(self._max * 4, 10_000),
            max_waiting=512,
        )
        try:
            await self._js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            await self._js.add_consumer(self.stream, config)

    async def start(self) -> None:
        """Subscribe to the reply inbox and start pulling."""
        await self.ensure()
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(
            self._inbox, cb=self._on_msg, pending_msgs_limit=self._max * 4 + 1024
        )
        self._watch = asyncio.create_task(self._watchdog(), name=f"pull-watch-{self.durable}")
        await self._maybe_pull()

    async def stop(self) -> None:
        """Stop asking for messages and let the ones being handled finish (briefly)."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def _on_msg(self, msg: Any) -> None:
        self._last_heard = time.monotonic()
        status = msg.headers.get("Status") if msg.headers else None
        if status is not None and not msg.reply:
            self._on_status(status, msg.headers)
        else:
            self._pending = max(0, self._pending - 1)
            self._running += 1
            task = asyncio.create_task(self._run(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self._maybe_pull()

    def _on_status(self, status: str, headers: dict[str, str]) -> None:
        if status == "100":  # idle heartbeat
            return
        left = headers.get("Nats-Pending-Messages")
        if left is not None and left.isdigit():
            self._pending = max(0, self._pending - int(left))
        elif status in ("404", "408", "409"):
            self._pending = 0
        if status == "409":
            log.info("pull_request_ended", durable=self.durable, detail=headers.get("Description"))

    async def _run(self, msg: Any) -> None:
        key = id(msg)
        self._held[key] = (msg, time.monotonic())
        try:
            await self._handler(msg)
        except Undecodable as exc:
            log.error("message_undecodable", durable=self.durable, reason=str(exc))  # noqa: TRY400 - no traceback: ids only
            inc(POISONED, self.durable, "invalid")
            with contextlib.suppress(Exception):
                await msg.term()
        except Exception as exc:  # noqa: BLE001 - a failing message is retried, never dropped
            await self._failed(msg, exc)
        finally:
            self._held.pop(key, None)
            self._running -= 1
            await self._maybe_pull()

    async def _failed(self, msg: Any, exc: Exception) -> None:
        """Give a failed message back later, or past `max_deliver` park it in ROUTING_POISON."""
        delivered = int(msg.metadata.num_delivered)
        if delivered < self._max_deliver:
            log.warning(
                "message_handling_failed",
                durable=self.durable,
                error=type(exc).__name__,
                delivery=delivered,
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=retry_delay(delivered))
            return
        sequence = int(msg.metadata.sequence.stream)
        headers = {
            "Nats-Msg-Id": f"{self.stream}.{sequence}",
            "Parley-Poison-Stream": self.stream,
            "Parley-Poison-Subject": msg.subject,
            "Parley-Poison-Sequence": str(sequence),
            "Parley-Poison-Deliveries": str(delivered),
            "Parley-Poison-Error": type(exc).__name__,
        }
        try:
            await self._js.publish(
                subjects.routing_poison(self.durable),
                msg.data,
                headers=headers,
                timeout=POISON_TIMEOUT_S,
            )
        except Exception as store_error:  # noqa: BLE001 - not stored: it comes back later
            log.error(  # noqa: TRY400 - no traceback: ids only
                "poison_not_stored", durable=self.durable, error=type(store_error).__name__
            )
            inc(POISONED, self.durable, "not_stored")
            with contextlib.suppress(Exception):
                await msg.nak(delay=RETRY_DELAY_MAX_S)
            return
        log.error(
            "message_poisoned",
            durable=self.durable,
            sequence=sequence,
            deliveries=delivered,
            error=type(exc).__name__,
        )
        inc(POISONED, self.durable, "exhausted")
        with contextlib.suppress(Exception):
            await msg.term()

    async def _maybe_pull(self) -> None:
        if self._stopping or self._nc.is_closed:
            return
        room = self._max - self._running - self._pending
        if room <= 0 or self._pending > self._batch // 2:
            return
        count = min(room, self._batch - self._pending)
        self._pending += count
        request = {
            "batch": count,
            "expires": int(self._expires * 1e9),
            "idle_heartbeat": int(self._heartbeat * 1e9),
        }
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}"
        try:
            await self._nc.publish(subject, orjson.dumps(request), reply=self._inbox)
        except Exception as exc:  # noqa: BLE001 - the watchdog asks again
            self._pending -= count
            log.warning("pull_request_failed", durable=self.durable, error=type(exc).__name__)

    async def _keep_alive(self) -> None:
        """Restart the ack deadline of every message handled for a third of it already (a send
        waiting for capacity or for a provider), so JetStream never hands it to another
        replica while it is in hand. One pass for all of them, not a timer per message."""
        due = time.monotonic() - self._ack_wait / 3
        for msg, since in list(self._held.values()):
            if since <= due:
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _watchdog(self) -> None:
        """Ask again when the server went quiet (a reconnect, a lost request, a new consumer);
        keep long-handled messages alive."""
        while True:
            await asyncio.sleep(min(self._heartbeat, self._ack_wait / 6))
            await self._keep_alive()
            quiet = time.monotonic() - self._last_heard
            if self._pending > 0 and quiet > 2 * self._heartbeat + 1:
                self._pending = 0
                self._last_heard = time.monotonic()
                with contextlib.suppress(Exception):
                    await self.ensure()
            await self._maybe_pull()
