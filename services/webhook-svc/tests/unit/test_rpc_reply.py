"""Request/reply answers fit a NATS message."""

from __future__ import annotations

import orjson
from webhook_svc.adapters.rpc import fitted


def test_a_list_too_large_for_one_message_keeps_its_newest_items_and_says_so() -> None:
    """A dead-letter list over max_payload is cut to the newest items that fit, marked
    `truncated`, instead of a reply that cannot be sent."""
    items = [{"id": f"dl_{i:05d}", "reason": "x" * 200} for i in range(5000)]
    body = fitted({"items": items}, 64 * 1024)
    assert len(body) <= 64 * 1024
    reply = orjson.loads(body)
    assert reply["truncated"] is True
    kept = reply["items"]
    assert 0 < len(kept) < len(items)
    assert kept == items[: len(kept)]
    # one more item would not have fitted
    assert len(orjson.dumps({"items": items[: len(kept) + 1], "truncated": True})) > 64 * 1024


def test_a_reply_that_fits_is_sent_whole() -> None:
    """A reply within max_payload is unchanged and not marked truncated."""
    reply = {"items": [{"id": "dl_1"}]}
    assert orjson.loads(fitted(reply, 1024 * 1024)) == reply
