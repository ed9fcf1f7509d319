"""A durable JetStream pull consumer, pulled continuously with raw nats-py (the hot path).

nats-py's `fetch` waits for each message in turn; this keeps up to two pull requests
outstanding on one wildcard inbox instead and hands each message to a callback as it arrives.
Messages arrive under their own subject, so each is charged to the oldest open request (the
server fills pull requests in order); a request's end status (404/408/409) arrives on its
own reply subject `<inbox>.<n>` and closes exactly that request. It never asks for more
than `max_in_flight` messages minus those it already holds, so a process holds a bounded
number of unacknowledged messages however fast they come.

It is the `Source` of the messages it hands out: `ack`, `nak` (optionally delayed), `fail`
(a nak whose delay doubles with each delivery), `term` (never again), and every
`ack_wait / 3` an in-progress ack for each message held that long, so a batch waiting on a
slow endpoint is not redelivered to another worker. Any number of processes share one
durable consumer; JetStream spreads the messages between them.

Deliveries are counted here (`num_delivered` from each message's ack subject), not by the
consumer's `max_deliver` (`domain.redelivery` says why): a message arriving for more than
`max_deliver` times is not handed out again but copied to WEBHOOK_POISON, then terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from parley_shared.subjects import account_id_of

from webhook_svc import metrics
from webhook_svc.adapters.poison import PoisonStore
from webhook_svc.domain.redelivery import exhausted, redelivery_delay
from webhook_svc.errors import StoreUnavailable

log = structlog.get_logger("webhook_svc.pull")

ACK = b"+ACK"
NAK = b"-NAK"
WPI = b"+WPI"
TERM = b"+TERM"
EXPIRES_S = 5.0
_GRACE_S = 1.0
_BACKOFF_S = 0.5
PUBLISH_WAIT_S = 5.0
NO_MESSAGE = 10057
"""JetStream's "no message found": erased already (a redelivered copy acked twice)."""

Handler = Callable[["PullSource", Any], Awaitable[None]]


def ack_info(reply: str) -> tuple[int, int]:
    """(deliveries so far, stream sequence) from a JetStream ack subject, v1
    (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...`, 9 tokens) or v2 (with domain and
    account hash, 11-12 tokens); (1, 0) for anything else."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        delivered, sequence = tokens[4], tokens[5]
    elif len(tokens) >= 11:
        delivered, sequence = tokens[6], tokens[7]
    else:
        return 1, 0
    try:
        return int(delivered), int(sequence)
    except ValueError:
        return 1, 0


def ack_pending(reply: str) -> int:
    """The consumer's pending count from a JetStream ack subject (v1: 9 tokens, the last; v2:
    11-12 tokens, the 11th); 0 for anything else."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        pending = tokens[8]
    elif len(tokens) >= 11:
        pending = tokens[10]
    else:
        return 0
    return int(pending) if pending.isdigit() else 0


