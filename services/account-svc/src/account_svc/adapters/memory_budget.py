"""A memory budget shared by concurrent password hashes: a weighted semaphore that never queues
without bound.

argon2 holds its whole memory cost for the length of each hash, so N hashes at once need N times
that, and a login flood on unbounded threads takes the process past its container limit. Each
hash reserves its memory cost (KiB) here first. While the budget is spent, a caller waits in
arrival order, at most `wait_seconds` and only while fewer than `max_waiters` wait; otherwise it
is refused at once with `BudgetExhausted` (the API answers 503 `overloaded` with `Retry-After`).
A cost above the whole budget is charged as the whole budget: it runs alone rather than never.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

RETRY_AFTER_S = 1  # what a refused caller is told; a hash takes tens of milliseconds


class BudgetExhausted(Exception):
    """No room in the budget within the wait allowed; `retry_after` is a hint in seconds."""

    def __init__(self, retry_after: int = RETRY_AFTER_S) -> None:
        super().__init__("the memory budget for password hashing is spent")
        self.retry_after = retry_after


class MemoryBudget:
    """`total_kib` shared by reservations; FIFO waiting, bounded in count and in time."""

    def __init__(self, total_kib: int, max_waiters: int, wait_seconds: float) -> None:
        if total_kib < 1:
            raise ValueError("a memory budget needs at least 1 KiB")
        self.total = total_kib
        self.max_waiters = max_waiters
        self.wait_seconds = wait_seconds
        self.in_use = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        """How many callers wait for room now."""
        return sum(1 for _, fut in self._waiters if not fut.done())

    def charge(self, kib: int) -> int:
        """What a reservation of `kib` costs: at least 1, at most the whole budget."""
        return min(max(kib, 1), self.total)

    @contextlib.asynccontextmanager
    async def reserve(self, kib: int) -> AsyncIterator[None]:
        """Hold `kib` of the budget for the body of the `async with`."""
        need = await self.acquire(kib)
        try:
            yield
        finally:
            self.release(need)

    async def acquire(self, kib: int) -> int:
        """Take room for `kib` (waiting within the bounds); answers what was charged, which
        `release` must be given back exactly once."""
        need = self.charge(kib)
        if not self._waiters and self.in_use + need <= self.total:
            self.in_use += need
            return need
        if self.waiting >= self.max_waiters or self.wait_seconds <= 0:
            raise BudgetExhausted()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (need, fut)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(self.wait_seconds):
                await fut
        except (TimeoutError, asyncio.CancelledError) as exc:
            if fut.done() and not fut.cancelled():
                self.release(need)  # granted just as the caller gave up: hand it back
            else:
                fut.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
                self._grant()  # the head may have left: the next one may fit now
            if isinstance(exc, TimeoutError):
                raise BudgetExhausted() from None
            raise
        return need

    def release(self, need: int) -> None:
        """Give back what `acquire` charged."""
        self.in_use -= need
        self._grant()

    def _grant(self) -> None:
        """Let waiters in, oldest first, while the oldest fits (no overtaking: no starvation)."""
        while self._waiters:
            need, fut = self._waiters[0]
            if fut.done():
                self._waiters.popleft()
                continue
            if self.in_use + need > self.total:
                return
            self._waiters.popleft()
            self.in_use += need
            fut.set_result(None)
