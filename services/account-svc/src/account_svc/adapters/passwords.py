"""Console users' credentials: argon2id password hashes and opaque bearer tokens.

argon2id (argon2-cffi) is memory-hard, so a stolen hash is expensive to brute-force. Its
parameters are explicit (`PARAMETERS`): OWASP's first recommended argon2id profile, m = 19 MiB
and p = 1, with t = 3 instead of its minimum 2 (half as much work again for an attacker, about
30 ms here; memory is the scarce resource in a 256 MiB container, CPU time per login is not).

Every hash and verification reserves its memory cost in a `MemoryBudget` first and runs on a
pool of as many threads as the budget holds hashes at these parameters; when the budget is spent
the caller waits briefly, then gets 503 `overloaded`. A hash carries its own parameters, so
hashes made with older ones keep verifying (charged their own memory cost) and are replaced at
the next successful login (`needs_rehash`).

Bearer tokens are in `domain.tokens`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import Parameters, PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Counter

from account_svc.adapters.memory_budget import BudgetExhausted, MemoryBudget
from account_svc.errors import Overloaded, retry_after

T = TypeVar("T")
Admit = Callable[[], Awaitable[None]]

PARAMETERS = Parameters(
    type=Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=3,
    memory_cost=19 * 1024,  # KiB
    parallelism=1,
)
# OWASP Password Storage Cheat Sheet, argon2id: at least m = 19 MiB, t = 2, p = 1.
OWASP_MIN_MEMORY_KIB = 19 * 1024
OWASP_MIN_TIME_COST = 2

HASHES = Counter(
    "parley_account_password_hashes_total",
    "argon2id computations, by kind (verify: a login's check; hash: a new or replaced hash)",
    ["kind"],
)


class Passwords:
    """argon2id hashing and verification within a memory budget."""

    def __init__(self, budget: MemoryBudget, parameters: Parameters = PARAMETERS) -> None:
        self.budget = budget
        self.parameters = parameters
        self.hasher = PasswordHasher.from_parameters(parameters)  # today's parameters
        threads = max(1, budget.total // parameters.memory_cost)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        # What an unknown username is checked against: the same parameters as any current
        # hash, so the work (and the time) does not tell whether the username exists.
        self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def memory_kib(self, password_hash: str) -> int:
        """The memory a verification against `password_hash` takes (its own parameters)."""
        try:
            return int(extract_parameters(password_hash).memory_cost)
        except (InvalidHashError, ValueError):
            return int(self.parameters.memory_cost)

    async def _run(
        self, kind: str, memory_kib: int, work: Callable[[], T], admit: Admit | None = None
    ) -> T:
        """Run `work` on a hashing thread once its memory is reserved and `admit` (when given)
        has returned; an exception from `admit` gives the memory back and is raised as it is.

        The reservation is given back when the thread is done, not when the caller stops
        waiting: a cancelled request must not free memory a hash still holds.
        """
        try:
            charged = await self.budget.acquire(memory_kib)
        except BudgetExhausted as exc:
            busy = Overloaded("too many password checks at once; retry shortly")
            raise retry_after(busy, exc.retry_after) from None
        loop = asyncio.get_running_loop()

        def give_back(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to free
                loop.call_soon_threadsafe(self.budget.release, charged)

        try:
            if admit is not None:
                await admit()
            job = self._pool.submit(work)  # RuntimeError once the pool is shut down
        except BaseException:
            self.budget.release(charged)
            raise
        job.add_done_callback(give_back)
        HASHES.labels(kind).inc()
        return await asyncio.wrap_future(job)

    async def hash(self, password: str) -> str:
        """An argon2id hash of the password (503 `overloaded` when the budget is spent)."""
        work = functools.partial(self.hasher.hash, password)
        return await self._run("hash", self.parameters.memory_cost, work)

    async def verify(
        self, password_hash: str | None, password: str, admit: Admit | None = None
    ) -> bool:
        """Whether the password matches; an unknown user (None) costs the same work.

        `admit` runs once the memory is held and before the hash (login reserves its attempt
        there, so an attempt refused by the lockout costs no hash and no overload answer).
        """
        target = password_hash or self.dummy_hash

        def check() -> bool:
            try:
                return self.hasher.verify(target, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        ok = await self._run("verify", self.memory_kib(target), check, admit)
        return ok and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a hash was made with other parameters than today's."""
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def close(self) -> None:
        """Stop the hashing threads (queued work is dropped; running hashes finish)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
