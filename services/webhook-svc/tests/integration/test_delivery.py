"""Deliveries over HTTP: filters, metadata, batching, stable batch ids, encryption, signatures."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import orjson
from parley_devtools.account_events import inbound_hook, status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared.sealing import generate_webhook_secret
from parley_shared.timefmt import format_ts, now
from prometheus_client import REGISTRY
from webhook_testkit import (
    PASSPHRASE,
    Account,
    inbound_event,
    open_envelope,
    publish_events,
    status_event,
    verify_standard_webhook,
)


def _skipped(reason: str, kind: str = "status") -> float:
    value = REGISTRY.get_sample_value(
        "parley_webhook_events_skipped_total", {"kind": kind, "reason": reason}
    )
    return value or 0.0


async def test_filters_select_subscribed_events_only(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Only subscribed types arrive (late reports included); the rest are skipped and counted."""
    hook = status_hook(receiver.url("/f"), events=["delivery_status"])
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    await start_service()
    before = _skipped("not_subscribed")
    aid = account.account_id
    events = [
        status_event(aid, "sent"),
        status_event(aid, "delivered"),
        status_event(aid, "read"),
        status_event(aid, "failed"),
        status_event(aid, "fallback"),
        status_event(aid, "typing"),
        status_event(aid, "delivered", late=True),
    ]
    await publish_events(js, events)
    wanted = {events[1]["id"], events[3]["id"], events[6]["id"]}
    await eventually(lambda: set(receiver.event_ids("/f")) == wanted, 5, "subscribed events")
    await eventually(lambda: _skipped("not_subscribed") - before == 4, 5, "skips counted")
    assert sorted(receiver.event_ids("/f")) == sorted(wanted)


