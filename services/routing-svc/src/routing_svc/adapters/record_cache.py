"""The message store's cache of in-flight records: the latest `hot` as objects, the rest as
their stored bytes.

CPython's cyclic garbage collector scans every container object the process made since
start-up (`gc.freeze`), all at once, in each full collection, and the event loop stands still
meanwhile. A decoded record is six such objects (the `Message`, its `Hop` and `Attempt`, their
lists and dicts); its stored form (`bytes`, the revision and the account id in a tuple) is
none: the collector stops tracking a tuple of untracked values. Under a backlog (a promotional
flood queued for its route) routing-svc held 15,000 records in flight: 90,000 objects and full
collections of 60-150 ms, which an OTP request arriving meanwhile waited out; with the older
records cold, 20-40 ms (`bench.priority` on a 2-core machine, collections timed with
`gc.callbacks`).

A record falls to the cold part when `hot` newer ones are used after it, and rises again
(decoded, about 9 us) when it is used; a message that keeps pace with the pipeline never goes
cold. At `size` records in all the least recently used one is dropped, except a `pinned` one
(a change held in memory and not yet written), which goes to the back of the queue instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container

import orjson

from routing_svc.domain import records
from routing_svc.domain.lifecycle import Message

HOT = 1_000
SIZE = 50_000


class RecordCache:
    """(record, revision) by message id, least recently used first."""

    def __init__(self, pinned: Container[str], size: int = SIZE, hot: int = HOT) -> None:
        self._pinned = pinned
        self._size = size
        self._hot_size = hot
        self._hot: OrderedDict[str, tuple[Message, int]] = OrderedDict()
        self._cold: OrderedDict[str, tuple[bytes, int, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._hot) + len(self._cold)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._hot or message_id in self._cold

    def get(self, message_id: str) -> tuple[Message, int] | None:
        """The record and its revision, now the most recently used; None when not held."""
        entry = self._hot.get(message_id)
        if entry is not None:
            self._hot.move_to_end(message_id)
            return entry
        cold = self._cold.pop(message_id, None)
        if cold is None:
            return None
        entry = records.from_json(orjson.loads(cold[0])), cold[1]
        self._warm(message_id, entry)
        return entry

    def put(self, msg: Message, revision: int) -> None:
        """Hold `msg` at `revision`, as the most recently used."""
        self._cold.pop(msg.id, None)
        self._warm(msg.id, (msg, revision))
        for _ in range(len(self) - self._size):
            self._drop_oldest()

    def pop(self, message_id: str) -> None:
        """Stop holding a message."""
        self._hot.pop(message_id, None)
        self._cold.pop(message_id, None)

    def drop_account(self, account_id: str) -> list[str]:
        """Stop holding every message of an account; their ids."""
        dropped = [i for i, (msg, _) in self._hot.items() if msg.account_id == account_id]
        dropped += [i for i, (_, _, account) in self._cold.items() if account == account_id]
        for message_id in dropped:
            self.pop(message_id)
        return dropped

    def _drop_oldest(self) -> None:
        """Drop the least recently used record (every cold one is older than every hot one);
        a pinned one goes to the back of its part instead."""
        if self._cold:
            oldest, cold = self._cold.popitem(last=False)
            if oldest in self._pinned:
                self._cold[oldest] = cold
        else:
            oldest, hot = self._hot.popitem(last=False)
            if oldest in self._pinned:
                self._hot[oldest] = hot

    def _warm(self, message_id: str, entry: tuple[Message, int]) -> None:
        self._hot[message_id] = entry
        self._hot.move_to_end(message_id)
        while len(self._hot) > self._hot_size:
            oldest, (msg, revision) = self._hot.popitem(last=False)
            self._cold[oldest] = (records.dumps(msg), revision, msg.account_id)
