"""What a message record holds in clear, per the account's data protection.

- `store`: number and content in clear;
- `encrypt_and_store`: number and content sealed under the account's subkey of the day
  (`MasterKey.seal_record`: HKDF from the master key per account and UTC day, AAD = account
  and field), so no key nears AES-GCM's random-nonce limit and a sealed field cannot be moved
  to another record or field;
- `do_not_store`: sealed the same way while in flight (fallback needs them), dropped with the
  final outcome; the masked number is all that stays.

Events on the account's own STATUS / INBOUND subjects carry what the account asked for (the
full number under `store` and `encrypt_and_store`, the masked one under `do_not_store`; texts
and clicked URLs always). Those that carry a full number, a text or a URL of a protected
account (`encrypt_and_store`, `do_not_store`) are kept only for a while: they are published
with a per-message TTL (`event_ttl`), the window in which the account's webhook (webhook-svc)
and its own NATS consumers take them; webhook-svc removes a `do_not_store` account's text
and URL events as soon as it has handled them.
"""

from __future__ import annotations

from typing import Any

import orjson
from parley_shared.sealing import MasterKey

from routing_svc.domain.lifecycle import Message

PROTECTIONS = ("store", "encrypt_and_store", "do_not_store")
USER_FROM = "user.from"
USER_TEXT = "user.text"
"""Fields of a user's message heard through a provider, sealed while it waits on
ROUTING_REPORTS or in parts (owner: the route; the account is not known yet)."""
DEFAULT_EVENT_TTL_S = 86400


def kept_briefly(protection: str, *, full_number: bool, content: bool) -> bool:
    """Whether an event the account receives is kept on its stream only for a while: under
    `do_not_store` one carrying a text or URL (its numbers are masked), under
    `encrypt_and_store` one carrying a full number or a text or URL; never under `store`.
    An unknown protection counts as the strictest."""
    if protection == "store":
        return False
    if protection == "encrypt_and_store":
        return full_number or content
    return content


class Vault:
    """Seals and opens the protected fields of message records, and says how long an event of
    a protected account stays on its stream."""

    def __init__(self, master: MasterKey, event_ttl_s: int = DEFAULT_EVENT_TTL_S) -> None:
        self._master = master
        self.event_ttl_s = event_ttl_s

    def event_ttl(self, protection: str, *, full_number: bool, content: bool) -> int | None:
        """The `Nats-TTL` (seconds) of an event of an account under `protection`, or None when
        it is kept for the stream's retention (see `kept_briefly`)."""
        if kept_briefly(protection, full_number=full_number, content=content):
            return self.event_ttl_s
        return None

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
