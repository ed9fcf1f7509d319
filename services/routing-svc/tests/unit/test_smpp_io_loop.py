"""The SMPP binds' private loop and the crossings between it and the main loop (real threads
and event loops; no NATS)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator

import pytest
from routing_svc.adapters.providers.smpp.io_loop import Crossing, IoLoop


@pytest.fixture
async def io() -> AsyncIterator[IoLoop]:
    loop = IoLoop(name="test-io")
    loop.start(asyncio.get_running_loop())
    yield loop
    loop.stop()


async def test_run_executes_on_the_private_thread_and_returns_its_result(io: IoLoop) -> None:
    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert await io.run(where()) == "test-io"


async def test_run_home_executes_on_the_home_loop(io: IoLoop) -> None:
    home = threading.current_thread().name

    async def where() -> str:
        return threading.current_thread().name

    async def from_private() -> tuple[str, str]:
        return threading.current_thread().name, await io.run_home(where())

    assert await io.run(from_private()) == ("test-io", home)


async def test_an_error_crosses_back_as_itself(io: IoLoop) -> None:
    async def fails() -> None:
        raise LookupError("no such bind")

    with pytest.raises(LookupError, match="no such bind"):
        await io.run(fails())


async def test_calls_posted_while_the_private_loop_is_busy_cross_in_one_drain(io: IoLoop) -> None:
    gate = threading.Event()
    io._there.post(lambda: gate.wait(5))  # the private loop is busy until the gate opens
    await asyncio.sleep(0.05)  # that first drain has begun
    drains = 0
    there = io._there
    drain = there._drain

    def counted() -> None:
        nonlocal drains
        drains += 1
        drain()

    there._drain = counted  # type: ignore[method-assign]

    async def double(n: int) -> int:
        return n * 2

    calls = [asyncio.create_task(io.run(double(n))) for n in range(200)]
    await asyncio.sleep(0)  # every call posted
    gate.set()
    results = await asyncio.gather(*calls)

    assert results == [n * 2 for n in range(200)]
    assert drains == 1


CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")


async def test_calls_that_cross_in_one_drain_each_run_in_their_posters_context(io: IoLoop) -> None:
    """A drain is scheduled by the first post of its batch; the calls that join it must not
    run in that first poster's context (a receipt crossing home with a send's settlement would
    otherwise be traced under that send's span)."""
    gate = threading.Event()
    io._there.post(lambda: gate.wait(5))  # the private loop is busy until the gate opens
    await asyncio.sleep(0.05)
    seen: list[str] = []

    def post_as(value: str) -> None:
        CURRENT.set(value)
        io._there.post(lambda: seen.append(CURRENT.get()))

    for value in ("first", "second", "third"):
        contextvars.copy_context().run(post_as, value)
    gate.set()

    assert await io.run(asyncio.sleep(0, result="after")) == "after"
    assert seen == ["first", "second", "third"]


async def test_a_call_home_runs_in_its_callers_context_whatever_opened_its_batch(
    io: IoLoop,
) -> None:
    """A receipt handed home from the binds' loop joins whatever batch is crossing (a send's
    answer, say): the task it starts at home must run in the receipt's context, not in the
    context of the post that opened the batch."""
    released = threading.Event()
    home = asyncio.get_running_loop()
    home.call_soon(lambda: released.wait(5))  # home is busy until both posts have crossed

    async def current() -> str:
        return CURRENT.get()

    async def receipt() -> str:  # started in a context of its own, as the reader's are
        return await io.run_home(current())

    async def on_private() -> asyncio.Task[str]:
        CURRENT.set("a send's span")
        back = io._back
        assert back is not None
        back.post(lambda: None)  # opens the batch home, in this context
        task = asyncio.get_running_loop().create_task(receipt(), context=contextvars.Context())
        await asyncio.sleep(0)  # the receipt's call home is posted, joining that batch
        released.set()
        return task

    task = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(on_private(), io.loop))
    result = await asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(task, 5), io.loop)
    )
    assert result == "none"


async def test_a_failing_call_does_not_stop_the_rest_of_its_batch(io: IoLoop) -> None:
    gate = threading.Event()
    ran: list[int] = []
    io._there.post(lambda: gate.wait(5))  # the private loop is busy until the gate opens
    await asyncio.sleep(0.05)

    def boom() -> None:
        raise ValueError("a broken call")

    io._there.post(lambda: ran.append(1))
    io._there.post(boom)
    io._there.post(lambda: ran.append(3))
    gate.set()

    assert await io.run(asyncio.sleep(0, result="after")) == "after"
    assert ran == [1, 3]


async def test_cancelling_the_caller_cancels_the_task_on_the_private_loop(io: IoLoop) -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def waits() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    caller = asyncio.create_task(io.run(waits()))
    assert await asyncio.to_thread(started.wait, 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await asyncio.to_thread(cancelled.wait, 5)


async def test_a_call_cancelled_before_it_crossed_never_starts(io: IoLoop) -> None:
    ran = threading.Event()
    gate = threading.Event()

    async def marks() -> None:
        ran.set()

    io._there.post(lambda: gate.wait(5))  # the private loop is busy until the gate opens
    caller = asyncio.create_task(io.run(marks()))
    await asyncio.sleep(0)  # the call is posted behind the busy callback
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    gate.set()
    assert await io.run(asyncio.sleep(0, result="drained")) == "drained"
    assert not ran.is_set()


async def test_a_call_after_stop_fails_at_once() -> None:
    loop = IoLoop(name="test-io-stopped")
    loop.start(asyncio.get_running_loop())
    loop.stop()

    async def never() -> None:
        raise AssertionError("ran on a stopped loop")

    with pytest.raises(RuntimeError):
        await loop.run(never())


class _ClosedLoop:
    """A target loop that is closed: scheduling fails, after a pause in which another thread
    can try to post too."""

    def __init__(self) -> None:
        self.attempts = 0

    def call_soon_threadsafe(self, callback: object) -> None:
        self.attempts += 1
        threading.Event().wait(0.2)
        raise RuntimeError("Event loop is closed")


def test_every_post_to_a_closed_loop_fails_even_when_two_threads_post_at_once() -> None:
    closed = _ClosedLoop()
    crossing = Crossing(closed)  # type: ignore[arg-type]
    outcomes: list[str] = []

    def post() -> None:
        try:
            crossing.post(lambda: None)
            outcomes.append("accepted")
        except RuntimeError:
            outcomes.append("refused")

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert outcomes == ["refused", "refused"]  # no call left waiting for a drain never scheduled
    assert closed.attempts == 2
