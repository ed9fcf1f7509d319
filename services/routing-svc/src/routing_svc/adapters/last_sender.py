"""Which conversational account last sent to a user on a channel (`ROUTING_LAST_SENDER`).

Inbound messages that no access list claims go to that account, with `in_reply_to` set to the
message it sent. The user's number is needed only to find the entry again, so it is not kept:
the key is `<channel>.<keyed hash of the number>` (`MasterKey.number_hash`, HMAC-SHA256 under
a key derived from the master key), whatever the account's data protection. A lookup tries
the hash under the current master key, then under the previous one (a rotation), then the
clear key `<channel>.<digits>` of entries written before numbers were hashed; those expire
with the bucket's TTL (`ROUTING_LAST_SENDER_TTL_SECONDS`), after which that read finds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError

from routing_svc.adapters.kv import digits

NumberHashes = Callable[[str], list[str]]
"""The keyed hashes of a number, current master key first (`MasterKey.number_hashes`)."""


class LastSenders:
    """The last conversational sender per (channel, user)."""

    def __init__(self, kv: Any, hashes: NumberHashes) -> None:
        self._kv = kv
        self._hashes = hashes

    async def remember(self, channel: str, msisdn: str, account_id: str, message_id: str) -> None:
        """Record that `account_id` sent `message_id` to `msisdn` on `channel`."""
        value = orjson.dumps({"account_id": account_id, "message_id": message_id})
        await self._kv.put(f"{channel}.{self._hashes(msisdn)[0]}", value)

    async def lookup(self, channel: str, msisdn: str) -> tuple[str, str] | None:
        """(account id, message id) of the last send to `msisdn` on `channel`, or None."""
        keys = [*self._hashes(msisdn), digits(msisdn)]
        for key in keys:
            try:
                entry = await self._kv.get(f"{channel}.{key}")
            except KeyNotFoundError:
                continue
            if entry.value:
                raw = orjson.loads(entry.value)
                return str(raw["account_id"]), str(raw["message_id"])
        return None