async def test_intermediate_notifications_add_fallback_events(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """With intermediate notifications on, fallback events reach the delivery_status webhook."""
    hook = status_hook(
        receiver.url("/i"), events=["delivery_status"], intermediate_delivery_notification=True
    )
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    await start_service()
    fallback = status_event(account.account_id, "fallback", channel="rcs")
    await publish_events(js, [status_event(account.account_id, "sent"), fallback])
    await eventually(lambda: receiver.event_ids("/i") == [fallback["id"]], 5, "fallback event")


async def test_inbound_goes_only_to_the_user_initiated_webhook(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Inbound messages reach user_initiated (native), never the status webhook."""
    account = Account(
        master,
        status_webhook=status_hook(receiver.url("/status"), events=["typing"]),
        inbound_webhook=inbound_hook(receiver.url("/inbound")),
    )
    await account.publish(js)
    await start_service()
    inbound = inbound_event(account.account_id)
    typing = status_event(account.account_id, "typing", channel="whatsapp")
    await publish_events(js, [inbound], inbound=True)
    await publish_events(js, [typing])
    await eventually(lambda: receiver.event_ids("/inbound") == [inbound["id"]], 5, "inbound")
    await eventually(lambda: receiver.event_ids("/status") == [typing["id"]], 5, "typing")
    assert receiver.on("/inbound")[0].events()[0]["data"]["from"] == "+919876543210"


async def test_metadata_pairs_in_data_and_headers(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Metadata pairs are merged into data.metadata and sent as x-parley-meta-<key> headers."""
    hook = status_hook(
        receiver.url("/m"), metadata={"enabled": True, "pairs": {"team": "otp", "region": "in"}}
    )
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    await start_service()
    await publish_events(js, [status_event(account.account_id, metadata={"campaign": "c1"})])
    await eventually(lambda: len(receiver.on("/m")) == 1, 5, "delivery")
    got = receiver.on("/m")[0]
    assert got.events()[0]["data"]["metadata"] == {"campaign": "c1", "team": "otp", "region": "in"}
    assert got.headers["x-parley-meta-team"] == "otp"
    assert got.headers["x-parley-meta-region"] == "in"


async def test_batches_fill_to_max_events_and_linger_cuts_the_rest(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """23 events with max_events 10 arrive as bodies of 10, 10 and 3, each a JSON array."""
    hook = status_hook(receiver.url("/b"), batch={"enabled": True, "max_events": 10})
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    await start_service(batch_linger_ms=200, batch_eager=False)
    events = [status_event(account.account_id, "sent") for _ in range(23)]
    await publish_events(js, events)
    await eventually(lambda: len(receiver.event_ids("/b")) == 23, 5, "23 events")
    sizes = sorted(len(r.json()) for r in receiver.on("/b"))
    assert sizes == [3, 10, 10]
    ids = {r.headers["webhook-id"] for r in receiver.on("/b")}
    assert len(ids) == 3
    assert all(i.startswith("bat_") for i in ids)
    assert sorted(receiver.event_ids("/b")) == sorted(e["id"] for e in events)


async def test_batch_keeps_its_id_and_body_across_retries(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """A batch retried after failures is sent again with the same webhook-id and body."""
    hook = status_hook(receiver.url("/r"), batch={"enabled": True, "max_events": 5})
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    receiver.script("/r", [500, 502])
    await start_service(batch_eager=False)
    await publish_events(js, [status_event(account.account_id, "sent") for _ in range(5)])
    await eventually(lambda: len(receiver.on("/r")) == 3, 10, "two retries")
    tries = receiver.on("/r")
    assert len({t.headers["webhook-id"] for t in tries}) == 1
    assert len({t.body for t in tries}) == 1
    assert len({t.headers["webhook-signature"] for t in tries}) >= 1


async def test_unbatched_webhook_id_is_the_event_id(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Without batching the body is the single event and webhook-id is its id."""
    account = Account(master, status_webhook=status_hook(receiver.url("/u")))
    await account.publish(js)
    await start_service()
    event = status_event(account.account_id)
    await publish_events(js, [event])
    await eventually(lambda: len(receiver.on("/u")) == 1, 5, "delivery")
    got = receiver.on("/u")[0]
    assert got.headers["webhook-id"] == event["id"]
    assert got.json()["id"] == event["id"]


async def test_encrypted_body_and_both_signatures_verify_independently(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """The envelope opens with PBKDF2+AES-GCM and each rotated secret verifies the body as sent."""
    hook = status_hook(
        receiver.url("/e"),
        batch={"enabled": True, "max_events": 3},
        encryption={"enabled": True, "algorithm": "aes-256", "version_code": "v7"},
    )
    secrets = [generate_webhook_secret(), generate_webhook_secret()]
    account = Account(master, status_webhook=hook, signing_secrets=secrets)
    await account.publish(js)
    await start_service(batch_eager=False)
    events = [status_event(account.account_id) for _ in range(3)]
    await publish_events(js, events)
    await eventually(lambda: len(receiver.on("/e")) == 1, 10, "delivery")
    got = receiver.on("/e")[0]
    envelope = got.json()
    assert set(envelope) == {"v", "alg", "kid", "salt", "iv", "ct"}
    assert (envelope["alg"], envelope["kid"], envelope["salt"]) == (
        "A256GCM",
        "v7",
        account.salts["status"],
    )
    plain = orjson.loads(open_envelope(PASSPHRASE, envelope))
    assert [e["id"] for e in plain] == [e["id"] for e in events]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in secrets:
        assert verify_standard_webhook(secret, got.headers, got.body)
    assert not verify_standard_webhook(generate_webhook_secret(), got.headers, got.body)
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 30


async def test_expired_previous_secret_no_longer_signs(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """A rotated-out secret past its valid_until does not sign; the current one does."""
    from parley_shared.events import SealedSecret

    current, old = generate_webhook_secret(), generate_webhook_secret()
    account = Account(master, status_webhook=status_hook(receiver.url("/x")))
    account.signing_secrets = [current]
    original = account._secrets

    def secrets_with_expired_old() -> Any:
        out = original()
        past = format_ts(now() - timedelta(minutes=1))
        sealed = master.seal(old, aad=account.account_id)
        out.webhook_signing_secrets.append(SealedSecret(value=sealed, valid_until=past))
        return out

    account._secrets = secrets_with_expired_old  # type: ignore[method-assign]
    await account.publish(js)
    await start_service()
    await publish_events(js, [status_event(account.account_id)])
    await eventually(lambda: len(receiver.on("/x")) == 1, 5, "delivery")
    got = receiver.on("/x")[0]
    assert verify_standard_webhook(current, got.headers, got.body)
    assert not verify_standard_webhook(old, got.headers, got.body)


async def test_formats_skip_what_they_cannot_express(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """CleverTap SMS drops `sent` (counted as not expressible) and delivers `delivered`."""
    hook = status_hook(receiver.url("/ct"), payload_format="clevertap")
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    await start_service()
    before = _skipped("not_expressible")
    delivered = status_event(account.account_id, "delivered", client_ref="ref-9")
    await publish_events(js, [status_event(account.account_id, "sent"), delivered])
    await eventually(lambda: len(receiver.on("/ct")) == 1, 5, "delivery")
    await eventually(lambda: _skipped("not_expressible") - before == 1, 5, "skip counted")
    body = receiver.on("/ct")[0].json()
    assert body[0]["event"] == "delivered"
    assert body[0]["data"][0]["meta"] == "ref-9"


async def test_an_idle_endpoint_gets_an_event_at_once_and_a_busy_one_gets_batches(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Eager batching (the default): with a 1 s linger, a lone event reaches an idle endpoint at
    once (a body of one, well before the linger); while its answer is slow (1.5 s), the next
    events gather and go as full bodies of 5."""
    hook = status_hook(receiver.url("/eager"), batch={"enabled": True, "max_events": 5})
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    await start_service(batch_linger_ms=1000)
    receiver.delays["/eager"] = 1.5
    first = status_event(account.account_id, "sent")
    started = asyncio.get_running_loop().time()
    await publish_events(js, [first])
    await eventually(lambda: receiver.in_flight >= 1, 5, "the first event sent")
    assert asyncio.get_running_loop().time() - started < 0.8  # not held for the 1 s linger
    rest = [status_event(account.account_id, "sent") for _ in range(10)]
    await publish_events(js, rest)
    await eventually(lambda: len(receiver.event_ids("/eager")) == 11, 15, "all events")
    sizes = [len(r.json()) for r in receiver.on("/eager")]
    assert sizes[0] == 1
    assert sorted(sizes[1:]) == [5, 5]
