"""Turns on a busy channel (`pacing.PriorityGate`): by rank, then arrival; cancellation safe."""

from __future__ import annotations

import asyncio

from routing_svc.pacing import PriorityGate


async def test_turns_go_by_rank_then_arrival() -> None:
    """While the turn is held, waiters get it lower rank first, in arrival order within a rank."""
    gate = PriorityGate()
    order: list[str] = []
    held = asyncio.Event()
    go = asyncio.Event()

    async def holder() -> None:
        async with gate.turn("sms", 2):
            held.set()
            await go.wait()

    async def waiter(name: str, rank: int) -> None:
        async with gate.turn("sms", rank):
            order.append(name)

    first = asyncio.create_task(holder())
    await held.wait()
    tasks = [
        asyncio.create_task(waiter(name, rank))
        for name, rank in (("promo-1", 2), ("promo-2", 2), ("trans-1", 1), ("promo-3", 2))
    ]
    await _waiting(gate, 4)
    go.set()
    await asyncio.gather(first, *tasks)
    assert order == ["trans-1", "promo-1", "promo-2", "promo-3"]


async def test_channels_do_not_share_turns() -> None:
    """A turn held on sms does not hold up rcs."""
    gate = PriorityGate()
    async with gate.turn("sms", 2), gate.turn("rcs", 2):
        assert gate.waiting("sms") == gate.waiting("rcs") == 0


async def test_a_cancelled_waiter_passes_the_turn_on() -> None:
    """A waiter cancelled while waiting is skipped; the turn reaches the next one."""
    gate = PriorityGate()
    got: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.turn("sms", 2):
            await release.wait()

    async def waiter(name: str) -> None:
        async with gate.turn("sms", 2):
            got.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    doomed = asyncio.create_task(waiter("doomed"))
    kept = asyncio.create_task(waiter("kept"))
    await _waiting(gate, 2)
    doomed.cancel()
    release.set()
    await asyncio.gather(first, kept)
    assert got == ["kept"]
    async with gate.turn("sms", 2):  # and the turn is free again
        pass


async def _waiting(gate: PriorityGate, count: int) -> None:
    """Let the tasks run until `count` of them wait for sms's turn (bounded)."""
    for _ in range(1000):
        if gate.waiting("sms") >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never {count} waiting")
