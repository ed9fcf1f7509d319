"""Consent records on JetStream KV (`ROUTING_CONSENT`), one per enterprise and msisdn.

A change reads the record and writes it back with compare-and-set, so concurrent changes
never lose one another; a send reads the stored record directly, so a PUT holds for the very
next send, whichever replica answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from routing_svc.adapters.kv import digits
from routing_svc.domain.consent import ConsentRecord
from routing_svc.errors import TransientError

MAX_TRIES = 20


def _key(enterprise_id: str, msisdn: str) -> str:
    return f"{enterprise_id}.{digits(msisdn)}"


class ConsentStore:
    """Consent records by (enterprise, msisdn)."""

    def __init__(self, kv: Any) -> None:
        self._kv = kv

    async def _read(self, key: str) -> tuple[ConsentRecord, int]:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return ConsentRecord(), 0
        return ConsentRecord.from_json(orjson.loads(entry.value)), int(entry.revision)

    async def get(self, enterprise_id: str, msisdn: str) -> ConsentRecord:
        """The record (an empty one when the user never said anything)."""
        record, _ = await self._read(_key(enterprise_id, msisdn))
        return record

    async def change(
        self, enterprise_id: str, msisdn: str, change: Callable[[ConsentRecord], ConsentRecord]
    ) -> ConsentRecord:
        """Apply `change` to the stored record with compare-and-set; the record written."""
        key = _key(enterprise_id, msisdn)
        for _ in range(MAX_TRIES):
            record, revision = await self._read(key)
            updated = change(record)
            payload = orjson.dumps(updated.to_json())
            try:
                if revision:
                    await self._kv.update(key, payload, last=revision)
                else:
                    await self._kv.create(key, payload)
            except KeyWrongLastSequenceError:
                continue
            return updated
        raise TransientError("consent record is changing too fast; retry")
