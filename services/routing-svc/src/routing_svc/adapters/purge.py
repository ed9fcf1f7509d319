"""`ports.AccountData` on JetStream: an account's data removed by subject.

A stream purge with a subject filter (`$JS.API.STREAM.PURGE.<stream>`) removes every message
on the matching subjects at once, whatever their number; it answers how many went. The
account's events and queued attempts are on subjects ending in its id, its message log records
under `<tag>.` in `ROUTING_MESSAGES` (`domain.message_ids`). Short links are keyed by their
code alone, so their bucket is read through (`adapters.kv_scan`: the latest value of every key,
to the last one stored) and the account's links purged one by one: links are few beside
messages, and deletions are rare.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from parley_shared import subjects

from routing_svc.adapters import kv
from routing_svc.adapters.kv_scan import KvScan
from routing_svc.adapters.message_store import MessageStore
from routing_svc.domain.message_ids import account_prefix

PURGE_TIMEOUT_S = 10.0
SCAN_TIMEOUT_S = 5.0


class JetStreamAccountData:
    """What routing-svc stores of an account, purged (see the module docstring)."""

    def __init__(self, nc: Any, js: Any, store: MessageStore) -> None:
        self._nc, self._js = nc, js
        self._store = store

    async def _purge(self, stream: str, subject: str) -> int:
        """Purge `subject` (wildcards allowed) from `stream`; how many messages went."""
        request = orjson.dumps({"filter": subject})
        answer = await self._nc.request(
            f"$JS.API.STREAM.PURGE.{stream}", request, timeout=PURGE_TIMEOUT_S
        )
        body = orjson.loads(answer.data)
        if body.get("error"):
            raise RuntimeError(f"purge of {stream} refused: {body['error'].get('description')}")
        return int(body.get("purged", 0))

    async def purge(self, account_id: str, *, tag_shared: bool) -> dict[str, int]:
        """Remove the account's events, queued attempts, message records and short links."""
        counts = {
            "status": await self._purge(subjects.STREAM_STATUS, subjects.status(account_id)),
            "inbound": await self._purge(subjects.STREAM_INBOUND, subjects.inbound(account_id)),
            "submit": 0,
        }
        for stream, subject in subjects.submit_subjects_of(account_id):
            counts["submit"] += await self._purge(stream, subject)
        self._store.forget_account(account_id)
        if tag_shared:
            counts["messages"] = await self._purge_each(
                kv.MESSAGES, account_prefix(account_id), account_id
            )
        else:
            counts["messages"] = await self._purge(
                f"KV_{kv.MESSAGES}", f"$KV.{kv.MESSAGES}.{account_prefix(account_id)}"
            )
        counts["short_links"] = await self._purge_each(kv.SHORT_LINKS, ">", account_id)
        return counts

    async def _purge_each(self, bucket: str, keys: str, account_id: str) -> int:
        """Purge the keys matching `keys` in `bucket` whose record names `account_id`."""
        mine: list[str] = []
        async with KvScan(self._js, bucket, keys) as scan:
            while (entry := await scan.next(SCAN_TIMEOUT_S)) is not None:
                if entry.value and _account_of(entry.value) == account_id:
                    mine.append(entry.key)
        for key in mine:
            await self._purge(f"KV_{bucket}", f"$KV.{bucket}.{key}")
        return len(mine)


def _account_of(value: bytes) -> str | None:
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
        found = orjson.loads(value).get("account_id")
        return found if isinstance(found, str) else None
    return None
