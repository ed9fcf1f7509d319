"""Data protection beyond the message record: events of protected accounts kept only for a
while, the last-sender map without numbers, users' messages sealed on ROUTING_REPORTS, and a
deleted account's data purged by subject."""

from __future__ import annotations

from typing import Any

import nats
import orjson
import pytest
from nats.js.errors import NotFoundError
from parley_devtools.buckets import live_keys
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.sealing import MasterKey
from routing_svc.adapters import kv
from routing_svc.adapters.bus import Bus, JetStreamProviderSink
from routing_svc.adapters.jetstream import JetStreamPublisher
from routing_svc.domain.channels import InboundMessage
from routing_svc.domain.message_ids import account_tag, log_key
from routing_svc.domain.vault import Vault
from routing_testkit import NUMBER, Routing, allow

APPS = {
    "template_lookup": False,
    "url_shortener": True,
    "campaign_manager": False,
    "digital_asset_manager": False,
}
CONVERSATIONAL = {"communication_type": "conversational"}
DIGITS = NUMBER.lstrip("+").encode()
LINK_TEXT = "Your parcel: https://track.example.com/p/5521"


async def stored(js: Any, stream: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """Every message a stream holds now: (subject, data, headers). A stream that never held a
    message reports first and last sequence 0, and sequence 0 is a bad request, not a missing
    one."""
    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    out = []
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:
            continue
        out.append((msg.subject, bytes(msg.data or b""), dict(msg.headers or {})))
    return out


async def _click(routing: Routing, message_id: str) -> None:
    """Follow the short link of a message (found in the links bucket: under do_not_store the
    message log shows no text)."""
    links = await routing.js.key_value(kv.SHORT_LINKS)
    for code in await live_keys(routing.js, kv.SHORT_LINKS):
        if orjson.loads((await links.get(code)).value)["message_id"] == message_id:
            path = routing.api.base + f"/s/{code}"
            async with routing.api.session.get(path, allow_redirects=False) as resp:
                assert resp.status == 302
            return
    raise AssertionError("no short link of the message")


@pytest.mark.parametrize("routing_settings", [{"protected_event_ttl_seconds": 3600}])
async def test_events_of_protected_accounts_carry_a_ttl(routing: Routing) -> None:
    """Under store no event has a Nats-TTL; under encrypt_and_store every status event (full
    number) and the click (URL) do; under do_not_store only the click does (numbers masked)."""
    ttls: dict[str, dict[str, str | None]] = {}
    for protection in ("store", "encrypt_and_store", "do_not_store"):
        account = await routing.account(["sms"], apps=APPS, data_protection=protection)
        message_id = await routing.api.sent(account, content={"text": LINK_TEXT})
        await routing.events.final(message_id)
        await _click(routing, message_id)
        await routing.events.wait(message_id, "clicked")
        kinds: dict[str, str | None] = {}
        for subject, data, headers in await stored(routing.js, subjects.STREAM_STATUS):
            if subject == subjects.status(account.account_id):
                kinds[orjson.loads(data)["type"].rsplit(".", 1)[-1]] = headers.get("Nats-TTL")
        ttls[protection] = kinds
    assert ttls["store"] == {"sent": None, "delivered": None, "clicked": None}
    assert ttls["encrypt_and_store"] == {"sent": "3600", "delivered": "3600", "clicked": "3600"}
    assert ttls["do_not_store"] == {"sent": None, "delivered": None, "clicked": "3600"}


@pytest.mark.parametrize("routing_settings", [{"protected_event_ttl_seconds": 1}])
async def test_a_do_not_store_inbound_text_leaves_the_stream_after_its_ttl(
    routing: Routing,
) -> None:
    """A do_not_store account's inbound message (it carries the user's text) is removed from
    INBOUND by the server once its TTL has passed, while a store account's stays."""
    for protection, sender in (("do_not_store", "SHOPA"), ("store", "SHOPB")):
        await routing.account(
            ["sms"],
            {"sms": {"sender_ids": allow(sender)}},
            data_protection=protection,
            **CONVERSATIONAL,
        )
        body = {"channel": "sms", "from": NUMBER, "to": sender, "text": f"secret to {sender}"}
        assert (await routing.api.call("POST", "/v1/sandbox/inbound", body))[0] == 202
    await eventually(lambda: len(routing.events.inbound) == 2, 5)

    async def texts() -> list[bytes]:
        return [data for _, data, _ in await stored(routing.js, subjects.STREAM_INBOUND)]

    await eventually(lambda: _count(texts, b"secret to SHOPA", 0), 10)
    assert any(b"secret to SHOPB" in data for data in await texts())


async def _count(read: Any, needle: bytes, expected: int) -> bool:
    return sum(needle in data for data in await read()) == expected


async def test_last_sender_map_keeps_no_number(routing: Routing) -> None:
    """The last-sender map holds the conversational account under a keyed hash of the user's
    number (no digits of it in keys or values), and an inbound reply still finds it."""
    talker = await routing.account(["rcs"], **CONVERSATIONAL)
    last = await routing.api.sent(talker, channel="rcs")
    await routing.events.final(last)
    bucket = await routing.js.key_value(kv.LAST_SENDER)
    keys = await live_keys(routing.js, kv.LAST_SENDER)
    assert keys
    for key in keys:
        assert DIGITS[-8:].decode() not in key
        assert DIGITS[-8:] not in (await bucket.get(key)).value
    body = {"channel": "rcs", "from": NUMBER, "to": "unlisted-agent", "text": "hi"}
    assert (await routing.api.call("POST", "/v1/sandbox/inbound", body))[0] == 202
    await eventually(lambda: len(routing.events.inbound) == 1, 5)
    data = routing.events.inbound[0]["data"]
    assert (data["account_id"], data["in_reply_to"]) == (talker.account_id, last)


async def test_a_users_message_waits_on_routing_reports_sealed(nats_url: str) -> None:
    """What a provider hears from a user is stored on ROUTING_REPORTS with the number and text
    sealed (the routed account's protection is not known yet)."""
    from datetime import UTC, datetime

    from parley_shared.streams import ensure_streams

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, 1)
        publisher = JetStreamPublisher(nc)
        await publisher.start()
        vault = Vault(MasterKey(bytes(range(32))))
        sink = JetStreamProviderSink(Bus(nc, publisher), vault)
        heard = InboundMessage(
            "sms-1", "sms", NUMBER, "SHOP1", "please call me back", datetime.now(UTC), "k1"
        )
        await sink.inbound(heard)
        ((_, data, _),) = await stored(js, subjects.STREAM_ROUTING_REPORTS)
        assert DIGITS not in data
        assert b"call me back" not in data
        raw = orjson.loads(data)
        assert vault.open_text(raw["text_sealed"], "sms-1", "user.text") == "please call me back"
        await publisher.stop()
    finally:
        await nc.close()


