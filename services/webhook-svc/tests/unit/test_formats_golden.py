"""Golden-file tests of every payload format for every event type and channel (CONTRACT 7, 8).

Set UPDATE_GOLDEN=1 to rewrite the files after a deliberate change, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from webhook_svc.domain.formats import (
    FORMATS,
    GROUP_OTT_INBOUND,
    INBOUND_FORMATS,
    assemble,
    render,
    unexpressible,
)

GOLDEN = Path(__file__).parent.parent / "golden"
CHANNELS = ("sms", "rcs", "whatsapp", "truecaller")
KINDS = (
    "sent",
    "delivered",
    "read",
    "failed",
    "fallback",
    "typing",
    "late_delivered",
    "clicked",
    "inbound",
    "inbound_reply",
)
PAIRS = {"team": "otp"}
TYPES = {
    "sent": "parley.message.sent",
    "delivered": "parley.message.delivered",
    "late_delivered": "parley.message.delivered",
    "read": "parley.message.read",
    "failed": "parley.message.failed",
    "fallback": "parley.message.fallback",
    "typing": "parley.message.typing",
    "clicked": "parley.message.clicked",
    "inbound": "parley.inbound.message",
    "inbound_reply": "parley.inbound.message",
}


def golden_event(kind: str, channel: str, n: int = 0) -> dict[str, Any]:
    """A fixed event of `kind` on `channel` (ids and times fixed, so output is stable)."""
    base = {
        "specversion": "1.0",
        "id": f"evt_{kind}_{channel}_{n}",
        "type": TYPES[kind],
        "source": "parley/accounts/acc_golden",
        "subject": "msg_golden",
        "time": "2026-11-26T10:00:00.123Z",
        "datacontenttype": "application/json",
    }
    if kind in ("inbound", "inbound_reply"):
        reply = kind == "inbound_reply"
        base["subject"] = "inb_golden"
        base["data"] = {
            "inbound_id": "inb_golden",
            "account_id": "acc_golden",
            "channel": channel,
            "from": "+919876543210",
            "to": "+919800000001",
            "text": "Yes, deliver after 6 pm" if reply else "STOP",
            "in_reply_to": "msg_golden" if reply else None,
            "received_at": "2026-11-26T09:59:59.900Z" if reply else "2026-11-26T10:00:00.100Z",
            "metadata": None,
        }
        return base
    failed = kind in ("failed", "fallback")
    base["data"] = {
        "message_id": "msg_golden",
        "account_id": "acc_golden",
        "client_ref": "order-77",
        "channel": channel,
        "route": f"{channel}-1",
        "sender": "PARLEY",
        "recipient": "+919876543210",
        "status": None
        if kind in ("typing", "clicked")
        else ("failed" if failed else kind.rsplit("_", 1)[-1]),
        "reason": "invalid_number" if failed else None,
        "attempt": 2,
        "fallback_from": None,
        "fallback_to": "sms" if kind == "fallback" else None,
        "final": kind in ("delivered", "failed"),
        "metadata": {"campaign": "c1"},
        "campaign_id": "spring-sale" if kind == "clicked" else None,
    }
    if kind == "late_delivered":
        base["data"]["late"] = True
    if kind == "clicked":
        base["data"]["url"] = "https://shop.example.com/o/77"
        base["data"]["shorturl"] = "https://sho.rt/s/Ab3dE6gH9jK2"
    return base


def single_bodies(payload_format: str) -> dict[str, Any]:
    """`kind/channel` -> the body of that event alone (unbatched), or "skipped" (a status event
    the format cannot express), or "dead-lettered: <last_error>" (such an inbound event)."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        for channel in CHANNELS:
            event = golden_event(kind, channel)
            item = render(payload_format, event, PAIRS, orjson.dumps(event))
            if item is None and kind.startswith("inbound"):
                out[f"{kind}/{channel}"] = f"dead-lettered: {unexpressible(payload_format, event)}"
                continue
            if item is None:
                out[f"{kind}/{channel}"] = "skipped"
                continue
            body = assemble(payload_format, item.group, [item.body], batched=False)
            out[f"{kind}/{channel}"] = orjson.loads(body)
    return out


