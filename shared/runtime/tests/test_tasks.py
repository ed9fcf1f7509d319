"""`cancel_and_wait`: a task that misses a cancel is cancelled again; one that never ends is
given up at the bound instead of being waited on forever. `SingleFlight`: one run per key, its
result shared by everyone who came meanwhile, all woken in one turn."""

from __future__ import annotations

import asyncio

import pytest
from parley_devtools.waiting import LoopTurns
from parley_runtime.tasks import SingleFlight, cancel_and_wait


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


class Gated:
    """A call that counts its runs and ends when `release` is set (with `fail`: raising)."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.fail = False

    async def __call__(self) -> int:
        self.runs += 1
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the run failed")
        return self.runs


async def test_callers_during_a_run_share_it_and_all_wake_in_one_turn() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    call = Gated()
    woke: list[int] = []

    async with LoopTurns() as turns:

        async def caller() -> int:
            result = await flights.run("k", call)
            woke.append(turns.count)
            return result

        callers = [asyncio.create_task(caller()) for _ in range(200)]
        await asyncio.sleep(0)
        assert flights.running("k")
        call.release.set()
        results = await asyncio.gather(*callers)
    assert results == [1] * 200  # one run, one result for all
    assert call.runs == 1
    assert max(woke) - min(woke) <= 1  # an asyncio.Lock would spread them over 200 turns
    assert not flights.running("k")
    call.release.clear()
    later = asyncio.ensure_future(flights.run("k", call))
    call.release.set()
    assert await later == 2  # a run that ended is not handed out again


async def test_a_cancelled_caller_leaves_the_run_to_the_others() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    call = Gated()
    leaving = asyncio.ensure_future(flights.run("k", call))
    staying = asyncio.ensure_future(flights.run("k", call))
    await asyncio.sleep(0)
    leaving.cancel()
    call.release.set()
    assert await staying == 1
    assert leaving.cancelled()
    assert call.runs == 1


async def test_a_failed_run_fails_every_caller_and_the_next_call_runs_again() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    call = Gated()
    call.fail = True
    waiting = [asyncio.ensure_future(flights.run("k", call)) for _ in range(3)]
    call.release.set()
    for each in waiting:
        with pytest.raises(RuntimeError, match="the run failed"):
            await each
    call.fail = False
    assert await flights.run("k", call) == 2
    other = await flights.run("other", call)  # keys run independently
    assert other == 3