async def test_a_deleted_accounts_data_is_purged(routing: Routing) -> None:
    """After the tombstone, the account's status events, message records and short links are
    gone, while another account's stay."""
    doomed = await routing.account(["sms"], apps=APPS)
    kept = await routing.account(["sms"], apps=APPS)
    ids = {}
    for account in (doomed, kept):
        message_id = await routing.api.sent(account, content={"text": LINK_TEXT})
        await routing.events.final(message_id)
        ids[account.account_id] = message_id
    assert ids[doomed.account_id][14:20] == account_tag(doomed.account_id)
    messages = await routing.js.key_value(kv.MESSAGES)
    assert len(await live_keys(routing.js, kv.SHORT_LINKS)) == 2
    await routing.accounts.delete(doomed)

    await eventually(lambda: '"account_data_purged"' in routing.log.getvalue(), 10)
    events = [s for s, _, _ in await stored(routing.js, subjects.STREAM_STATUS)]
    assert subjects.status(doomed.account_id) not in events
    with pytest.raises(NotFoundError):
        await messages.get(log_key(ids[doomed.account_id]))
    assert (await messages.get(log_key(ids[kept.account_id]))).value
    await eventually(lambda: _links_left(routing.js, 1), 5)
    events = [s for s, _, _ in await stored(routing.js, subjects.STREAM_STATUS)]
    assert subjects.status(kept.account_id) in events


async def _links_left(js: Any, count: int) -> bool:
    return len(await live_keys(js, kv.SHORT_LINKS)) == count
