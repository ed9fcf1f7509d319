"""The lockout's reservation in PostgreSQL: atomic under concurrency, expiring as documented."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from account_svc.adapters.login_store import LoginStore
from account_svc.adapters.postgres import apply_migrations, create_pool
from account_svc.sessions import LOCKOUT_FAILURES, LOCKOUT_SECONDS


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[LoginStore]:
    """A LoginStore on a migrated database, with a pool wide enough for real concurrency."""
    pool = await create_pool(database_url, 10)
    await apply_migrations(pool)
    yield LoginStore(pool)
    await pool.close()


async def reserve(store: LoginStore, username: str = "Someone") -> tuple[bool, int, int]:
    seat = await store.reserve_attempt(username, LOCKOUT_FAILURES, LOCKOUT_SECONDS)
    return seat.granted, seat.attempt, seat.retry_after


async def test_thirty_concurrent_reservations_grant_exactly_five(store: LoginStore) -> None:
    """However many attempts arrive at once, five are granted (numbered 1..5, usernames
    compared case-insensitively) and the rest are refused with the lock's remaining time."""
    seats = await asyncio.gather(
        *(reserve(store, "someone" if i % 2 else "SomeOne") for i in range(30))
    )
    granted = sorted(attempt for ok, attempt, _ in seats if ok)
    assert granted == [1, 2, 3, 4, 5]
    refused = [retry for ok, _, retry in seats if not ok]
    assert len(refused) == 25
    assert all(LOCKOUT_SECONDS - 60 <= retry <= LOCKOUT_SECONDS for retry in refused)


async def test_a_success_starts_the_count_over(store: LoginStore) -> None:
    """Four attempts, a success (the row is cleared), then five more are granted."""
    for _ in range(4):
        assert (await reserve(store))[0]
    await store.clear_failures("someone")
    assert [(await reserve(store))[1] for _ in range(5)] == [1, 2, 3, 4, 5]
    assert not (await reserve(store))[0]


async def test_a_lock_that_ran_out_and_an_idle_count_start_over(store: LoginStore) -> None:
    """After the lock's 15 minutes, and after a count idle that long, the next attempt is
    number 1 again."""
    for _ in range(5):
        await reserve(store)
    await store.pool.execute("UPDATE login_failures SET locked_until = now() - interval '1 second'")
    assert await reserve(store) == (True, 1, 0)
    for _ in range(3):
        await reserve(store)
    await store.pool.execute(
        "UPDATE login_failures SET last_attempt_at = now() - interval '15 minutes 1 second'"
    )
    assert await reserve(store) == (True, 1, 0)


async def test_refused_attempts_do_not_extend_the_lock(store: LoginStore) -> None:
    """Attempts while locked change nothing: the lock ends when it was set to."""
    for _ in range(5):
        await reserve(store)
    until = await store.pool.fetchval("SELECT locked_until FROM login_failures")
    for _ in range(3):
        assert not (await reserve(store))[0]
    assert await store.pool.fetchval("SELECT locked_until FROM login_failures") == until
