"""What a message record holds in clear, per the account's data protection.

- `store`: number and content in clear;
- `encrypt_and_store`: number and content sealed under the account's subkey of the day
  (`MasterKey.seal_record`: HKDF from the master key per account and UTC day, AAD = account
  and field), so no key nears AES-GCM's random-nonce limit and a sealed field cannot be moved
  to another record or field;
- `do_not_store`: sealed the same way while in flight (fallback needs them), dropped with the
  final outcome; the masked number is all that stays.
"""

from __future__ import annotations

from typing import Any

import orjson
from parley_shared.sealing import MasterKey

from routing_svc.domain.lifecycle import Message


class Vault:
    """Seals and opens the protected fields of message records."""

    def __init__(self, master: MasterKey) -> None:
        self._master = master

    def protect(
        self, protection: str, account_id: str, to: str, content: dict[str, Any], day: str
    ) -> dict[str, Any]:
        """The record fields holding `to` and `content` under `protection` (`day`: the UTC
        day, `YYYYMMDD`, whose subkey seals them)."""
        if protection == "store":
            return {"to": to, "content": content}
        text = orjson.dumps(content).decode()
        return {
            "to_sealed": self._master.seal_record(to, account_id, "to", day),
            "content_sealed": self._master.seal_record(text, account_id, "content", day),
        }

    def seal_text(self, value: str, account_id: str, field: str, day: str) -> str:
        """A value of `field` sealed under the account's subkey of `day`."""
        return self._master.seal_record(value, account_id, field, day)

    def open_text(self, sealed: str, account_id: str, field: str) -> str:
        """A value sealed by `seal_text` for `field`."""
        return self._master.unseal_record(sealed, account_id, field)

    def number(self, msg: Message) -> str | None:
        """The full number, or None once a `do_not_store` message has dropped it."""
        if msg.to is not None:
            return msg.to
        if msg.to_sealed is not None:
            return self._master.unseal_record(msg.to_sealed, msg.account_id, "to")
        return None

    def content(self, msg: Message) -> dict[str, Any] | None:
        """The content, or None once a `do_not_store` message has dropped it."""
        if msg.content is not None:
            return msg.content
        if msg.content_sealed is not None:
            opened = self._master.unseal_record(msg.content_sealed, msg.account_id, "content")
            value: dict[str, Any] = orjson.loads(opened)
            return value
        return None

    def recipient(self, msg: Message) -> str:
        """`data.recipient` of its events: masked under `do_not_store`."""
        if msg.protection == "do_not_store":
            return msg.to_masked
        return self.number(msg) or msg.to_masked

    def shown(self, msg: Message) -> tuple[str, dict[str, Any] | None]:
        """`to` and `content` as `GET /v1/messages/{id}` shows them."""
        if msg.protection == "do_not_store":
            return msg.to_masked, None
        return self.number(msg) or msg.to_masked, self.content(msg)
