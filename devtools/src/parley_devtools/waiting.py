"""Waiting for a condition, never for the clock: the one `eventually` of every test and tool.

A test that sleeps "long enough" or asserts that something took "less than N seconds" passes on
an idle machine and fails on a loaded one. Instead, poll the condition itself and give it a
generous deadline: a condition that holds returns at once, so the deadline costs nothing when
things work and only bounds how long a broken run takes to say so. Timing targets belong in
`make bench`, not in tests.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

PATIENCE_S = 30.0
"""The default deadline: far beyond what any condition needs on a loaded machine."""

T = TypeVar("T")


def _failure(within_s: float, what: str, last: object) -> AssertionError:
    return AssertionError(f"timed out after {within_s:g} s waiting for {what} (last: {last!r})")


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    within_s: float = PATIENCE_S,
    what: str = "condition",
    step_s: float = 0.01,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    within_s: float = PATIENCE_S,
    what: str = "condition",
    step_s: float = 0.01,
) -> T: ...


async def eventually(
    check: Callable[[], object],
    within_s: float = PATIENCE_S,
    what: str = "condition",
    step_s: float = 0.01,
) -> object:
    """Poll `check` (plain or async) until it returns something truthy, and return that.

    Fails with an AssertionError naming `what` (and the last value seen) once `within_s` has
    passed; the check always runs once more after a stall, so a slow event loop cannot make a
    condition that holds look timed out.
    """
    deadline = time.monotonic() + within_s
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise _failure(within_s, what, value)
        await asyncio.sleep(step_s)


def eventually_sync(
    check: Callable[[], T],
    within_s: float = PATIENCE_S,
    what: str = "condition",
    step_s: float = 0.05,
) -> T:
    """`eventually` for code without an event loop (threads, subprocess drivers)."""
    deadline = time.monotonic() + within_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _failure(within_s, what, value)
        time.sleep(step_s)


class LoopTurns:
    """Counts the turns of the running event loop while it is entered (`async with LoopTurns()
    as turns: ... turns.count`): a test that things happen "in one turn" compares counts,
    never the clock. A task that yields once per turn does the counting."""

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    async def __aenter__(self) -> LoopTurns:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
