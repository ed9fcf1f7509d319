"""`cancel_and_wait`: a task that misses a cancel is cancelled again; one that never ends is
given up at the bound instead of being waited on forever."""

from __future__ import annotations

import asyncio

from parley_runtime.tasks import cancel_and_wait


async def test_a_task_that_swallows_a_cancel_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn_once() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as a cancel lost inside asyncio.wait_for on Python 3.11

    task = asyncio.create_task(stubborn_once())
    await asyncio.sleep(0)
    assert await cancel_and_wait(task, within=5, recancel=0.05)
    assert task.cancelled()
    assert swallowed == 1


async def test_a_task_that_never_ends_is_given_up_at_the_bound() -> None:
    release = asyncio.Event()

    async def deaf() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(deaf(), name="deaf")
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    assert not await cancel_and_wait(task, within=0.3, recancel=0.05)
    assert 0.3 <= asyncio.get_running_loop().time() - started < 2
    assert not task.done()
    release.set()
    task.cancel()
    assert await cancel_and_wait(task, within=2)


async def test_an_error_the_task_ended_with_is_consumed() -> None:
    async def failing() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    assert await cancel_and_wait(task)
    assert await cancel_and_wait(None)
