"""What a `do_not_store` account's dead letter may keep of its body: no text, no URL.

A dead letter is kept (30 days) so it can be replayed; under `do_not_store` no message or
inbound text survives the delivery, so the body it keeps has every text and clicked URL
replaced by null. Numbers need nothing here: under `do_not_store` routing-svc masks them in
the events already (`recipient`, `from`, and so `toNumber`, CleverTap's `from`/`toPhone`).

The body is a rendered batch in any payload format (or, for a dead letter never sent, the
event as published); every format names its text and URL fields with one of the keys below
(native `data.text` / `data.url`; CleverTap SMS `incomingText` / `url`; CleverTap
WhatsApp `text: {"body"}`), so one walk over the JSON covers them all, and a format added
later with another key must add it here (the golden tests run every format through it).
A replay of such a dead letter delivers the events without their text.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

CONTENT_KEYS: Final = frozenset({"text", "incomingText", "url"})
"""Keys whose value is a message's or a user's text, or a clicked URL, in any format."""
CONTENT_TYPES: Final = frozenset({"parley.inbound.message", "parley.message.clicked"})
"""Native event types that carry a text or a URL."""


def carries_content(event: dict[str, Any]) -> bool:
    """Whether a native event carries a text or a URL (an inbound message, a click)."""
    return event.get("type") in CONTENT_TYPES


def without_content(body: bytes) -> bytes:
    """`body` (JSON) with every text and URL value replaced by null; a body that is not JSON
    is replaced by `null` altogether (nothing of it can be told safe)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return b"null"
    return orjson.dumps(_walk(value))


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: None if k in CONTENT_KEYS else _walk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(item) for item in value]
    return value
