"""The message log on JetStream KV (`ROUTING_MESSAGES`), with compare-and-set writes.

Every change is written with the revision it was read at, so two handlers (two replicas, or
a report and a timer) never both move a message on from the same state. In one process a
lock per message serializes handlers, and a bounded cache of the latest (record, revision)
saves the read on the hot path (`RecordCache`: its older entries are kept as bytes, out of the
garbage collector's way); a lost race evicts the entry and the caller reads again.

Keys are `<account tag>.<message id>` (`domain.message_ids.log_key`), so a deleted account's
records can be purged by subject. A record written before ids carried a tag is found under
its id alone (one more read, only when the first finds nothing) and written back there.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError
from parley_runtime import tracing

from routing_svc.adapters.kv import KvWriter, is_wrong_last
from routing_svc.adapters.record_cache import SIZE, RecordCache
from routing_svc.domain import records
from routing_svc.domain.lifecycle import Message
from routing_svc.domain.message_ids import legacy_key, log_key
from routing_svc.errors import StaleState


class _Held:
    """`async with` one message's lock; the lock exists only while someone holds or wants it."""

    __slots__ = ("_entry", "_id", "_locks")

    def __init__(self, locks: dict[str, list[Any]], message_id: str) -> None:
        self._locks, self._id = locks, message_id
        self._entry: list[Any] = []

    async def __aenter__(self) -> None:
        entry = self._locks.get(self._id)
        if entry is None:
            entry = self._locks[self._id] = [asyncio.Lock(), 0]
        entry[1] += 1
        self._entry = entry
        try:
            await entry[0].acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._entry[0].release()
        self._leave()

    def _leave(self) -> None:
        self._entry[1] -= 1
        if not self._entry[1]:
            del self._locks[self._id]


class MessageExists(Exception):
    """A message id was taken already (ids are random: a bug, or a replayed create)."""


class MessageStore:
    """Message records by id."""

    def __init__(self, kv: Any, writer: KvWriter, cache_size: int = SIZE) -> None:
        self._kv = kv
        self._writer = writer
        self._cache_size = cache_size
        self._locks: dict[str, list[Any]] = {}  # message id -> [lock, holders and waiters]
        self._dirty: set[str] = set()  # held newer than stored (see `hold`)
        self._cache = RecordCache(self._dirty, cache_size)
        self._legacy: set[str] = set()  # ids whose record is under the id alone

    def _key(self, message_id: str) -> str:
        return legacy_key(message_id) if message_id in self._legacy else log_key(message_id)

    async def _get(self, message_id: str) -> Any:
        """The bucket entry of a message (its keyed place, else the legacy one), or None."""
        try:
            return await self._kv.get(self._key(message_id))
        except KeyNotFoundError:
            pass
        if message_id in self._legacy or log_key(message_id) == legacy_key(message_id):
            return None
        try:
            entry = await self._kv.get(legacy_key(message_id))
        except KeyNotFoundError:
            return None
        if len(self._legacy) > self._cache_size:
            self._legacy.clear()  # only a transition's worth; re-learned on the next read
        self._legacy.add(message_id)
        return entry

    def lock(self, message_id: str) -> _Held:
        """The in-process lock of one message (`async with store.lock(id):`)."""
        return _Held(self._locks, message_id)

    async def create(self, msg: Message) -> None:
        """Store a new message (refusing to overwrite one), with the trace context it is
        accepted under when tracing is on."""
        if msg.trace is None:
            msg.trace = tracing.traceparent()
        ack = await self._writer.write(log_key(msg.id), records.dumps(msg), last=0)
        try:
            revision = (await ack).seq
        except Exception as exc:
            if is_wrong_last(exc):
                raise MessageExists(msg.id) from exc
            raise
        self._remember(msg, revision)

    async def load(self, message_id: str, fresh: bool = False) -> tuple[Message, int] | None:
        """The message and its revision (from the cache unless `fresh`), or None.

        A held change is newer than anything stored: it is answered even when `fresh`.
        """
        if not fresh or message_id in self._dirty:
            cached = self._cache.get(message_id)
            if cached is not None:
                return cached
        entry = await self._get(message_id)
        if entry is None or not entry.value:
            return None
        msg = records.from_json(orjson.loads(entry.value))
        self._remember(msg, entry.revision)
        return msg, int(entry.revision)

    async def read(self, message_id: str) -> Message | None:
        """The stored message, read from the bucket without touching the cache (for queries)."""
        entry = await self._get(message_id)
        if entry is None or not entry.value:
            return None
        return records.from_json(orjson.loads(entry.value))

    async def discard(self, message_id: str) -> None:
        """Remove a message that was never accepted (its queueing was refused); best effort:
        a record left behind expires with the log's TTL."""
        self._cache.pop(message_id)
        self._dirty.discard(message_id)
        with contextlib.suppress(Exception):
            await self._kv.purge(self._key(message_id))

    async def save(self, msg: Message, revision: int) -> int:
        """Write `msg` if the stored revision is still `revision`; else StaleState.

        A held (dirty) state survives a failed write other than a lost race: it is newer than
        what is stored, and the next handler writes it (replaying its effects).
        """
        try:
            ack = await self._writer.write(self._key(msg.id), records.dumps(msg), revision)
            new = int((await ack).seq)
        except BaseException as exc:
            if is_wrong_last(exc):
                self._dirty.discard(msg.id)
                self.forget(msg.id)
                raise StaleState(f"{msg.id} changed since revision {revision}") from exc
            self.forget(msg.id)
            raise
        self._dirty.discard(msg.id)
        self._remember(msg, new)
        return new

    def hold(self, msg: Message, revision: int) -> None:
        """Keep a change in memory only, on top of stored `revision`, until `save` writes it."""
        self._dirty.add(msg.id)
        self._remember(msg, revision)

    def held(self, message_id: str) -> tuple[Message, int] | None:
        """The held change of a message, if one waits to be written."""
        return self._cache.get(message_id) if message_id in self._dirty else None

    def forget_account(self, account_id: str) -> None:
        """Drop every cached record of an account (it was deleted and its records purged)."""
        for message_id in self._cache.drop_account(account_id):
            self._dirty.discard(message_id)

    def forget(self, message_id: str) -> None:
        """Drop a cached entry (after a failed or abandoned change); a held one stays."""
        if message_id not in self._dirty:
            self._cache.pop(message_id)

    def _remember(self, msg: Message, revision: int) -> None:
        self._cache.put(msg, int(revision))
