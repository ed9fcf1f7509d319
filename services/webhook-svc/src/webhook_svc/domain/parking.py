"""Events waiting for their account's config ("parked"), capped per account, per process and
in time, so that one account webhook-svc cannot open never holds the consumers' shared budget
(`max_ack_pending`) for everybody.

CONTRACT 8: an event of an account not seen yet waits for its config; it normally arrives
within a second. An account whose config never comes (or comes unusable) must not hold its
events forever, each one occupying a slot of `max_ack_pending` that every account shares:

- per account, at most `per_account` wait; the next one is dead-lettered at once
  (`ACCOUNT_FULL`, with the reason, replayable once the config is there);
- per process, at most `total` wait; the next one is given back for later (`ALL_FULL`): it is
  not that account's fault, and a delayed redelivery finds room once some wait ends;
- an event that waited `max_s` is dead-lettered (`Parking.expired`).

Pure bookkeeping: the caller owns the clock and the JetStream side.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Verdict(enum.Enum):
    """What happens to an event that would wait."""

    PARKED = "parked"
    ACCOUNT_FULL = "account_full"
    ALL_FULL = "all_full"


class Parking(Generic[T]):
    """Waiting events per account, oldest first."""

    def __init__(self, *, per_account: int, total: int, max_s: float) -> None:
        """Caps: events per account, events in all, seconds one may wait."""
        self.per_account = per_account
        self.total = total
        self.max_s = max_s
        self._lots: dict[str, deque[tuple[float, T]]] = {}
        self._count = 0

    def __len__(self) -> int:
        """How many events wait."""
        return self._count

    def waiting(self, account_id: str) -> int:
        """How many events of `account_id` wait."""
        lot = self._lots.get(account_id)
        return len(lot) if lot is not None else 0

    def park(self, account_id: str, item: T, at: float) -> Verdict:
        """Let `item` wait from `at`, unless a cap says otherwise."""
        lot = self._lots.get(account_id)
        if lot is not None and len(lot) >= self.per_account:
            return Verdict.ACCOUNT_FULL
        if self._count >= self.total:
            return Verdict.ALL_FULL
        if lot is None:
            lot = self._lots[account_id] = deque()
        lot.append((at, item))
        self._count += 1
        return Verdict.PARKED

    def release(self, account_id: str) -> list[T]:
        """Every event of `account_id`, oldest first (its config arrived, or it is unusable)."""
        lot = self._lots.pop(account_id, None)
        if not lot:
            return []
        self._count -= len(lot)
        return [item for _, item in lot]

    def expired(self, at: float) -> dict[str, list[T]]:
        """Remove and answer the events that have waited `max_s` or longer at `at`."""
        limit = at - self.max_s
        out: dict[str, list[T]] = {}
        for account_id, lot in list(self._lots.items()):
            while lot and lot[0][0] <= limit:
                out.setdefault(account_id, []).append(lot.popleft()[1])
                self._count -= 1
            if not lot:
                del self._lots[account_id]
        return out

    def drain(self) -> list[T]:
        """Remove and answer every waiting event (at shutdown)."""
        out = [item for lot in self._lots.values() for _, item in lot]
        self._lots.clear()
        self._count = 0
        return out
