"""Turns on a busy channel: OTP sends never wait behind promotional (or transactional) ones.

A route's capacity is kept by reserving its next free slot (`domain.balancing`): a caller takes
the slot at once and sleeps until it starts, so callers are served in the order they reserved.
Left alone, a promotional flood would reserve slots seconds ahead and an OTP send arriving then
would get the slot after all of them. So on each channel only one send that is not OTP holds a
reservation at a time (`PriorityGate.turn`): it reserves, sleeps until its slot, sends its turn
on, and the next waiter goes, transactional before promotional, in arrival order within a
class. An OTP send takes no turn: it reserves directly, so it waits at most for the one
reservation held (one slot, `1 / capacity` seconds) and for other OTP sends. When the routes are
free the turn costs nothing (its slot starts now). The capacity is never exceeded: every send,
OTP included, takes a slot.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class _Turns:
    """One channel's turn: held or free, and the callers waiting for it by (rank, arrival)."""

    __slots__ = ("held", "waiting")

    def __init__(self) -> None:
        self.held = False
        self.waiting: list[tuple[int, int, asyncio.Future[None]]] = []

    def release(self) -> None:
        """Hand the turn to the first live waiter, or free it."""
        while self.waiting:
            _, _, future = heapq.heappop(self.waiting)
            if not future.done():
                future.set_result(None)
                return
        self.held = False


class PriorityGate:
    """Turns per channel for sends that are not OTP (see the module docstring)."""

    def __init__(self) -> None:
        self._turns: dict[str, _Turns] = {}
        self._order = itertools.count()

    @asynccontextmanager
    async def turn(self, channel: str, rank: int) -> AsyncIterator[None]:
        """Hold `channel`'s turn (lower `rank` first, then arrival) while the body runs."""
        turns = self._turns.setdefault(channel, _Turns())
        if turns.held:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(turns.waiting, (rank, next(self._order), future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    turns.release()  # the turn was handed to us as we were cancelled
                raise
        else:
            turns.held = True
        try:
            yield
        finally:
            turns.release()

    def waiting(self, channel: str) -> int:
        """Callers waiting for `channel`'s turn."""
        turns = self._turns.get(channel)
        return sum(1 for *_, f in turns.waiting if not f.done()) if turns else 0
