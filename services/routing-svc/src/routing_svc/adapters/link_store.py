"""Short links of the URL Shortener in JetStream KV (`ROUTING_SHORT_LINKS`); the bucket's TTL
expires them."""

from __future__ import annotations

from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError


class KvLinkStore:
    """`ports.LinkStore` over a KV bucket."""

    def __init__(self, kv: Any) -> None:
        self._kv = kv

    async def create(self, code: str, record: dict[str, Any]) -> None:
        """Store a new link (a taken code raises)."""
        await self._kv.create(code, orjson.dumps(record))

    async def get(self, code: str) -> dict[str, Any] | None:
        """A live link's record, or None when unknown or expired."""
        try:
            entry = await self._kv.get(code)
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        record: dict[str, Any] = orjson.loads(entry.value)
        return record
