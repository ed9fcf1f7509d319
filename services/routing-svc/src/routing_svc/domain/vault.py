"""What a message record holds in clear, per the account's data protection.

- `store`: number and content in clear;
- `encrypt_and_store`: number and content sealed with the master key (AAD = the account id);
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
        self, protection: str, account_id: str, to: str, content: dict[str, Any]
    ) -> dict[str, Any]:
        """The record fields holding `to` and `content` under `protection`."""
        if protection == "store":
            return {"to": to, "content": content}
        return {
            "to_sealed": self._master.seal(to, aad=account_id),
            "content_sealed": self._master.seal(orjson.dumps(content).decode(), aad=account_id),
        }

    def seal_text(self, value: str, account_id: str) -> str:
        """A value sealed with the master key for this account (AAD = the account id)."""
        return self._master.seal(value, aad=account_id)

    def open_text(self, sealed: str, account_id: str) -> str:
        """A value sealed by `seal_text`."""
        return self._master.unseal(sealed, aad=account_id)

    def number(self, msg: Message) -> str | None:
        """The full number, or None once a `do_not_store` message has dropped it."""
        if msg.to is not None:
            return msg.to
        if msg.to_sealed is not None:
            return self._master.unseal(msg.to_sealed, aad=msg.account_id)
        return None

    def content(self, msg: Message) -> dict[str, Any] | None:
        """The content, or None once a `do_not_store` message has dropped it."""
        if msg.content is not None:
            return msg.content
        if msg.content_sealed is not None:
            opened = self._master.unseal(msg.content_sealed, aad=msg.account_id)
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
