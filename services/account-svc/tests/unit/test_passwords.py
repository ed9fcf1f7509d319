"""argon2id parameters, their memory budget, old hashes and unknown users (real argon2, no I/O)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from account_svc.adapters.memory_budget import MemoryBudget
from account_svc.adapters.passwords import (
    OWASP_MIN_MEMORY_KIB,
    OWASP_MIN_TIME_COST,
    PARAMETERS,
    Passwords,
)
from account_svc.errors import Overloaded, TooManyAttempts
from account_svc.settings import Settings
from argon2 import PasswordHasher, Type, extract_parameters
from parley_devtools.waiting import eventually
from prometheus_client import REGISTRY

CONTAINER_LIMIT_MIB = 256  # deploy/: the account-svc container's memory limit


def verifications() -> float:
    """The process's count of argon2 verifications so far."""
    return (
        REGISTRY.get_sample_value("parley_account_password_hashes_total", {"kind": "verify"}) or 0
    )


@pytest.fixture
async def passwords() -> AsyncIterator[Passwords]:
    """Passwords within the default budget (64 MiB, 16 waiters, 2 s)."""
    made = Passwords(MemoryBudget(64 * 1024, max_waiters=16, wait_seconds=2.0))
    yield made
    made.close()


def test_parameters_are_argon2id_at_or_above_owasp_and_fit_the_budget() -> None:
    """argon2id with at least OWASP's m = 19 MiB, t = 2, p = 1; the default budget holds three
    hashes at once and is at most a quarter of the 256 MiB container."""
    assert PARAMETERS.type is Type.ID
    assert PARAMETERS.memory_cost >= OWASP_MIN_MEMORY_KIB == 19 * 1024
    assert PARAMETERS.time_cost >= OWASP_MIN_TIME_COST == 2
    assert PARAMETERS.parallelism >= 1
    budget_mib = Settings.model_fields["password_hash_memory_mib"].default
    assert budget_mib * 1024 // PARAMETERS.memory_cost == 3
    assert budget_mib <= CONTAINER_LIMIT_MIB // 4


async def test_new_hashes_carry_todays_parameters(passwords: Passwords) -> None:
    """A new hash (and the dummy one) is made with `PARAMETERS` and needs no rehash."""
    made = await passwords.hash("correct horse battery")
    assert extract_parameters(made) == PARAMETERS
    assert extract_parameters(passwords.dummy_hash) == PARAMETERS
    assert not passwords.needs_rehash(made)
    assert await passwords.verify(made, "correct horse battery")
    assert not await passwords.verify(made, "wrong horse battery")


async def test_an_old_hash_still_verifies_and_asks_for_a_rehash(passwords: Passwords) -> None:
    """A hash made with argon2-cffi's former defaults (64 MiB, t = 3, p = 4) verifies, is
    charged its own 64 MiB, and is flagged for a rehash."""
    old = PasswordHasher().hash("correct horse battery")
    assert extract_parameters(old).memory_cost == 64 * 1024
    assert passwords.memory_kib(old) == 64 * 1024
    assert await passwords.verify(old, "correct horse battery")
    assert passwords.needs_rehash(old)


async def test_an_unknown_user_costs_one_verification_at_todays_parameters(
    passwords: Passwords,
) -> None:
    """No user (None) is checked against the dummy hash, which has today's parameters: the same
    work as a known user's current hash, and never a success."""
    known = await passwords.hash("correct horse battery")
    before = verifications()
    assert not await passwords.verify(None, "correct horse battery")
    assert not await passwords.verify(None, "anything at all")
    assert verifications() - before == 2
    assert passwords.memory_kib(passwords.dummy_hash) == passwords.memory_kib(known)


async def test_a_spent_budget_answers_overloaded_with_retry_after() -> None:
    """With the budget held and no room to wait, a verification is refused as 503 `overloaded`
    with a Retry-After, and runs no argon2."""
    made = Passwords(MemoryBudget(PARAMETERS.memory_cost, max_waiters=0, wait_seconds=0))
    try:
        charged = await made.budget.acquire(PARAMETERS.memory_cost)
        before = verifications()
        with pytest.raises(Overloaded) as refused:
            await made.verify(None, "whatever password")
        assert refused.value.status == 503
        assert refused.value.type == "overloaded"
        assert int(refused.value.headers["Retry-After"]) >= 1
        assert verifications() == before
        made.budget.release(charged)
    finally:
        made.close()


async def test_an_admission_refusal_runs_no_hash_and_frees_the_memory(
    passwords: Passwords,
) -> None:
    """When `admit` refuses (the lockout), no argon2 runs and the memory is given back."""

    async def locked() -> None:
        raise TooManyAttempts("locked")

    before = verifications()
    with pytest.raises(TooManyAttempts):
        await passwords.verify(passwords.dummy_hash, "whatever password", admit=locked)
    assert verifications() == before
    assert passwords.budget.in_use == 0


async def test_a_cancelled_caller_does_not_free_memory_a_running_hash_holds() -> None:
    """The memory stays reserved until the hashing thread is done, even when the request that
    asked for it is cancelled meanwhile."""
    made = Passwords(MemoryBudget(PARAMETERS.memory_cost, max_waiters=4, wait_seconds=5))
    gate, started = threading.Event(), threading.Event()
    inner = made.hasher

    class Held:
        def verify(self, hashed: str, password: str) -> bool:
            started.set()
            gate.wait(30)
            return bool(inner.verify(hashed, password))

        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

    made.hasher = Held()  # type: ignore[assignment]
    try:
        task = asyncio.create_task(made.verify(None, "whatever password"))
        await eventually(started.is_set)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert made.budget.in_use == PARAMETERS.memory_cost
        gate.set()
        await eventually(lambda: made.budget.in_use == 0)
    finally:
        gate.set()
        made.close()
