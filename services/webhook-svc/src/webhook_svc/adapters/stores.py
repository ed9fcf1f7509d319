"""JetStream stores: the retry queue (message schedules), dead letters and the delivery log.

- WEBHOOK_RETRY (work queue, message schedules): a batch waiting for its next attempt is one
  schedule message on `retry_at.<account>.<batch id>` whose `@at` time fires a copy onto
  `retry_due.<account>`, which the workers' durable consumer takes. The schedule lives in the
  stream, so a waiting retry survives any worker crash (and a server restart). The server
  refuses `discard: new` on a stream with message schedules, and at its limits it would drop
  the *oldest* waiting retries; so writers stop at `FILL_LIMIT` of the stream's `max_msgs` /
  `max_bytes` (read from the server at most every `STATE_TTL_S`, counting their own writes
  since): a write refused then fails like any unconfirmed one, and its source messages are
  given back, never acknowledged.
- WEBHOOK_DEAD_LETTERS: one subject per dead letter, purged when its replay is delivered;
  `discard: new`, so a full store refuses the write (the events come back later).
- WEBHOOK_DELIVERIES: one subject per account, the last 200 attempts kept; written with core
  publishes (best effort, never awaited on the hot path).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import orjson
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from parley_runtime import tracing
from parley_runtime.tasks import SingleFlight
from parley_shared import subjects
from parley_shared.timefmt import format_ts, now

from webhook_svc import metrics
from webhook_svc.adapters.codec import (
    BodySeal,
    decode_dead_letter,
    encode_dead_letter,
    encode_delivery,
    public_dead_letter,
)
from webhook_svc.domain.records import DeadLetter, Delivery
from webhook_svc.errors import StoreUnavailable

log = structlog.get_logger("webhook_svc.stores")

FILL_LIMIT = 0.9
STATE_TTL_S = 1.0
_OVERHEAD_BYTES = 128  # subject, headers and the server's own record, roughly
SCHEDULE = "Nats-Schedule"
SCHEDULE_TARGET = "Nats-Schedule-Target"
MIN_SCHEDULE_S = 0.05
PUBLISH_TIMEOUT_S = 5.0
_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
T = TypeVar("T")


def schedule_token(batch_id: str) -> str:
    """A subject token naming a batch's schedule (the id itself when it is token-safe)."""
    if _SAFE.match(batch_id):
        return batch_id
    return hashlib.sha256(batch_id.encode()).hexdigest()[:40]


def describe(exc: BaseException) -> str:
    """A short reason for a failed JetStream call (the server's own words for an API error,
    such as `maximum messages exceeded` from a full stream)."""
    description = getattr(exc, "description", None)
    name = type(exc).__name__
    return f"{name}: {description}" if description else name


class StreamFull(Exception):
    """WEBHOOK_RETRY holds `FILL_LIMIT` of its limits: writers stop before the server would
    discard the oldest waiting retries."""


class RetryQueue:
    """Batches waiting for their next attempt, on WEBHOOK_RETRY."""

    def __init__(
        self, js: Any, fill_limit: float = FILL_LIMIT, seal: BodySeal | None = None
    ) -> None:
        """Use this JetStream context (and `seal` for protected accounts' bodies)."""
        self._js = js
        self._seal = seal
        self._fill_limit = fill_limit
        self._state: tuple[float, int, int, int, int] | None = None  # at, msgs, bytes, limits
        self._since = [0, 0]  # messages and bytes this process wrote since `_state` was read
        self._reading: SingleFlight[None, tuple[float, int, int, int, int]] = SingleFlight()

    async def _refresh(self) -> tuple[float, int, int, int, int]:
        state = self._state
        if state is not None and time.monotonic() - state[0] < STATE_TTL_S:
            return state
        return await self._reading.run(None, self._read_state)  # one read for all who wait

    async def _read_state(self) -> tuple[float, int, int, int, int]:
        info = await self._js.stream_info(subjects.STREAM_WEBHOOK_RETRY)
        config, held = info.config, info.state
        state = (
            time.monotonic(),
            int(held.messages),
            int(held.bytes),
            int(config.max_msgs or -1),
            int(config.max_bytes or -1),
        )
        self._state, self._since = state, [0, 0]
        return state

    async def _reserve(self, size: int) -> None:
        """Count one write of `size` bytes; StreamFull when it would pass the fill limit."""
        _, msgs, held_bytes, max_msgs, max_bytes = await self._refresh()
        msgs += self._since[0] + 1
        held_bytes += self._since[1] + size
        if (max_msgs > 0 and msgs > self._fill_limit * max_msgs) or (
            max_bytes > 0 and held_bytes > self._fill_limit * max_bytes
        ):
            raise StreamFull(f"{subjects.STREAM_WEBHOOK_RETRY} is full")
        self._since[0] += 1
        self._since[1] += size

    async def schedule(self, delivery: Delivery, delay_s: float) -> None:
        """Hold `delivery` durably and make it due after `delay_s` (at once when ~0)."""
        due = subjects.webhook_retry_due(delivery.account_id, delivery.traffic_class)
        headers: dict[str, str] | None = None
        subject = due
        if delay_s > MIN_SCHEDULE_S:
            at = now() + timedelta(seconds=delay_s)
            token = schedule_token(delivery.batch_id)
            subject = subjects.webhook_retry_at(delivery.account_id, token)
            headers = {SCHEDULE: f"@at {format_ts(at)}", SCHEDULE_TARGET: due}
        # the next attempt's span: a child of this one's (or, deferred before any attempt,
        # of the first message behind the batch)
        headers = tracing.inject(headers, delivery.traces[0] if delivery.traces else None)
        data = encode_delivery(delivery, self._seal)
        try:
            await self._reserve(len(data) + len(subject) + _OVERHEAD_BYTES)
            await self._js.publish(subject, data, headers=headers, timeout=PUBLISH_TIMEOUT_S)
        except Exception as exc:
            metrics.STORE_ERRORS.labels("retry").inc()
            raise StoreUnavailable(f"retry not stored: {describe(exc)}") from exc


