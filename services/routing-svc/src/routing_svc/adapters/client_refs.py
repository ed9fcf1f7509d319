"""Which messages were sent with a `client_ref`: an index on JetStream KV (`ROUTING_CLIENT_REFS`).

The operator console finds a message by the integrator's own reference. The message log is
keyed by message id only, so when a send carries a `client_ref` one more key is written
beside the record: `<digest>.<account_id>.<message_id>`, where the digest is the first 32 hex
digits of SHA-256 of the `client_ref` (a `client_ref` may hold any character and up to 256 of
them; a KV key may not). One key per message, so sends never contend (no compare-and-set),
and the bucket's TTL is the message log's: an entry lives as long as the record it points to.

A lookup is a scan (`adapters.kv_scan`) of `<digest>.*.*` (or `<digest>.<account_id>.*`): the
server filters by subject, headers only, so it reads just the matching keys.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from nats.errors import TimeoutError as NatsTimeout

from routing_svc.adapters.kv import CLIENT_REFS, KvWriter
from routing_svc.adapters.kv_scan import KvScan
from routing_svc.ports import Ack

FIND_TIME_S = 2.0  # a lookup reads for at most this long ...
FIND_SCAN_MAX = 100_000  # ... and at most this many keys; past either it answers `truncated`


def ref_digest(client_ref: str) -> str:
    """The key token standing for a `client_ref`."""
    return hashlib.sha256(client_ref.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Found:
    """The newest messages sent with a `client_ref`, and whether the lookup stopped early."""

    items: list[tuple[str, str]]  # (account_id, message_id), newest first
    truncated: bool = False


class ClientRefIndex:
    """Message ids by (client_ref, account)."""

    def __init__(self, js: Any, writer: KvWriter, bucket: str = CLIENT_REFS) -> None:
        self._js, self._bucket = js, bucket
        self._writer = writer

    async def add(self, account_id: str, client_ref: str, message_id: str) -> Ack:
        """Publish the entry of one message (pipelined); the ack to await."""
        key = f"{ref_digest(client_ref)}.{account_id}.{message_id}"
        return await self._writer.write(key, message_id.encode())

    async def find(self, client_ref: str, account_ids: Collection[str] | None, limit: int) -> Found:
        """The newest `limit` messages sent with `client_ref` by the given accounts (None: any)."""
        digest = ref_digest(client_ref)
        only = set(account_ids) if account_ids is not None else None
        if only is not None and not only:
            return Found([])
        single = next(iter(only)) if only is not None and len(only) == 1 else None
        pattern = f"{digest}.{single}.*" if single else f"{digest}.*.*"
        kept: deque[tuple[str, str]] = deque(maxlen=limit)
        scanned, truncated = 0, False
        deadline = time.monotonic() + FIND_TIME_S
        async with KvScan(self._js, self._bucket, pattern, values=False) as scan:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or scanned >= FIND_SCAN_MAX:
                    truncated = True
                    break
                try:
                    entry = await scan.next(left)
                except NatsTimeout:
                    truncated = True
                    break
                if entry is None:
                    break  # every stored key was read
                scanned += 1
                parts = entry.key.split(".")
                if len(parts) == 3 and (only is None or parts[1] in only):
                    kept.append((parts[1], parts[2]))
        items = sorted(kept, key=lambda item: item[1], reverse=True)  # ids sort by time
        return Found(items, truncated)
