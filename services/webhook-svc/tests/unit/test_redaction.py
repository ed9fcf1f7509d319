"""What a do_not_store dead letter keeps: every format's rendering of every text-carrying event
loses its text and URL and nothing else; and sealed records open only with their key."""

from __future__ import annotations

import orjson
import pytest
from parley_shared.sealing import MasterKey
from unit.test_formats_golden import CHANNELS, PAIRS, golden_event
from webhook_svc.adapters.codec import (
    BodySeal,
    decode_dead_letter,
    decode_delivery,
    encode_dead_letter,
    encode_delivery,
)
from webhook_svc.domain.formats import FORMATS, assemble, render
from webhook_svc.domain.records import DeadLetter, Delivery
from webhook_svc.domain.redaction import CONTENT_KEYS, carries_content, without_content

TEXTS = ("STOP", "Yes, deliver after 6 pm", "https://shop.example.com/o/77")
MASTER = MasterKey(bytes(range(32)))


@pytest.mark.parametrize("payload_format", sorted(FORMATS))
@pytest.mark.parametrize("kind", ["inbound", "inbound_reply", "clicked"])
def test_no_text_or_url_survives_in_any_format(payload_format: str, kind: str) -> None:
    """Each rendering of an inbound message or a click, alone or batched, keeps no text or URL
    once redacted, and stays JSON with the same shape otherwise."""
    for channel in CHANNELS:
        event = golden_event(kind, channel)
        assert carries_content(event)
        item = render(payload_format, event, PAIRS, orjson.dumps(event))
        if item is None:
            continue
        body = assemble(payload_format, item.group, [item.body], batched=False)
        kept = without_content(body)
        for text in TEXTS:
            assert text.encode() not in kept, (payload_format, kind, channel)
        assert _paths(orjson.loads(kept)) == _paths(orjson.loads(body))


def _paths(value: object, at: tuple[object, ...] = ()) -> set[tuple[object, ...]]:
    """Every key path of a JSON value, stopping at text and URL keys (their subtree goes)."""
    out = {at}
    if isinstance(value, dict):
        for key, item in value.items():
            out |= {(*at, key)} if key in CONTENT_KEYS else _paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out |= _paths(item, (*at, index))
    return out


def test_status_events_carry_no_content_and_keep_their_fields() -> None:
    """A delivered event is not content-carrying, and redaction leaves its fields as they were."""
    event = golden_event("delivered", "sms")
    assert not carries_content(event)
    assert orjson.loads(without_content(orjson.dumps(event))) == event


def test_a_body_that_is_not_json_is_dropped_whole() -> None:
    """Nothing of a body that cannot be parsed can be told safe: it becomes null."""
    assert without_content(b"\xff not json") == b"null"


def _delivery(protection: str) -> Delivery:
    return Delivery(
        "bat_1", "acc_1", "status", ["evt_1"], b'{"text":"secret"}', protection=protection
    )


def test_protected_records_are_sealed_and_open_with_the_key() -> None:
    """A protected account's retry record and dead letter hold the body sealed under its
    account; they read back whole with the key, and not without it or as another account."""
    seal = BodySeal(MASTER)
    for protection in ("encrypt_and_store", "do_not_store", "unknown"):
        record = encode_delivery(_delivery(protection), seal)
        assert b"secret" not in record
        assert decode_delivery(record, seal) == _delivery(protection)
        with pytest.raises(ValueError, match="sealed"):
            decode_delivery(record)
        moved = record.replace(b'"acc_1"', b'"acc_2"', 1)
        with pytest.raises(ValueError, match="does not open"):
            decode_delivery(moved, seal)
        letter = DeadLetter("dl_1", _delivery(protection), 4, "failed", "2026-01-01T00:00:00.000Z")
        data = encode_dead_letter(letter, seal)
        assert b"secret" not in data
        assert decode_dead_letter(data, seal).delivery.body == b'{"text":"secret"}'


def test_store_records_stay_clear() -> None:
    """Under store the body is kept as it is (no metadata flag)."""
    record = encode_delivery(_delivery("store"), BodySeal(MASTER))
    assert record.endswith(b'{"text":"secret"}')
    assert b"sealed" not in record.split(b"\n", 1)[0]


def test_a_raw_dead_letter_stays_raw() -> None:
    """An unsent (raw) event's dead letter reads back raw, so a replay renders it."""
    raw = Delivery("evt_1", "acc_1", "user_initiated", ["evt_1"], b"{}", raw=True)
    letter = DeadLetter("dl_1", raw, 0, "waited", "2026-01-01T00:00:00.000Z")
    assert decode_dead_letter(encode_dead_letter(letter)).delivery.raw is True
