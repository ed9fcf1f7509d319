"""One SMPP transceiver bind that stays bound (CONTRACT section 9): the reconnect loop.

`SmppBind` keeps one `SmppConnection` up: after any loss (the SMSC closed or unbound, a link
unanswered for `link_timeout_s`, a socket error) or refusal (a bind answered with an error
status, a connection refused) it binds again after a back-off of 1 s, 2 s, 4 s, ... up to 30 s,
back to 1 s once a bind succeeds. Its state (`up`, `last_error`, `window_in_use`, `stats`) is
plain attributes for the metrics to read, and an optional `BindObserver` hears every change.

`submit(parts, wait_s=...)` sends one message's parts, in order, on one connection, each part
only after the previous one was accepted (so a refused part stops the rest: nothing more of a
failed message goes out). While the bind is down, or the window is full, the first part waits,
at most `wait_s` seconds, and then `SmppUnavailable` says nothing was sent. Once a part has
been written its fate is in its `SubmitOutcome`: answered (with the status), connection lost
or no response (the SMSC may have it: at most one duplicate if offered again), and the parts
after it `NOT_SENT`.

`close()` is the clean shutdown: no new submits, up to `drain_timeout_s` (5 s) for the
outstanding responses, then `unbind`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import structlog
from parley_runtime.tasks import cancel_and_wait

from routing_svc.adapters.providers.smpp.outcomes import (
    BindRefused,
    ConnectionLost,
    FramingError,
    NotSent,
    PartResult,
    SmppError,
    SubmitOutcome,
)
from routing_svc.adapters.providers.smpp.pdu import Delivery, SubmitPart
from routing_svc.adapters.providers.smpp.session import DeliverCallback, SmppConnection, Timers

log = structlog.get_logger("routing_svc.smpp")

Sleep = Callable[[float], Awaitable[Any]]
State = Literal["starting", "up", "down", "closed"]


class SmppUnavailable(SmppError):
    """No bound connection (or no window slot) within the caller's `wait_s`: nothing was sent."""


@dataclass(frozen=True, slots=True)
class BindConfig:
    """Where and how to bind (the route's `smpp` object) and the session's timings."""

    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    window: int = 10
    timers: Timers = field(default_factory=Timers)
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    drain_timeout_s: float = 5.0


def backoff_delay(failures: int, initial_s: float = 1.0, max_s: float = 30.0) -> float:
    """The wait before bind attempt number `failures` + 1 after that many failures in a row:
    1, 2, 4, 8, 16, 30, 30, ... seconds by default."""
    return float(min(max_s, initial_s * 2 ** max(0, min(failures - 1, 30))))


class BindObserver(Protocol):
    """Hears what the metrics count (the lead's Prometheus wiring implements it)."""

    def state_changed(self, up: bool, error: str | None) -> None:
        """The bind came up (error None) or went down / failed to bind (error says why)."""

    def part_finished(self, outcome: SubmitOutcome) -> None:
        """A part written to the SMSC was answered, lost with its connection, or unanswered."""

    def delivery_handled(self, ok: bool) -> None:
        """A `deliver_sm` callback returned (ok: answered 0) or raised (answered 0x64)."""


@dataclass(slots=True)
class BindStats:
    """Counters since the bind was made (for tests, benchmarks and a metrics collector)."""

    binds: int = 0
    bind_failures: int = 0
    losses: int = 0
    parts_sent: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    unanswered: Counter[str] = field(default_factory=Counter)
    deliveries_ok: int = 0
    deliveries_failed: int = 0


