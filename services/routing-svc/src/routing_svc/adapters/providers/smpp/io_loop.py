"""A private event loop, in a thread of its own, for the SMPP binds.

An SMPP bind may have only `window` submits awaiting their answer; its throughput is the window
divided by the time from an answer arriving to the next submit going out. On routing-svc's
main loop that turnaround waits behind whatever else the loop has to do in that turn (a pull
batch of hundreds of messages starting at once can make a turn last tens of milliseconds), so
a window of 10 capped SMS near 800 msg/s. On a loop of their own the binds turn around in well
under a millisecond.

The main loop hands the binds submits, and they hand it deliveries, through a `Crossing` each
way: a list under a lock that the other loop drains in one callback, scheduled once per batch.
What is posted before the other loop gets to its drain crosses together, with one
`asyncio.Future` per call and none of `concurrent.futures`' machinery (a condition variable,
a lock and four callbacks per call).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
SWITCH_INTERVAL_S = 0.001


class Crossing:
    """Callables posted from any thread, run on `target`'s loop in posting order: the first post
    of a batch schedules one drain (`call_soon_threadsafe`), later ones join it.

    Each callable runs in a copy of its poster's context, as `call_soon_threadsafe` would run
    it: the drain itself runs in the first poster's, and a task a later call starts would
    otherwise inherit that (a receipt crossing with a send's answer was traced under the send).
    """

    def __init__(self, target: asyncio.AbstractEventLoop) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._queue: list[tuple[contextvars.Context, Callable[[], None]]] = []

    def post(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the target loop soon (RuntimeError once that loop is closed: the drain
        is scheduled before the first call of a batch joins, so no call waits on a drain that
        was never scheduled)."""
        context = contextvars.copy_context()
        with self._lock:
            if not self._queue:
                self.target.call_soon_threadsafe(self._drain)
            self._queue.append((context, fn))

    def _drain(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        for context, fn in batch:
            try:
                context.run(fn)
            except Exception as exc:  # noqa: BLE001 - one failure must not drop the rest
                self.target.call_exception_handler(
                    {"message": "a call crossing threads failed", "exception": exc}
                )


def _settle(task: asyncio.Task[T], future: asyncio.Future[T]) -> None:
    """Give `future` (on the caller's loop) what `task` (on the other loop) ended with."""
    if future.done():  # the caller was cancelled: nobody waits for the outcome
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as never retrieved
        return
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(task.result())


def _cancel(held: list[asyncio.Task[Any]]) -> None:
    if held:
        held[0].cancel()


async def run_across(there: Crossing, back: Crossing, coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` as a task on `there`'s loop and await its result here (`back` crosses to
    this loop). Cancelling the caller cancels the task."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    held: list[asyncio.Task[T]] = []

    def start() -> None:
        task = there.target.create_task(coro)
        held.append(task)
        task.add_done_callback(lambda done: back.post(lambda: _settle(done, future)))

    try:
        there.post(start)
    except RuntimeError:
        coro.close()
        raise
    try:
        return await future
    except asyncio.CancelledError:
        with contextlib.suppress(RuntimeError):  # posted after `start`: a task not yet run
            there.post(lambda: _cancel(held))  # a task that has not run yet never runs a step
        raise


class IoLoop:
    """An event loop running in a daemon thread until `stop`."""

    def __init__(self, name: str = "smpp-io") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._there = Crossing(self.loop)
        self._back: Crossing | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def start(self, home: asyncio.AbstractEventLoop) -> None:
        """Start the thread (idempotent); `home` is the loop that calls `run` and on which
        `run_home` runs. The interpreter's thread switch interval drops to `SWITCH_INTERVAL_S`:
        an answer read by this thread would otherwise wait up to 5 ms (CPython's default) for
        the main thread to hand over the GIL."""
        if not self._started:
            self._started = True
            self._back = Crossing(home)
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
            self._thread.start()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the private loop; await its result from the home loop."""
        assert self._back is not None, "IoLoop.start first"
        return await run_across(self._there, self._back, coro)

    async def run_home(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the home loop; await its result from the private loop."""
        assert self._back is not None, "IoLoop.start first"
        return await run_across(self._back, self._there, coro)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the loop and join the thread."""
        if self._started and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout_s)
