"""Helpers for the SMPP session tests: a bind against the simulator, polling, a callback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from parley_devtools.smsc import Smsc
from parley_devtools.waiting import PATIENCE_S, eventually
from routing_svc.adapters.providers.smpp import (
    BindConfig,
    Delivery,
    SmppBind,
    SubmitOutcome,
    SubmitPart,
    Timers,
    submit_parts,
)


class Inbox:
    """An `on_deliver` callback that keeps what it is handed, optionally failing or waiting."""

    def __init__(self) -> None:
        self.items: list[Delivery] = []
        self.fail_next = 0
        self.gate: asyncio.Event | None = None
        self.entered = 0
        self.returned_at: list[float] = []

    async def __call__(self, delivery: Delivery) -> None:
        self.entered += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("store unavailable")
        self.items.append(delivery)
        self.returned_at.append(time.monotonic())


class Changes:
    """A BindObserver that keeps every state change and every finished part."""

    def __init__(self) -> None:
        self.states: list[tuple[bool, str | None]] = []
        self.parts: list[SubmitOutcome] = []
        self.deliveries: list[bool] = []

    def state_changed(self, up: bool, error: str | None) -> None:
        self.states.append((up, error))

    def part_finished(self, outcome: SubmitOutcome) -> None:
        self.parts.append(outcome)

    def delivery_handled(self, ok: bool) -> None:
        self.deliveries.append(ok)


class RecordingSleep:
    """A back-off sleep that records each requested delay and sleeps 1/100 of it."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(delay / 100)


@asynccontextmanager
async def bound(
    smsc: Smsc,
    inbox: Callable[[Delivery], Awaitable[None]] | None = None,
    *,
    password: str = "secret",
    window: int = 10,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
    wait_up: bool = True,
    drain_timeout_s: float = 5.0,
    observer: Changes | None = None,
    **timers: Any,
) -> AsyncIterator[SmppBind]:
    """A started SmppBind to the simulator (up and registered by the simulator, unless
    `wait_up` is False); closed after."""
    config = BindConfig(
        smsc.host,
        smsc.port,
        "parley",
        password,
        window=window,
        timers=Timers(**timers),
        drain_timeout_s=drain_timeout_s,
    )
    bind = SmppBind(
        config,
        inbox or Inbox(),
        name="sms-test",
        observer=observer,
        sleep=sleep or RecordingSleep(),
    )
    bind.start()
    try:
        if wait_up:
            assert await bind.wait_up(PATIENCE_S), bind.last_error
            # The ESME is up once it has the bind_resp; the simulator registers the session a
            # moment later, and only then can it act on it (unbind it, deliver to it).
            await eventually(lambda: smsc.bound >= 1, what="the simulator to register the bind")
        yield bind
    finally:
        await bind.close()


def one(text: str = "Hello", to: str = "+919800000001", sender: str = "Parley") -> list[SubmitPart]:
    """The parts of one message with no validity."""
    return submit_parts(sender, to, text, ref=1, validity_seconds=None)
