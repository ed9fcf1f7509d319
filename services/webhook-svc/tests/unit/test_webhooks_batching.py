"""Webhook settings from a config event, batching rules and the durable record shapes."""

from __future__ import annotations

from datetime import timedelta

from parley_shared.accounts import Expiring, OpenedSecrets
from parley_shared.timefmt import now
from webhook_svc.adapters.codec import (
    decode_dead_letter,
    decode_delivery,
    encode_dead_letter,
    encode_delivery,
    public_dead_letter,
)
from webhook_svc.domain.batching import Batcher, BatchKey
from webhook_svc.domain.records import DeadLetter, Delivery
from webhook_svc.domain.webhooks import webhooks_of

URL = "https://hooks.example.com/p"


def _account(**status: object) -> dict[str, object]:
    hook = {"url": URL, "events": ["sent"], "batch": {"enabled": True, "max_events": 20}}
    hook.update(status)
    return {"webhooks": {"status": hook, "user_initiated": {"url": URL}}}


def test_batching_follows_the_config_and_the_format() -> None:
    """Batching is on with max_events for status webhooks, never for webengage or inbound."""
    hooks = webhooks_of("acc_1", 3, _account(), OpenedSecrets()).hooks
    assert (hooks["status"].batching, hooks["status"].max_events) == (True, 20)
    assert (hooks["user_initiated"].batching, hooks["user_initiated"].max_events) == (False, 1)
    webengage = webhooks_of("acc_1", 3, _account(payload_format="webengage"), OpenedSecrets())
    assert webengage.hooks["status"].max_events == 1
    off = webhooks_of("acc_1", 3, _account(batch={"enabled": False}), OpenedSecrets())
    assert (off.hooks["status"].batching, off.hooks["status"].max_events) == (False, 1)


def test_sealed_url_and_metadata_headers_come_from_the_event() -> None:
    """The full URL comes from the opened secrets; metadata pairs become x-parley-meta headers."""
    secrets = OpenedSecrets(webhook_urls={"status": "nats://u:pw@h:4222/s"})
    config = _account(url="nats://u:***@h:4222/s", metadata={"enabled": True, "pairs": {"a": "1"}})
    hook = webhooks_of("acc_1", 1, config, secrets).hooks["status"]
    assert hook.target is not None
    assert hook.target.password == "pw"
    assert hook.meta_headers == {"x-parley-meta-a": "1"}
    disabled = _account(metadata={"enabled": False, "pairs": {"a": "1"}})
    assert webhooks_of("acc_1", 1, disabled, OpenedSecrets()).hooks["status"].meta_headers == {}


def test_signing_secrets_expire_by_time() -> None:
    """A replaced signing secret signs until its valid_until, then only the new one does."""
    at = now()
    secrets = OpenedSecrets(
        signing_secrets=(
            Expiring("whsec_new", None),
            Expiring("whsec_old", at + timedelta(hours=24)),
        )
    )
    hook = webhooks_of("acc_1", 1, _account(), secrets).hooks["status"]
    assert hook.secrets_at(at) == ["whsec_new", "whsec_old"]
    assert hook.secrets_at(at + timedelta(hours=25)) == ["whsec_new"]


def test_batcher_cuts_full_batches_and_lingering_ones_once() -> None:
    """A batch is cut when full; a lingering one is cut once, and not after it filled up."""
    batcher: Batcher[str] = Batcher()
    key = BatchKey("acc_1", "status", 1, "")
    opened, full = batcher.add(key, 3, b"1", "e1", "r1")
    assert opened is not None
    assert full is None
    batcher.add(key, 3, b"2", "e2", "r2")
    _, full = batcher.add(key, 3, b"3", "e3", "r3")
    assert full is not None
    assert full.event_ids == ["e1", "e2", "e3"]
    assert batcher.take(opened) is None  # already cut when it filled up
    lone, _ = batcher.add(key, 3, b"4", "e4", "r4")
    assert lone is not None
    assert batcher.take(lone) is lone
    assert len(batcher) == 0


def test_unbatched_webhooks_cut_every_event_at_once() -> None:
    """With max_events 1 each event is its own batch, with no linger."""
    batcher: Batcher[str] = Batcher()
    opened, full = batcher.add(BatchKey("a", "status", 1, ""), 1, b"x", "e1", "r1")
    assert opened is None
    assert full is not None


def test_records_round_trip_with_body_bytes_untouched() -> None:
    """Batches and dead letters encode and decode without re-encoding the body."""
    body = b'[{"id":"evt_1","text":"line\\nbreak"}]'
    delivery = Delivery("bat_1", "acc_1", "status", ["evt_1"], body, 2, {"x-parley-meta-a": "1"})
    assert decode_delivery(encode_delivery(delivery)) == delivery
    letter = DeadLetter("dl_1", delivery, 4, "HTTP 500", "2026-11-26T10:00:00.000Z")
    back = decode_dead_letter(encode_dead_letter(letter))
    assert back.delivery.body == body
    assert back.public() == letter.public()
    assert public_dead_letter(encode_dead_letter(letter)) == {
        "id": "dl_1",
        "kind": "status",
        "event_ids": ["evt_1"],
        "attempts": 4,
        "last_error": "HTTP 500",
        "failed_at": "2026-11-26T10:00:00.000Z",
    }
