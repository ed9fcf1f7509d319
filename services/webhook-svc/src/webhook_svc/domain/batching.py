"""Batching rules: events gather per (account, webhook kind, config version, format group)
until the webhook's `max_events` are there, the endpoint's request in flight ends, or the
linger has passed since the first one.

A batch is cut at `max_events` at once; an event for an endpoint with nothing in flight is sent
at once (a batch of one); a batch that stays short is cut by the caller when the endpoint's
requests end (`open_for`) or `linger_s` has passed since it opened (`Batcher.take`). A webhook
that does not batch (`max_events` 1) never lingers. A config change starts new batches (the
version is part of the key), so one body never mixes two configs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


class BatchKey(NamedTuple):
    """What events must share to travel in one body."""

    account_id: str
    kind: str
    version: int
    group: str


@dataclass(slots=True)
class Batch(Generic[T]):
    """Events gathered for one body: their rendered items, ids and acknowledgement handles."""

    key: BatchKey
    limit: int
    items: list[bytes] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    tokens: list[T] = field(default_factory=list)

    @property
    def full(self) -> bool:
        """Whether the batch reached its webhook's `max_events`."""
        return len(self.items) >= self.limit


class Batcher(Generic[T]):
    """Open batches by key. Pure bookkeeping: the caller owns clocks and timers."""

    def __init__(self) -> None:
        """No batch is open."""
        self._open: dict[BatchKey, Batch[T]] = {}

    def __len__(self) -> int:
        """How many batches are open."""
        return len(self._open)

    def add(
        self, key: BatchKey, limit: int, item: bytes, event_id: str, token: T
    ) -> tuple[Batch[T] | None, Batch[T] | None]:
        """Add one event. Answers (the batch it opened, or None; the batch it filled, or None)."""
        batch = self._open.get(key)
        opened = None
        if batch is None:
            batch = Batch(key, max(1, limit))
            opened = batch
        batch.items.append(item)
        batch.event_ids.append(event_id)
        batch.tokens.append(token)
        if batch.full:
            self._open.pop(key, None)
            return None, batch
        self._open[key] = batch
        return opened, None

    def open_for(self, account_id: str, kind: str) -> list[Batch[T]]:
        """The open batches of one endpoint (account and webhook kind)."""
        return [
            batch
            for key, batch in self._open.items()
            if key.account_id == account_id and key.kind == kind
        ]

    def take(self, batch: Batch[T]) -> Batch[T] | None:
        """Close `batch` when its linger ends, unless it was closed already (it filled up)."""
        if self._open.get(batch.key) is batch:
            del self._open[batch.key]
            return batch
        return None

    def drain(self) -> list[Batch[T]]:
        """Close every open batch (at shutdown)."""
        batches = list(self._open.values())
        self._open.clear()
        return batches