def batch_bodies(payload_format: str) -> dict[str, Any]:
    """Bodies of one batch of mixed events, one per group the format batches by."""
    events = [
        golden_event("delivered", "sms", 1),
        golden_event("failed", "sms", 2),
        golden_event("read", "whatsapp", 3),
        golden_event("delivered", "rcs", 4),
        golden_event("sent", "truecaller", 5),
    ]
    groups: dict[str, list[bytes]] = {}
    for event in events:
        item = render(payload_format, event, PAIRS, orjson.dumps(event))
        if item is not None:
            groups.setdefault(item.group or "all", []).append(item.body)
    if payload_format == "webengage":
        return {"batching": "not supported: one event per body"}
    return {
        group: orjson.loads(assemble(payload_format, "" if group == "all" else group, items, True))
        for group, items in groups.items()
    }


def check(name: str, actual: Any) -> None:
    """Compare with (or, under UPDATE_GOLDEN=1, write) tests/golden/<name>.json."""
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(orjson.dumps(actual, option=orjson.OPT_INDENT_2) + b"\n")
    assert actual == orjson.loads(path.read_bytes())


@pytest.mark.parametrize("payload_format", sorted(FORMATS))
def test_every_event_type_and_channel_matches_golden(payload_format: str) -> None:
    """Each event type on each channel renders alone exactly as the golden file says."""
    check(f"{payload_format}_single", single_bodies(payload_format))


@pytest.mark.parametrize("payload_format", sorted(FORMATS))
def test_batches_match_golden(payload_format: str) -> None:
    """A batch of mixed events renders as the golden file says, per group of the format."""
    check(f"{payload_format}_batch", batch_bodies(payload_format))


def test_native_merges_pairs_over_message_metadata() -> None:
    """Native output keeps the message's metadata and adds the webhook's pairs (pairs win)."""
    event = golden_event("delivered", "sms")
    event["data"]["metadata"] = {"campaign": "c1", "team": "mine"}
    item = render("native", event, {"team": "otp", "region": "in"})
    assert item is not None
    assert orjson.loads(item.body)["data"]["metadata"] == {
        "campaign": "c1",
        "team": "otp",
        "region": "in",
    }
    assert event["data"]["metadata"] == {"campaign": "c1", "team": "mine"}


def test_native_without_pairs_sends_the_event_bytes_as_received() -> None:
    """Without metadata pairs the native body is the STATUS payload byte for byte."""
    raw = b'{"id": "evt_1", "type": "parley.message.sent", "data": {"metadata": null}}'
    item = render("native", orjson.loads(raw), {}, raw)
    assert item is not None
    assert item.body == raw


def test_event_without_channel_is_not_expressible_outside_native() -> None:
    """A status event lacking a channel is skipped by every non-native format."""
    event = golden_event("delivered", "sms")
    event["data"]["channel"] = None
    assert [f for f in sorted(FORMATS) if render(f, event, {}) is not None] == ["native"]


def test_clevertap_sms_carries_late_and_metadata_pairs_winning() -> None:
    """A CleverTap SMS entry carries `late` and the message metadata merged with the pairs
    (a pair wins); without either, neither key appears."""
    event = golden_event("late_delivered", "sms")
    event["data"]["metadata"] = {"campaign": "c1", "team": "mine"}
    item = render("clevertap", event, {"team": "otp"})
    assert item is not None
    [entry] = orjson.loads(item.body)["data"]
    assert (entry["late"], entry["metadata"]) == (True, {"campaign": "c1", "team": "otp"})
    plain = golden_event("delivered", "sms")
    plain["data"]["metadata"] = None
    item = render("clevertap", plain, {})
    assert item is not None
    [entry] = orjson.loads(item.body)["data"]
    assert "late" not in entry
    assert "metadata" not in entry


@pytest.mark.parametrize("payload_format", sorted(FORMATS))
def test_only_inbound_formats_express_a_reply_on_every_channel(payload_format: str) -> None:
    """A reply renders on every channel exactly in the formats of INBOUND_FORMATS."""
    rendered = {
        channel: render(payload_format, golden_event("inbound_reply", channel), PAIRS) is not None
        for channel in CHANNELS
    }
    expected = payload_format in INBOUND_FORMATS
    assert rendered == dict.fromkeys(CHANNELS, expected)


def test_clevertap_inbound_messages_are_never_batched() -> None:
    """CleverTap's incoming message callback holds one message: two in a body are refused."""
    with pytest.raises(ValueError, match="one event per body"):
        assemble("clevertap", GROUP_OTT_INBOUND, [b"{}", b"{}"], batched=True)
