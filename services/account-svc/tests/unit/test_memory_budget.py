"""The memory budget of password hashing: weighted, FIFO, bounded in waiters and in time."""

from __future__ import annotations

import asyncio

import pytest
from account_svc.adapters.memory_budget import BudgetExhausted, MemoryBudget


async def test_reservations_within_the_budget_run_together() -> None:
    """Three 19 MiB hashes fit in 64 MiB at once; the fourth has to wait."""
    budget = MemoryBudget(64 * 1024, max_waiters=0, wait_seconds=1.0)
    held = [await budget.acquire(19 * 1024) for _ in range(3)]
    assert budget.in_use == 57 * 1024
    with pytest.raises(BudgetExhausted):
        await budget.acquire(19 * 1024)
    for charged in held:
        budget.release(charged)
    assert budget.in_use == 0


async def test_a_full_queue_is_refused_at_once_with_a_retry_hint() -> None:
    """With the budget spent and `max_waiters` already waiting, a caller is refused without
    waiting, and told when to retry."""
    budget = MemoryBudget(10, max_waiters=1, wait_seconds=30.0)
    first = await budget.acquire(10)
    waiter = asyncio.create_task(budget.acquire(10))
    await asyncio.sleep(0)
    assert budget.waiting == 1
    with pytest.raises(BudgetExhausted) as refused:
        await budget.acquire(10)
    assert refused.value.retry_after >= 1
    budget.release(first)
    assert await asyncio.wait_for(waiter, 5) == 10
    assert budget.in_use == 10


async def test_a_waiter_gives_up_after_the_wait_and_leaves_no_trace() -> None:
    """A waiter refused after `wait_seconds` holds nothing and does not block later callers."""
    budget = MemoryBudget(10, max_waiters=4, wait_seconds=0.05)
    first = await budget.acquire(10)
    with pytest.raises(BudgetExhausted):
        await budget.acquire(5)
    assert budget.waiting == 0
    budget.release(first)
    assert budget.in_use == 0
    assert await budget.acquire(10) == 10


async def test_waiters_are_let_in_oldest_first_without_overtaking() -> None:
    """A small request behind a large one waits its turn, so the large one cannot starve."""
    budget = MemoryBudget(10, max_waiters=4, wait_seconds=30.0)
    order: list[str] = []
    first = await budget.acquire(6)

    async def take(name: str, kib: int) -> None:
        async with budget.reserve(kib):
            order.append(name)
            await asyncio.sleep(0)

    large = asyncio.create_task(take("large", 10))
    await asyncio.sleep(0)
    small = asyncio.create_task(take("small", 2))
    await asyncio.sleep(0)
    assert order == []  # 2 KiB would fit beside the 6, but the 10 KiB waiter is older
    budget.release(first)
    await asyncio.wait_for(asyncio.gather(large, small), 5)
    assert order == ["large", "small"]
    assert budget.in_use == 0


async def test_a_cost_above_the_budget_runs_alone() -> None:
    """A hash made with more memory than the whole budget is charged the whole budget."""
    budget = MemoryBudget(64 * 1024, max_waiters=0, wait_seconds=0)
    assert budget.charge(256 * 1024) == 64 * 1024
    charged = await budget.acquire(256 * 1024)
    with pytest.raises(BudgetExhausted):
        await budget.acquire(1)
    budget.release(charged)
    assert budget.in_use == 0


async def test_a_cancelled_waiter_hands_its_place_on() -> None:
    """Cancelling a waiting caller removes it, and the next waiter gets the room."""
    budget = MemoryBudget(10, max_waiters=4, wait_seconds=30.0)
    first = await budget.acquire(10)
    gone = asyncio.create_task(budget.acquire(10))
    await asyncio.sleep(0)
    after = asyncio.create_task(budget.acquire(10))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    budget.release(first)
    assert await asyncio.wait_for(after, 5) == 10
    assert budget.in_use == 10