async def read_subject(
    js: Any,
    stream: str,
    filter_subject: str,
    convert: Callable[[bytes], T],
    last: int | None = None,
) -> list[T]:
    """The messages on `filter_subject` of `stream`, oldest first, each passed through `convert`.

    With `last`, only the last `last` messages are converted and kept; the others are read and
    dropped as they arrive, so at most `last` raw messages (or one fetch) are held at a time.
    """
    config = ConsumerConfig(
        filter_subject=filter_subject,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=30.0,
        mem_storage=True,
        num_replicas=1,
    )
    info = await js.add_consumer(stream, config=config)
    kept: deque[bytes] = deque(maxlen=last)
    out: list[T] = []
    try:
        pending = info.num_pending
        if pending:
            sub = await js.pull_subscribe_bind(info.name, stream)
            try:
                while pending:
                    try:
                        msgs = await sub.fetch(min(256, pending), timeout=1)
                    except TimeoutError:
                        break  # purged meanwhile: what was read is all there is
                    for m in msgs:
                        if last is None:
                            out.append(convert(m.data))
                        else:
                            kept.append(m.data)
                    pending = msgs[-1].metadata.num_pending
            finally:  # also on an error: a subscription left behind holds up the drain
                await sub.unsubscribe()
    finally:
        try:
            await js.delete_consumer(stream, info.name)
        except Exception as exc:  # noqa: BLE001 - it expires by itself anyway
            log.debug("ephemeral_consumer_not_deleted", error=type(exc).__name__)
    return out if last is None else [convert(data) for data in kept]


class DeadLetterStore:
    """Dead letters on WEBHOOK_DEAD_LETTERS."""

    def __init__(self, js: Any, seal: BodySeal | None = None) -> None:
        """Use this JetStream context (and `seal` for protected accounts' bodies)."""
        self._js = js
        self._seal = seal

    async def add(self, letter: DeadLetter) -> None:
        """Store a dead letter; StoreUnavailable unless JetStream confirms it."""
        subject = subjects.webhook_dead_letter(letter.delivery.account_id, letter.id)
        try:
            data = encode_dead_letter(letter, self._seal)
            await self._js.publish(subject, data, timeout=PUBLISH_TIMEOUT_S)
        except Exception as exc:
            metrics.STORE_ERRORS.labels("dead_letter").inc()
            raise StoreUnavailable(f"dead letter not stored: {describe(exc)}") from exc

    async def remove(self, account_id: str, dead_letter_id: str) -> None:
        """Remove one dead letter (no error when it is gone already)."""
        subject = subjects.webhook_dead_letter(account_id, dead_letter_id)
        try:
            await self._js.purge_stream(subjects.STREAM_WEBHOOK_DEAD_LETTERS, subject=subject)
        except Exception as exc:
            metrics.STORE_ERRORS.labels("dead_letter").inc()
            raise StoreUnavailable(f"dead letter not removed: {type(exc).__name__}") from exc

    async def get(self, account_id: str, dead_letter_id: str) -> DeadLetter | None:
        """One dead letter of the account, or None."""
        subject = subjects.webhook_dead_letter(account_id, dead_letter_id)
        try:
            msg = await self._js.get_last_msg(subjects.STREAM_WEBHOOK_DEAD_LETTERS, subject)
        except NotFoundError:
            return None
        if not msg.data:
            return None
        return decode_dead_letter(msg.data, self._seal)

    async def list(self, account_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The account's dead letters, newest first: all of them, or the newest `limit`.

        Only each letter's metadata line is parsed (never its body), and only for the letters
        returned.
        """
        letters = await read_subject(
            self._js,
            subjects.STREAM_WEBHOOK_DEAD_LETTERS,
            subjects.webhook_dead_letters_of(account_id),
            public_dead_letter,
            limit,
        )
        letters.reverse()
        return letters


class AttemptLog:
    """The delivery log on WEBHOOK_DELIVERIES."""

    def __init__(self, nc: Any) -> None:
        """Use this NATS connection."""
        self._nc = nc

    async def append(self, account_id: str, entry: Mapping[str, Any]) -> None:
        """Record one attempt with a core publish (stored by JetStream, not awaited)."""
        try:
            await self._nc.publish(subjects.webhook_attempt_log(account_id), orjson.dumps(entry))
        except Exception as exc:  # noqa: BLE001 - the log is best effort by design
            metrics.STORE_ERRORS.labels("delivery_log").inc()
            log.warning("delivery_log_write_failed", error=type(exc).__name__)

    async def recent(self, account_id: str, limit: int) -> list[dict[str, Any]]:
        """The account's last `limit` attempts, newest first."""
        entries: list[dict[str, Any]] = await read_subject(
            self._nc.jetstream(),
            subjects.STREAM_WEBHOOK_DELIVERIES,
            subjects.webhook_attempt_log(account_id),
            orjson.loads,
            limit,
        )
        entries.reverse()
        return entries
