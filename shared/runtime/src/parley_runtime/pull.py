"""One process's share of a durable JetStream pull consumer: routing-svc's and webhook-svc's
hot-path loop.

Pulling: rather than nats-py's `fetch` (which waits for each batch to fill or time out), pull
requests stay open on the server (at most `batch` messages asked for, each request expiring
after `expires_seconds`, idle heartbeats), all on one wildcard inbox (`parley_runtime.pull_requests`
keeps their count): a message is handed over the moment it is stored. A watchdog gives up on
requests the server went quiet on (a reconnect, a lost request) and re-creates a deleted
consumer.

Holding: never more asked for than `max_in_flight` minus the messages held minus those asked
for, so a process holds a bounded number of unacknowledged messages however fast they come. A
message is held from its handover until settled (`ack`, `nak`, `fail`, `term`, or `release`
once it settled itself); one held a third of the ack wait gets an in-progress ack (one pass for
all, no timer each), so no other replica is handed it meanwhile. Any number of processes share
one durable: JetStream hands each message to one of them.

Giving up (`parley_runtime.redelivery` says why deliveries are counted here): `fail` gives a
message back after a delay doubling per delivery; after `max_deliver` tries it is copied to the
service's poison stream (`poison`, raising unless stored) and only then terminated. `give_up`
says what counts: `on_failure` (routing-svc: its handlers nak on purpose, to wait for a record
or an outcome, and those are no failures) or `on_arrival` (webhook-svc: every delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from parley_runtime.pull_requests import PullRequests
from parley_runtime.redelivery import ack_info, exhausted, redelivery_delay
from parley_runtime.tasks import cancel_and_wait

log = structlog.get_logger("parley_runtime.pull")

ACK = b"+ACK"
NAK = b"-NAK"
WPI = b"+WPI"
TERM = b"+TERM"
POISON_WAIT_S = 5.0
WITHDRAW_WAIT_S = 5.0
_BACKOFF_S = 0.5

Handover = Callable[[Any], Awaitable[None]]
"""Takes a held message (nats-py's `Msg`); an exception it lets out `fail`s the message."""
Count = Callable[[str], None]
"""Told each outcome: `invalid` (termed), `failed` (given back after a failure), `poisoned`
(copied, then termed), `not_stored` (the copy failed: it comes back)."""


@dataclass(frozen=True, slots=True)
class Durable:
    """A durable consumer: the stream it reads, its name, the subjects it takes."""

    stream: str
    name: str
    filter_subject: str


@dataclass(frozen=True, slots=True)
class Poisoned:
    """A message given up on, to be copied (bytes untouched) to a poison stream."""

    consumer: str
    stream: str
    subject: str
    sequence: int
    deliveries: int
    data: bytes
    error: str


Poison = Callable[[Poisoned], Awaitable[None]]
"""Stores the copy; raises unless the store confirmed it (the message then comes back)."""


@dataclass(frozen=True, slots=True)
class PullSettings:
    """How one consumer pulls, holds and gives up; the defaults are routing-svc's."""

    batch: int = 256
    max_in_flight: int = 2000
    ack_wait_seconds: float = 60.0
    max_ack_pending: int = 10_000
    max_deliver: int = 20
    redelivery_delay_seconds: float = 1.0
    redelivery_delay_max_seconds: float = 60.0
    expires_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    give_up: Literal["on_failure", "on_arrival"] = "on_failure"
    update_existing: bool = False
    """Whether `ensure` updates an existing consumer to this configuration (else keeps it)."""


# nats-py, not FastStream, on this hot path: measured on a durable pull consumer with explicit
# acks, FastStream's pull subscriber handled 0.20-0.28x the events per second of nats-py's
# fetch + ack (6,700-9,000 against 31,700-35,700/s, `python -m
# parley_devtools.bench.faststream_cost`, docs/performance.md "FastStream on a hot path").
class PullLoop:
    """One durable pull consumer of one stream, as used by one process."""

    def __init__(
        self,
        nc: Any,
        durable: Durable,
        *,
        handover: Handover,
        poison: Poison,
        settings: PullSettings | None = None,
        count: Count = lambda _: None,
        account_of: Callable[[str], str | None] | None = None,
    ) -> None:
        """Describe the consumer; nothing happens until `start`. `account_of(subject)` names
        the account in the poison log line (ids only)."""
        self.name, self.stream = durable.name, durable.stream
        self.filter_subject = durable.filter_subject
        self.settings = s = settings or PullSettings()
        self._nc, self._handover, self._poison = nc, handover, poison
        self._count, self._account_of = count, account_of
        self._heartbeat = min(s.heartbeat_seconds, s.expires_seconds / 2)
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.name}"
        self._held: dict[str, tuple[float, Any]] = {}  # reply -> (since, message)
        self._requests = PullRequests()
        self._inbox = ""
        self._sub: Any = None
        self._watch: asyncio.Task[None] | None = None
        self._burying: set[asyncio.Task[None]] = set()
        self._wake, self._last_heard = asyncio.Event(), time.monotonic()
        self._running = self._broken = False

    @property
    def held(self) -> int:
        """Messages handed over and not yet settled."""
        return len(self._held)

    def holds(self, reply: str) -> bool:
        """Whether the message of this ack subject is held (handed over, not yet settled)."""
        return reply in self._held

    def config(self) -> ConsumerConfig:
        """The durable consumer's configuration."""
        s = self.settings
        return ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            filter_subject=self.filter_subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait_seconds,
            max_deliver=-1,  # counted here: see parley_runtime.redelivery
            max_ack_pending=s.max_ack_pending,
            max_waiting=512,
        )

    async def ensure(self) -> None:
        """Create the durable consumer when it does not exist; an existing one is kept, or
        updated to this configuration when `update_existing`."""
        js = self._nc.jetstream()
        if not self.settings.update_existing:
            with contextlib.suppress(NotFoundError):
                await js.consumer_info(self.stream, self.name)
                return
        await js.add_consumer(self.stream, config=self.config())

    async def start(self) -> None:
        """Ensure the consumer, subscribe to the inbox and pull until `stop`."""
        await self.ensure()
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(
            self._inbox + ".*",
            cb=self._on_msg,
            pending_msgs_limit=self.settings.max_in_flight * 4 + 1024,
            pending_bytes_limit=-1,  # bounded by the count: never more asked for
        )
        self._running = True
        self._requests.clear()  # a loop started again: its requests went with the old inbox
        self._last_heard = time.monotonic()
        self._watch = asyncio.get_running_loop().create_task(
            self._watchdog(), name=f"pull-{self.name}"
        )
        await self._pull()

    def reset(self) -> None:
        """Forget outstanding pull requests (after a reconnect the server may have lost them)."""
        self._requests.clear()
        self._wake.set()

    async def _pull(self) -> None:
        """Ask for as many messages as there is room for, unless too few to be worth a request
        while others are still open."""
        if not self._running or self._broken:
            return
        s, asked = self.settings, self._requests.outstanding
        want = min(s.max_in_flight - len(self._held) - asked, s.batch - asked)
        if want <= 0 or (asked and want < max(1, s.batch // 4)):
            return
        token = self._requests.open(want, time.monotonic(), s.expires_seconds)
        body = {
            "batch": want,
            "expires": int(s.expires_seconds * 1e9),
            "idle_heartbeat": int(self._heartbeat * 1e9),
        }
        try:
            await self._nc.publish(self._next, orjson.dumps(body), reply=f"{self._inbox}.{token}")
        except Exception as exc:  # noqa: BLE001 - the watchdog asks again
            self._requests.close(token)
            log.warning("pull_request_failed", consumer=self.name, error=type(exc).__name__)

    async def _on_msg(self, msg: Any) -> None:
        self._last_heard = time.monotonic()
        reply = msg.reply
        if not reply:
            self._on_status(msg.subject[len(self._inbox) + 1 :], msg.headers or {})
            await self._pull()
            return
        self._requests.charge()
        if not self._running:
            await self._nc.publish(reply, NAK)
            return
        self._held[reply] = (self._last_heard, msg)
        if self.settings.give_up == "on_arrival":
            deliveries, sequence = ack_info(reply)
            if exhausted(deliveries, self.settings.max_deliver):
                self._spawn_bury(msg, deliveries, sequence, "max deliveries")
                return
        try:
            await self._handover(msg)
        except Exception as exc:  # noqa: BLE001 - give the message back, keep consuming
            _, sequence = ack_info(reply)
            error = type(exc).__name__
            log.error(  # noqa: TRY400 - no traceback: ids only
                "message_handler_failed", consumer=self.name, stream_seq=sequence, error=error
            )
            await self.fail([reply], error)
            return
        await self._pull()  # a filled request leaves room to ask for more

    def _on_status(self, token: str, headers: dict[str, str]) -> None:
        status = headers.get("Status", "")
        if status == "100":  # idle heartbeat: the request is alive
            return
        self._requests.close(token)
        if status in ("503", "409") and "MaxWaiting" not in str(headers):
            description = headers.get("Description", "")
            log.warning("pull_status", consumer=self.name, status=status, description=description)
            self._broken = True
            self._wake.set()

    async def ack(self, replies: Sequence[str]) -> None:
        """Acknowledge messages this loop handed over (the work is durable elsewhere)."""
        held, publish = self._held, self._nc.publish
        for reply in replies:
            if held.pop(reply, None) is not None:
                await publish(reply, ACK)
        await self._pull()

    async def nak(self, replies: Sequence[str], delay_s: float | None = None) -> None:
        """Give messages back for redelivery (after `delay_s`, when given)."""
        body = NAK + b" " + orjson.dumps({"delay": int(delay_s * 1e9)}) if delay_s else NAK
        for reply in replies:
            if self._held.pop(reply, None) is not None:
                await self._nc.publish(reply, body)
        await self._pull()

    async def fail(self, replies: Sequence[str], error: str = "") -> None:
        """Give messages back after a failure, each after a delay growing with its deliveries;
        with `give_up="on_failure"`, one that has had its last try goes to the poison stream."""
        s = self.settings
        for reply in replies:
            entry = self._held.get(reply)
            if entry is None:
                continue
            deliveries, sequence = ack_info(reply)
            if s.give_up == "on_failure" and deliveries >= s.max_deliver:
                await self._bury(entry[1], deliveries, sequence, error)
                continue
            del self._held[reply]
            delay = redelivery_delay(
                deliveries, s.redelivery_delay_seconds, s.redelivery_delay_max_seconds
            )
            await self._nc.publish(reply, NAK + b" " + orjson.dumps({"delay": int(delay * 1e9)}))
            self._count("failed")
        await self._pull()

    async def term(self, reply: str, reason: str) -> bool:
        """Terminate a message that can never be handled (counted `invalid`); False when it
        was not held (settled already). The caller logs it (ids only)."""
        if self._held.pop(reply, None) is None:
            return False
        await self._nc.publish(reply, TERM + b" " + reason.encode())
        self._count("invalid")
        await self._pull()
        return True

    async def release(self, reply: str) -> None:
        """Forget a message that settled itself (nats-py's `msg.ack()` and the like)."""
        if self._held.pop(reply, None) is not None:
            await self._pull()

    def _spawn_bury(self, msg: Any, deliveries: int, sequence: int, error: str) -> None:
        task = asyncio.get_running_loop().create_task(self._bury(msg, deliveries, sequence, error))
        self._burying.add(task)
        task.add_done_callback(self._burying.discard)

    async def _bury(self, msg: Any, deliveries: int, sequence: int, error: str) -> None:
        """Copy a message that had its last try to the poison stream, then terminate it; a
        copy that is not stored gives it back for later instead."""
        copy = Poisoned(self.name, self.stream, msg.subject, sequence, deliveries, msg.data, error)
        try:
            await self._poison(copy)
        except Exception as exc:  # noqa: BLE001 - not stored: it comes back later
            log.error(  # noqa: TRY400 - no traceback: ids only
                "poison_not_stored", consumer=self.name, stream_seq=sequence, error=str(exc)
            )
            self._count("not_stored")
            await self.nak([msg.reply], self.settings.redelivery_delay_max_seconds)
            return
        if self._held.pop(msg.reply, None) is None:
            return  # given back meanwhile (shutdown): it comes back and is copied again (de-duped)
        await self._nc.publish(msg.reply, TERM + b" max deliveries")
        self._count("poisoned")
        account_id = self._account_of(msg.subject) if self._account_of else None
        log.error(
            "message_poisoned",
            consumer=self.name,
            stream_seq=sequence,
            account_id=account_id,
            deliveries=deliveries,
            error=error,
        )
        await self._pull()

    async def _watchdog(self) -> None:
        """Repair a broken consumer, forget expired or silent requests, keep held messages
        alive, and ask again."""
        s = self.settings
        tick = min(self._heartbeat, s.ack_wait_seconds / 6)
        while self._running:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                # that lands as the wait ends, and this loop would outlive its cancel().
                async with asyncio.timeout(tick):
                    await self._wake.wait()
            if self._broken:
                await self._repair()
            now = time.monotonic()
            self._requests.expire(now)
            if self._requests and now - self._last_heard > 2 * self._heartbeat + 1:
                self._last_heard = now
                self._broken = True  # until the consumer is known to exist again
                await self._repair()
                continue
            await self._touch(now)
            await self._pull()

    async def _repair(self) -> None:
        await asyncio.sleep(_BACKOFF_S)
        try:
            await self.ensure()
        except Exception as exc:  # noqa: BLE001 - keep trying while NATS is away
            log.warning("consumer_ensure_failed", consumer=self.name, error=type(exc).__name__)
            return
        self._broken = False
        self.reset()

    async def _touch(self, now: float) -> None:
        """An in-progress ack for every message held a third of the ack wait since it came or
        was last touched."""
        due = now - self.settings.ack_wait_seconds / 3
        stale = [reply for reply, (since, _) in self._held.items() if since <= due]
        for reply in stale:
            self._held[reply] = (now, self._held[reply][1])
            await self._nc.publish(reply, WPI)

    async def stop(self) -> None:
        """Stop pulling and touching, and withdraw the inbox: the server drops this process's
        open pull requests, so a message given back from now on goes to another process (or
        waits for one), never back here. Messages already on their way are given back."""
        self._running = False
        await cancel_and_wait(self._watch)
        self._watch = None
        await self._withdraw()

    async def _withdraw(self) -> None:
        """Unsubscribe the inbox and wait for the server's answer to a ping sent after it.

        While the inbox has a subscriber its open pull requests stay on the server, and a
        message given back (`nak`) is handed straight to one of them: back here, where a
        stopped loop gives it back again. Measured before this existed: 7 messages given back
        at shutdown went round 256 times in 0.3 s, and the ones on their way when the inbox
        was finally dropped stayed unacknowledged for the whole ack wait, each with a
        delivery count that made the next process give it up at once. With no subscriber the
        server discards the requests (no interest), so what is given back after this waits
        for another process. What arrives before the server's answer is handled (given back)
        by `_on_msg` first."""
        sub, self._sub = self._sub, None
        if sub is None:
            return
        with contextlib.suppress(Exception):  # a closed connection has no requests left
            async with asyncio.timeout(WITHDRAW_WAIT_S):  # NATS away: its requests expire
                await sub.drain()

    async def close(self, *, give_back: bool = True) -> None:
        """Let poison copies finish, give back every message still held (unless `give_back`
        is False: then they come back after the ack wait), and drop the inbox subscription."""
        if self._burying:
            await asyncio.wait(set(self._burying), timeout=POISON_WAIT_S)
        if give_back:
            await self.nak(list(self._held))
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None


async def _no_poison_store(copy: Poisoned) -> None:
    """A `Follower`'s `Poison`: its handler settles every message and lets nothing out, so the
    loop never gives one up; were it asked to, refusing leaves the message to come back."""
    raise RuntimeError(f"no poison store for {copy.stream} message {copy.sequence}")


class Follower(ABC):
    """A durable consumer whose `handle` settles each message itself (`msg.ack()`,
    `msg.nak(delay=...)`, `msg.term()`) and lets no exception out: the low-volume consumers
    (account-svc's provisioner, webhook-svc's purge) rather than the hot path's. A `PullLoop`
    underneath, so it stops as the hot-path loops do: after the message in hand
    (`WITHDRAW_WAIT_S` at most), its open requests withdrawn, what it still holds given back.

    Why not nats-py's `fetch` in a task: a task cancelled in a `fetch` left its pull request
    open on the server (a message handed to it waited out the ack wait), and `fetch` takes
    messages off its queue without marking them done, so the connection's drain at shutdown
    waited out its whole timeout (5 s in account-svc, 30 s in webhook-svc)."""

    def __init__(self, nc: Any, durable: Durable, settings: PullSettings) -> None:
        """Describe the consumer; nothing happens until `start`."""
        self._loop = PullLoop(
            nc, durable, handover=self._handover, poison=_no_poison_store, settings=settings
        )

    @abstractmethod
    async def handle(self, msg: Any) -> None:
        """Handle one message and settle it (the subclass's work)."""

    async def start(self) -> None:
        """Ensure the consumer and start following it."""
        await self._loop.start()

    async def stop(self) -> None:
        """Stop after the message in hand; give back what is not done, at once."""
        await self._loop.stop()
        await self._loop.close()

    def reset(self) -> None:
        """Ask again at once (after a reconnect the server lost the open pull requests)."""
        self._loop.reset()

    async def _handover(self, msg: Any) -> None:
        await self.handle(msg)
        await self._loop.release(msg.reply)