class SmppBind:
    """One transceiver bind with its reconnect loop (`start()` ... `close()`)."""

    def __init__(
        self,
        config: BindConfig,
        on_deliver: DeliverCallback,
        *,
        name: str = "smpp",
        observer: BindObserver | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.name = name
        self._on_deliver = on_deliver
        self._observer = observer
        self._sleep = sleep
        self.state: State = "starting"
        self.last_error: str | None = None
        self.last_failure: tuple[str, float] | None = None  # (error, epoch s), kept once up again
        self.stats = BindStats()
        self._connection: SmppConnection | None = None
        self._up = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._log = log.bind(route=name)

    # ---------------------------------------------------------------- state
    @property
    def up(self) -> bool:
        """Whether a bound connection is live now."""
        return self._connection is not None and not self._connection.closed

    @property
    def window_in_use(self) -> int:
        """Submits awaiting their response on the live connection."""
        return self._connection.window_in_use if self._connection is not None else 0

    async def wait_up(self, within_s: float) -> bool:
        """Wait at most `within_s` seconds for the bind to be up; whether it is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), within_s)
        return self.up

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start binding in the background (`wait_up` to wait for it)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"smpp-bind-{self.name}")

    async def close(self) -> None:
        """Unbind cleanly (outstanding responses get up to `drain_timeout_s`) and stop."""
        self._stopping = True
        self._up.set()  # wake submits waiting for a bind: they see the bind closing
        connection = self._connection
        if connection is not None:
            await connection.unbind(self.config.drain_timeout_s)
        await cancel_and_wait(self._task)
        if self._connection is not None:
            self._connection.abort("closed")
        self._connection = None
        self.state = "closed"

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            error = await self._connect_once()
            if error is None:
                failures = 0
                error = await self._stay_up()
            if self._stopping:
                return
            failures += 1
            delay = backoff_delay(
                failures, self.config.backoff_initial_s, self.config.backoff_max_s
            )
            self._log.warning("smpp_bind_down", error=error, retry_in_s=delay)
            await self._sleep(delay)

    async def _connect_once(self) -> str | None:
        """Bind once; None on success, else why not (also in `last_error`)."""
        config = self.config
        try:
            self._connection = await SmppConnection.open(
                config.host,
                config.port,
                system_id=config.system_id,
                password=config.password,
                system_type=config.system_type,
                window=config.window,
                on_deliver=self._deliver,
                timers=config.timers,
            )
        except BindRefused as exc:
            return self._failed(f"bind_refused_{exc.status:#04x}")
        except (OSError, TimeoutError, ConnectionLost, FramingError) as exc:
            return self._failed(f"connect_failed_{type(exc).__name__}")
        self.stats.binds += 1
        self.state, self.last_error = "up", None
        self._up.set()
        self._log.info("smpp_bind_up")
        if self._observer is not None:
            self._observer.state_changed(True, None)
        return None

    def _failed(self, error: str) -> str:
        self.stats.bind_failures += 1
        self.state, self.last_error = "down", error
        self.last_failure = (error, time.time())
        if self._observer is not None:
            self._observer.state_changed(False, error)
        return error

    async def _stay_up(self) -> str:
        """Wait while the connection lives; why it ended."""
        assert self._connection is not None
        reason = await self._connection.wait_closed()
        self._up.clear()
        if self._stopping:
            return reason
        self._connection = None
        self.stats.losses += 1
        self.state, self.last_error = "down", reason
        self.last_failure = (reason, time.time())
        if self._observer is not None:
            self._observer.state_changed(False, reason)
        return reason

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            await self._on_deliver(delivery)
        except Exception:
            self.stats.deliveries_failed += 1
            if self._observer is not None:
                self._observer.delivery_handled(False)
            raise
        self.stats.deliveries_ok += 1
        if self._observer is not None:
            self._observer.delivery_handled(True)

    # ---------------------------------------------------------------- submit
    async def _live_connection(self, deadline: float) -> SmppConnection:
        loop = asyncio.get_running_loop()
        while True:
            if self._stopping:
                raise SmppUnavailable("closing")
            connection = self._connection
            if connection is not None and not connection.closed:
                return connection
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SmppUnavailable(self.last_error or "not bound")
            self._up.clear()  # the connection seen is gone: wait for the next bind
            try:
                await asyncio.wait_for(self._up.wait(), remaining)
            except TimeoutError:
                raise SmppUnavailable(self.last_error or "not bound") from None

    async def submit(self, parts: Sequence[SubmitPart], *, wait_s: float) -> list[SubmitOutcome]:
        """Send one message's parts in order, each once the previous one was accepted; one
        outcome per part. SmppUnavailable when the first part could not be written within
        `wait_s` seconds (bind down or window full): then nothing was sent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        outcomes: list[SubmitOutcome] = []
        connection: SmppConnection | None = None
        for part in parts:
            if outcomes and not outcomes[-1].accepted:
                outcomes.append(SubmitOutcome(PartResult.NOT_SENT))
                continue
            outcome: SubmitOutcome | None = None
            while outcome is None:
                if connection is None:
                    connection = await self._live_connection(deadline)
                try:
                    outcome = await connection.submit(part, deadline if not outcomes else None)
                except NotSent as exc:
                    if outcomes:  # a later part: the message is cut short, never re-routed
                        outcome = SubmitOutcome(PartResult.NOT_SENT)
                    elif loop.time() >= deadline or self._stopping:
                        raise SmppUnavailable(str(exc)) from None
                    else:
                        connection = None  # closed before the first part went: next bind
            self._count(outcome)
            outcomes.append(outcome)
        return outcomes

    def _count(self, outcome: SubmitOutcome) -> None:
        if outcome.result is PartResult.NOT_SENT:
            return
        self.stats.parts_sent += 1
        if outcome.result is PartResult.ANSWERED:
            assert outcome.command_status is not None
            self.stats.answers[outcome.command_status] += 1
        else:
            self.stats.unanswered[outcome.result.value] += 1
        if self._observer is not None:
            self._observer.part_finished(outcome)
