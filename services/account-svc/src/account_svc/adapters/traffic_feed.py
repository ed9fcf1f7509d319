"""The Traffic view's sources: STATUS and webhook-svc's delivery log followed from an hour
back into a `TrafficTally`, and the depth of every queue asked of JetStream.

Following starts with the first traffic request (not at start: an account-svc nobody looks
at pays nothing) and stops after `idle_s` without one. Each stream is followed with an
ordered push consumer (ephemeral, in memory, recreated by nats-py after a gap) from an hour
back; when the stream holds more than `replay_max` messages it starts that many messages
before the end instead, so a busy hour costs a bounded replay, and the view says from which
minute its counts are complete (`complete_from`) and whether the replay still runs.

- STATUS (`parley.msg.v1.status.*`) carries every status event, for every account.
- WEBHOOK_DELIVERIES (`parley.webhook.v1.attempt_log.*`) is webhook-svc's delivery log: one
  entry per attempt with its outcome, on a subject per account. It keeps the last 200 per
  account, so the replay of a busy account's hour is partial; from the moment following
  starts every attempt is counted. (Why this and not webhook-svc's request/reply or its
  metrics: see the README, "Console".)

Queue depths come from JetStream's stream and consumer info: messages held by each stream,
and for each service's durable consumer the messages not yet delivered (`pending`) and those
delivered but not acknowledged (`in_hand`). A scoped admin sees only the SUBMIT messages of
its own accounts (per-subject counts of the stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from nats.js.api import ConsumerConfig, DeliverPolicy
from parley_runtime.follow import Follower
from parley_runtime.tasks import cancel_and_wait
from parley_shared import subjects
from parley_shared.streams import load_definitions

from account_svc.domain.traffic import TrafficTally, minute_of

log = structlog.get_logger("account_svc.traffic")

Fold = Callable[[str, dict[str, Any]], bool]
SERVICE_CONSUMERS = (
    (subjects.STREAM_SUBMIT, subjects.DURABLE_ROUTING_SUBMIT),
    (subjects.STREAM_ROUTING_REPORTS, subjects.DURABLE_ROUTING_REPORTS),
    (subjects.STREAM_ROUTING_REPORTS, subjects.DURABLE_ROUTING_RECEIPTS),
    (subjects.STREAM_ROUTING_REPORTS, subjects.DURABLE_ROUTING_USER_MESSAGES),
    (subjects.STREAM_ROUTING_TIMERS, subjects.DURABLE_ROUTING_TIMERS),
    (subjects.STREAM_STATUS, subjects.DURABLE_WEBHOOK_STATUS),
    (subjects.STREAM_INBOUND, subjects.DURABLE_WEBHOOK_INBOUND),
    (subjects.STREAM_WEBHOOK_RETRY, subjects.DURABLE_WEBHOOK_RETRY),
)
QUEUES_CACHE_S = 2.0  # viewers refreshing at once share one round of stream info


class StreamFollower:
    """Folds every message of one stream's subjects from an hour back, then as they come
    (on the services' one follower, `parley_runtime.follow`)."""

    def __init__(self, js: Any, stream: str, subject: str, fold: Fold, replay_max: int) -> None:
        self._js, self.stream, self._subject = js, stream, subject
        self._fold, self._replay_max = fold, replay_max
        self._follower: Follower | None = None
        self.complete_from: str | None = None
        self.failures = 0

    @property
    def loading(self) -> bool:
        """Whether the replay of what was stored at start still runs."""
        return self._follower is not None and not self._follower.caught_up.is_set()

    async def start(self, since: datetime) -> None:
        """Subscribe from `since` (or `replay_max` messages before the end, if later)."""
        state = (await self._js.stream_info(self.stream)).state
        self.complete_from = _next_minute(since.strftime("%Y-%m-%dT%H:%M"))
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since)
        if state.messages > self._replay_max:
            first = max(int(state.first_seq), int(state.last_seq) - self._replay_max + 1)
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first
            )
            self.complete_from = None  # known once the first message shows how far back it is
        self._follower = Follower(
            self._js,
            self.stream,
            self._subject,
            self._on_msg,
            config=config,
            pending_msgs_limit=100_000,
            on_caught_up=lambda: log.info("traffic_replay_done", stream=self.stream),
        )
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following."""
        if self._follower is not None:
            await self._follower.stop()

    def _on_msg(self, msg: Any) -> None:
        account_id = subjects.account_id_of(msg.subject)
        value: Any = None
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(msg.data)
        if isinstance(value, dict):
            self._fold(account_id, value)
        else:
            self.failures += 1
        if self.complete_from is None and isinstance(value, dict):
            first = minute_of(value.get("time") or value.get("at") or "")
            self.complete_from = _next_minute(first) if first else None


def _next_minute(minute: str) -> str:
    """The minute after `minute` (the first one whose counts are whole)."""
    at = datetime.strptime(minute, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
    return (at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")


class TrafficFeed:
    """The tally, the two followers (started on demand, stopped when idle) and queue depths."""

    def __init__(
        self,
        js: Any,
        tally: TrafficTally,
        *,
        idle_s: float,
        replay_max: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._js, self.tally, self._idle_s, self._clock = js, tally, idle_s, clock
        self.followers = [
            StreamFollower(
                js, subjects.STREAM_STATUS, subjects.STATUS_ALL, tally.fold_status, replay_max
            ),
            StreamFollower(
                js,
                subjects.STREAM_WEBHOOK_DELIVERIES,
                f"{subjects.WEBHOOK_ATTEMPT_LOG_PREFIX}.*",
                tally.fold_attempt,
                replay_max,
            ),
        ]
        self._following = False
        self._lock = asyncio.Lock()
        self._asked = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._queues: tuple[float, dict[str, Any]] | None = None

    @property
    def following(self) -> bool:
        """Whether the streams are being followed now."""
        return self._following

    async def ensure_following(self) -> None:
        """Start following (from an hour back) unless already; note that someone looked."""
        self._asked.set()
        if self._following:
            return
        async with self._lock:
            if self._following:
                return
            since = datetime.now(UTC) - timedelta(minutes=self.tally.minutes)
            try:
                for follower in self.followers:
                    await follower.start(since)
            except BaseException:
                for follower in self.followers:
                    await follower.stop()
                raise
            self._following = True
            self._watch = asyncio.create_task(self._stop_when_idle(), name="traffic-idle")
            log.info("traffic_following_started")

    async def _stop_when_idle(self) -> None:
        while True:
            self._asked.clear()
            try:
                await asyncio.wait_for(self._asked.wait(), self._idle_s)
            except TimeoutError:
                break
        await self._stop_following()
        log.info("traffic_following_stopped_idle")

    async def _stop_following(self) -> None:
        async with self._lock:
            for follower in self.followers:
                await follower.stop()
            self._following = False
            self.tally.clear()

    async def stop(self) -> None:
        """Stop following and the idle watch (shutdown)."""
        await cancel_and_wait(self._watch)
        self._watch = None
        await self._stop_following()

    def counts(self, accounts: Collection[str] | None) -> dict[str, Any]:
        """The tally's per-minute counts of `accounts` (None: every account)."""
        return self.tally.view(accounts)

    def status(self) -> dict[str, Any]:
        """Whether the replay runs, and from which minute the counts are complete."""
        known = [f.complete_from for f in self.followers]
        return {
            "loading": any(f.loading for f in self.followers),
            "complete_from": max(m for m in known if m) if all(known) else None,
        }

    # ------------------------------------------------------------------ queues
    async def queues(self, accounts: Collection[str] | None, platform: bool) -> dict[str, Any]:
        """Queue depths: every stream and service consumer for a platform user; the SUBMIT
        messages of `accounts` (None: all) for everyone."""
        answer: dict[str, Any] = {"streams": None}
        if platform:
            answer["streams"] = await self._platform_queues()
        submit = subjects.STREAM_SUBMIT
        info = await self._js.stream_info(submit, subjects_filter=subjects.SUBMIT_ALL)
        waiting = info.state.subjects or {}
        answer["submit_waiting"] = sum(
            count
            for subject, count in waiting.items()
            if accounts is None or subjects.account_id_of(subject) in accounts
        )
        return answer

    async def _platform_queues(self) -> list[dict[str, Any]]:
        cached = self._queues
        if cached is not None and self._clock() - cached[0] < QUEUES_CACHE_S:
            rows: list[dict[str, Any]] = cached[1]["rows"]
            return rows
        names = [definition["name"] for definition in load_definitions()]
        infos = await asyncio.gather(
            *(self._js.stream_info(name) for name in names), return_exceptions=True
        )
        consumers = await asyncio.gather(
            *(self._js.consumer_info(stream, durable) for stream, durable in SERVICE_CONSUMERS),
            return_exceptions=True,
        )
        by_stream: dict[str, list[dict[str, Any]]] = {}
        for (stream, durable), consumer in zip(SERVICE_CONSUMERS, consumers, strict=True):
            if isinstance(consumer, BaseException):
                continue  # the service never ran here: no consumer yet
            by_stream.setdefault(stream, []).append(
                {
                    "name": durable,
                    "pending": int(consumer.num_pending or 0),
                    "in_hand": int(consumer.num_ack_pending or 0),
                }
            )
        rows = []
        for name, info in zip(names, infos, strict=True):
            if isinstance(info, BaseException):
                continue
            rows.append(
                {
                    "stream": name,
                    "messages": int(info.state.messages),
                    "bytes": int(info.state.bytes),
                    "consumers": by_stream.get(name, []),
                }
            )
        self._queues = (self._clock(), {"rows": rows})
        return rows
