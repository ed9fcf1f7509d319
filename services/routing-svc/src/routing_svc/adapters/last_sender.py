"""Which conversational account last sent to a user on a channel (`ROUTING_LAST_SENDER`).

Inbound messages that no access list claims go to that account, with `in_reply_to` set to the
message it sent.
"""

from __future__ import annotations

from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError

from routing_svc.adapters.kv import digits


class LastSenders:
    """The last conversational sender per (channel, user)."""

    def __init__(self, kv: Any) -> None:
        self._kv = kv

    async def remember(self, channel: str, msisdn: str, account_id: str, message_id: str) -> None:
        """Record that `account_id` sent `message_id` to `msisdn` on `channel`."""
        value = orjson.dumps({"account_id": account_id, "message_id": message_id})
        await self._kv.put(f"{channel}.{digits(msisdn)}", value)

    async def lookup(self, channel: str, msisdn: str) -> tuple[str, str] | None:
        """(account id, message id) of the last send to `msisdn` on `channel`, or None."""
        try:
            entry = await self._kv.get(f"{channel}.{digits(msisdn)}")
        except KeyNotFoundError:
            return None
        raw = orjson.loads(entry.value)
        return str(raw["account_id"]), str(raw["message_id"])
