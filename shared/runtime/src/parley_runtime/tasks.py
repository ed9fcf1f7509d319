"""Stopping a background task without waiting on it forever.

`task.cancel(); await task` hangs when the task does not end on that cancel. On Python 3.11 a
cancel can be swallowed (`asyncio.wait_for`, used throughout nats-py, may return the inner
result when it completes at the same moment as the cancel), and a `while True` fetch loop that
missed it simply goes on: a service's shutdown then waits forever on an idle event loop.
`cancel_and_wait` cancels again every `RECANCEL_SECONDS` until the task ends, and gives up
(logged) after a bound, so a shutdown always finishes.

`SingleFlight`: one run of a call per key at a time, its result shared by every caller that
comes while it runs. Callers that queue on an `asyncio.Lock` around such a call wake one per
turn of the event loop, so on a busy loop hundreds of them trickle out over hundreds of turns;
callers of one shared future all wake in the same turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any, Generic, TypeVar

import structlog

log = structlog.get_logger("parley_runtime.tasks")

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
STOP_WAIT_SECONDS = 5.0
RECANCEL_SECONDS = 0.5


async def cancel_and_wait(
    task: asyncio.Task[Any] | None,
    within: float = STOP_WAIT_SECONDS,
    *,
    recancel: float = RECANCEL_SECONDS,
) -> bool:
    """Cancel `task` (again while it runs) and wait up to `within` s; whether it ended.

    Its outcome (a cancel, an error) is consumed, never raised here. A task still running at
    the bound is logged (`task_did_not_stop`, with its name) and left to end with the process.
    """
    if task is None:
        return True
    deadline = asyncio.get_running_loop().time() + within
    while not task.done():
        task.cancel()
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            log.warning("task_did_not_stop", task=task.get_name())
            return False
        await asyncio.wait({task}, timeout=min(recancel, left))
    if not task.cancelled():
        task.exception()  # retrieved: an error at shutdown is not re-raised or reported twice
    return True


class SingleFlight(Generic[K, T]):
    """At most one run of a call per key at a time (see the module docstring)."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[T]] = {}

    def run(self, key: K, call: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """The result of the run of `key` under way, or of `call()` started now. Shielded: a
        caller cancelled while it waits does not cancel the run the others await. A run that
        has ended is never handed out again: its result may be out of date already."""
        running = self._running.get(key)
        if running is None or running.done():
            running = asyncio.ensure_future(call())
            self._running[key] = running
            running.add_done_callback(partial(self._forget, key))
        return asyncio.shield(running)

    def running(self, key: K) -> bool:
        """Whether a run of `key` is under way."""
        running = self._running.get(key)
        return running is not None and not running.done()

    def _forget(self, key: K, ended: asyncio.Future[T]) -> None:
        if self._running.get(key) is ended:
            del self._running[key]