# nats-py, not FastStream, on this hot path: measured on a durable pull consumer with explicit
# acks, FastStream's pull subscriber handled 0.20-0.28x the events per second of nats-py's
# fetch + ack (6,700-9,000 against 31,700-35,700/s, `python -m
# parley_devtools.bench.faststream_cost`, docs/performance.md "FastStream on a hot path").
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
        max_in_flight: int,
        batch: int,
        ack_wait_seconds: float,
        max_ack_pending: int,
        poison: PoisonStore,
        max_deliver: int = 20,
        redelivery_delay_seconds: float = 1.0,
        redelivery_delay_max_seconds: float = 60.0,
    ) -> None:
        """Describe the consumer; nothing happens until `start`."""
        self.name = durable
        self._nc = nc
        self._stream = stream
        self._filter = filter_subject
        self._handler = handler
        self._max_inflight = max_in_flight
        self._batch = batch
        self._ack_wait_s = ack_wait_seconds
        self._max_ack_pending = max_ack_pending
        self._poison = poison
        self._max_deliver = max_deliver
        self._delay_s = redelivery_delay_seconds
        self._delay_max_s = redelivery_delay_max_seconds
        self._burying: set[asyncio.Task[None]] = set()
        self._erase: set[str] = set()  # replies whose message is deleted once acked
        self._erasing: set[asyncio.Task[None]] = set()
        self._held: dict[str, float] = {}
        self._requests: dict[str, list[float]] = {}  # token -> [remaining, deadline]
        self._outstanding = 0
        self._seq = 0
        self._inbox = ""
        self._sub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._running = False
        self._broken = False
        metrics.HELD.labels(durable).set_function(lambda: len(self._held))

    @property
    def held(self) -> int:
        """Messages handed out and not yet acknowledged or nacked."""
        return len(self._held)

    def config(self) -> ConsumerConfig:
        """The durable consumer's configuration."""
        return ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            filter_subject=self._filter,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait_s,
            max_deliver=-1,  # counted here: see the module docstring
            max_ack_pending=self._max_ack_pending,
            max_waiting=512,
        )

    async def ensure(self) -> None:
        """Create the durable consumer, or update it to this configuration."""
        await self._nc.jetstream().add_consumer(self._stream, config=self.config())

    async def start(self) -> None:
        """Ensure the consumer, then pull and hand out messages until `stop`."""
        await self.ensure()
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(
            self._inbox + ".*", cb=self._on_msg, pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        self._running = True
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._pull_loop(), name=f"pull-{self.name}"),
            loop.create_task(self._touch_loop(), name=f"touch-{self.name}"),
        ]

    def reset(self) -> None:
        """Forget outstanding pull requests (after a reconnect the server may have lost them)."""
        self._requests.clear()
        self._outstanding = 0
        self._wake.set()

    async def _pull_loop(self) -> None:
        while self._running:
            if self._broken:
                await self._repair()
                continue
            self._expire_requests()
            free = self._max_inflight - len(self._held) - self._outstanding
            want = min(free, self._batch)
            worth_it = want >= max(1, self._batch // 4) or self._outstanding == 0
            if want > 0 and self._outstanding < self._batch and worth_it:
                await self._request(want)
                continue
            self._wake.clear()
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # lands as the wait ends, and this loop would then outlive its task's cancel().
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.25):
                    await self._wake.wait()

    async def _request(self, count: int) -> None:
        self._seq += 1
        token = str(self._seq)
        self._requests[token] = [float(count), time.monotonic() + EXPIRES_S + _GRACE_S]
        self._outstanding += count
        body = orjson.dumps({"batch": count, "expires": int(EXPIRES_S * 1e9)})
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self._stream}.{self.name}"
        await self._nc.publish(subject, body, reply=f"{self._inbox}.{token}")

    def _expire_requests(self) -> None:
        at = time.monotonic()
        for token, (remaining, deadline) in list(self._requests.items()):
            if deadline < at:
                del self._requests[token]
                self._outstanding -= int(remaining)

    def _close_request(self, token: str) -> None:
        request = self._requests.pop(token, None)
        if request is not None:
            self._outstanding -= int(request[0])
            self._wake.set()

    async def _on_msg(self, msg: Any) -> None:
        if not msg.reply:
            self._on_status(msg.subject[len(self._inbox) + 1 :], msg)
            return
        if self._requests:
            token = next(iter(self._requests))
            request = self._requests[token]
            request[0] -= 1
            self._outstanding -= 1
            if request[0] <= 0:
                del self._requests[token]
                self._wake.set()
        if not self._running:
            await self._nc.publish(msg.reply, NAK)
            return
        self._held[msg.reply] = time.monotonic()
        deliveries, sequence = ack_info(msg.reply)
        if exhausted(deliveries, self._max_deliver):
            task = asyncio.get_running_loop().create_task(self._bury(msg, deliveries, sequence))
            self._burying.add(task)
            task.add_done_callback(self._burying.discard)
            return
        try:
            await self._handler(self, msg)
        except Exception as exc:  # noqa: BLE001 - give the message back, keep consuming
            failure = type(exc).__name__
        else:
            return
        log.error("message_handler_failed", consumer=self.name, stream_seq=sequence, error=failure)
        await self.fail([msg.reply])

    async def _bury(self, msg: Any, deliveries: int, sequence: int) -> None:
        """Copy a message tried `max_deliver` times to WEBHOOK_POISON, then terminate it."""
        try:
            await self._poison.add(
                consumer=self.name,
                stream=self._stream,
                subject=msg.subject,
                sequence=sequence,
                deliveries=deliveries,
                data=msg.data,
            )
        except StoreUnavailable as exc:
            failure: str | None = str(exc)
        else:
            failure = None
        if failure is not None:
            log.error("poison_not_stored", consumer=self.name, stream_seq=sequence, error=failure)
            await self.fail([msg.reply])
            return
        if self._held.pop(msg.reply, None) is None:
            return  # given back meanwhile (shutdown): it comes back and is copied again (de-duped)
        await self._nc.publish(msg.reply, TERM + b" max deliveries")
        self._wake.set()
        metrics.child(metrics.POISON_MESSAGES, self.name).inc()
        log.error(
            "message_poisoned",
            consumer=self.name,
            stream_seq=sequence,
            account_id=account_id_of(msg.subject),
            deliveries=deliveries,
        )

    def _on_status(self, token: str, msg: Any) -> None:
        status = (msg.headers or {}).get("Status", "")
        self._close_request(token)
        if status in ("503", "409") and "MaxWaiting" not in str(msg.headers):
            desc = (msg.headers or {}).get("Description", "")
            log.warning("pull_status", consumer=self.name, status=status, description=desc)
            self._broken = True

    async def _repair(self) -> None:
        await asyncio.sleep(_BACKOFF_S)
        try:
            await self.ensure()
        except Exception as exc:  # noqa: BLE001 - keep trying while NATS is away
            log.warning("consumer_ensure_failed", consumer=self.name, error=type(exc).__name__)
            return
        self._broken = False
        self.reset()

    async def _touch_loop(self) -> None:
        period = self._ack_wait_s / 3
        while self._running:
            await asyncio.sleep(period)
            at = time.monotonic()
            stale = [reply for reply, since in self._held.items() if at - since > period]
            for reply in stale:
                self._held[reply] = at
                await self._nc.publish(reply, WPI)

    async def ack(self, replies: Sequence[str]) -> None:
        """Acknowledge messages this consumer handed out (and erase those marked for it)."""
        held, publish = self._held, self._nc.publish
        erase = self._erase
        for reply in replies:
            if held.pop(reply, None) is not None:
                await publish(reply, ACK)
                if erase and reply in erase:
                    erase.discard(reply)
                    self._spawn_erase(reply)
        self._wake.set()

    def backlog(self, reply: str) -> int:
        """Messages pending for this consumer behind the one of `reply` (from its ack subject:
        the server's count when it delivered it)."""
        return ack_pending(reply)

    def erase_on_ack(self, reply: str) -> None:
        """Delete the message from its stream (overwriting it) once it is acknowledged; given
        back instead, it is not deleted (it comes back and is marked again)."""
        self._erase.add(reply)

    def _spawn_erase(self, reply: str) -> None:
        task = asyncio.get_running_loop().create_task(self._erase_now(reply))
        self._erasing.add(task)
        task.add_done_callback(self._erasing.discard)

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
        body = NAK
        if delay_s:
            body = NAK + b" " + orjson.dumps({"delay": int(delay_s * 1e9)})
        for reply in replies:
            self._erase.discard(reply)
            if self._held.pop(reply, None) is not None:
                await self._nc.publish(reply, body)
        self._wake.set()

    async def fail(self, replies: Sequence[str]) -> None:
        """Give messages back after a failure, each after a delay growing with its deliveries."""
        failed = metrics.child(metrics.FAILED_MESSAGES, self.name)
        for reply in replies:
            self._erase.discard(reply)
            if self._held.pop(reply, None) is None:
                continue
            deliveries, _ = ack_info(reply)
            delay = redelivery_delay(deliveries, self._delay_s, self._delay_max_s)
            await self._nc.publish(reply, NAK + b" " + orjson.dumps({"delay": int(delay * 1e9)}))
            failed.inc()
        self._wake.set()

    async def term(self, reply: str, reason: str, account_id: str | None = None) -> None:
        """Terminate a message that can never be handled; log it once (no body) and count it."""
        self._erase.discard(reply)
        if self._held.pop(reply, None) is None:
            return
        await self._nc.publish(reply, TERM + b" " + reason.encode())
        self._wake.set()
        metrics.child(metrics.INVALID_MESSAGES, self.name).inc()
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
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def close(self) -> None:
        """Give back every message still held, and drop the inbox subscription."""
        pending = self._burying | self._erasing
        if pending:
            await asyncio.wait(pending, timeout=PUBLISH_WAIT_S)
        await self.nak(list(self._held))
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
