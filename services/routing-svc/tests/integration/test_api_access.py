"""The messaging API's front door: API keys, IP restriction, envelopes, validation, policy, and
account changes taking effect."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import nats
import orjson
import pytest
from parley_devtools.buckets import live_keys
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.timefmt import format_ts, now
from routing_svc import access
from routing_svc.adapters.kv import MESSAGES
from routing_testkit import NUMBER, Routing, allow

SMS = {"to": NUMBER, "channel": "sms", "content": {"text": "Your code is 4821"}}


async def test_api_key_by_bearer_or_x_api_key_else_401(routing: Routing) -> None:
    """Both headers carry the key; none, or a key no account holds, is 401 unauthorized."""
    account = await routing.account(["sms"])
    status, _ = await routing.api.call(
        "POST", "/v1/messages", SMS, headers={"X-API-Key": account.api_key}
    )
    assert status == 202
    status, body = await routing.api.call("POST", "/v1/messages", SMS)
    assert (status, body["type"]) == (401, "unauthorized")
    status, body = await routing.api.call("POST", "/v1/messages", SMS, key="pk_not_a_key")
    assert (status, body["type"], body["status"]) == (401, "unauthorized", 401)


@pytest.mark.parametrize("routing_settings", [{"trusted_proxies": "127.0.0.1/32"}])
async def test_ip_restriction_and_forwarded_for_from_trusted_proxy(routing: Routing) -> None:
    """Loopback is outside the allowlist (403); a trusted proxy's X-Forwarded-For is believed."""
    account = await routing.account(
        ["sms"], ip_restriction=allow("203.0.113.0/24", "2001:db8::/32")
    )
    status, body = await routing.api.send(account)
    assert (status, body["type"]) == (403, "ip_not_allowed")
    for client in ("203.0.113.9", "2001:db8::7", "198.51.100.1, 203.0.113.9"):
        status, body = await routing.api.call(
            "POST",
            "/v1/messages",
            SMS,
            key=account.api_key,
            headers={"X-Forwarded-For": client},
        )
        assert status == 202, (client, body)
    status, body = await routing.api.call(
        "POST",
        "/v1/messages",
        SMS,
        key=account.api_key,
        headers={"X-Forwarded-For": "198.51.100.1"},
    )
    assert (status, body["type"]) == (403, "ip_not_allowed")


async def test_forwarded_for_ignored_without_trusted_proxies(routing: Routing) -> None:
    """With no trusted proxies, X-Forwarded-For cannot smuggle an allowed address in."""
    account = await routing.account(["sms"], ip_restriction=allow("203.0.113.0/24"))
    status, body = await routing.api.call(
        "POST",
        "/v1/messages",
        SMS,
        key=account.api_key,
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert (status, body["type"]) == (403, "ip_not_allowed")
    loopback = await routing.account(["sms"], ip_restriction=allow("127.0.0.0/8"))
    assert (await routing.api.send(loopback))[0] == 202


async def test_encrypting_account_sends_and_answers_envelopes(routing: Routing) -> None:
    """An envelope request is opened; the 202 answer is an envelope under the current key."""
    account = await routing.account(["sms"], encrypted=True)
    status, raw = await routing.api.call(
        "POST", "/v1/messages", raw=account.seal(SMS), key=account.api_key
    )
    assert status == 202
    assert set(raw) == {"v", "alg", "kid", "salt", "iv", "ct"}
    answer = account.open(raw)
    assert answer["status"] == "accepted"
    status, raw = await routing.api.call(
        "GET", f"/v1/messages/{answer['message_id']}", key=account.api_key
    )
    assert status == 200
    assert account.open(raw)["message_id"] == answer["message_id"]


async def test_plain_json_to_encrypting_account_is_decryption_failed(routing: Routing) -> None:
    """A plain JSON body to an encrypting account is 400 decryption_failed (not encrypted)."""
    account = await routing.account(["sms"], encrypted=True)
    status, body = await routing.api.call("POST", "/v1/messages", SMS, key=account.api_key)
    assert (status, body["type"]) == (400, "decryption_failed")


def _tampered(envelope: dict[str, Any], field: str) -> dict[str, Any]:
    changed = dict(envelope)
    if field == "kid":
        changed["kid"] = "v9"
    elif field == "salt":
        changed["salt"] = base64.b64encode(b"\x00" * 16).decode()
    else:
        ct = bytearray(base64.b64decode(changed["ct"]))
        ct[-1] ^= 1
        changed["ct"] = base64.b64encode(bytes(ct)).decode()
    return changed


@pytest.mark.parametrize("field", ["kid", "salt", "ct"])
async def test_unknown_kid_foreign_salt_or_bad_tag_is_400(routing: Routing, field: str) -> None:
    """An unknown kid, a salt not the account's, or a failed tag: 400, never accepted."""
    account = await routing.account(["sms"], encrypted=True)
    envelope = _tampered(orjson.loads(account.seal(SMS)), field)
    status, body = await routing.api.call("POST", "/v1/messages", envelope, key=account.api_key)
    assert (status, body["type"]) == (400, "decryption_failed")


async def test_previous_key_version_still_opens_and_answer_uses_current(routing: Routing) -> None:
    """After a passphrase change the previous version is accepted; the answer uses the new one."""
    account = await routing.account(["sms"], encrypted=True)
    rotated = await routing.accounts.rotate_payload_key(account)

    async def rotated_in_view() -> bool:
        status, _ = await routing.api.call(
            "POST", "/v1/messages", raw=rotated.seal(SMS, 0), key=rotated.api_key
        )
        return status == 202

    await eventually(rotated_in_view, 5)
    status, raw = await routing.api.call(
        "POST", "/v1/messages", raw=rotated.seal(SMS, 1), key=rotated.api_key
    )
    assert status == 202
    assert raw["kid"] == "v2"
    assert rotated.open(raw)["status"] == "accepted"


async def test_body_not_json_is_malformed_request(routing: Routing) -> None:
    """A body that is not JSON is 400 malformed_request."""
    account = await routing.account(["sms"])
    status, body = await routing.api.call(
        "POST", "/v1/messages", raw=b"to=+91&channel=sms", key=account.api_key
    )
    assert (status, body["type"]) == (400, "malformed_request")


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"channel": "fax"}, ["channel"]),
        ({"to": "98765"}, ["to"]),
        ({"content": None}, ["content"]),
        ({"colour": "red"}, ["colour"]),
        ({"content": {"text": "hi", "x": 1}}, ["content", "x"]),
        ({"validity_seconds": 0}, ["validity_seconds"]),
    ],
)
async def test_invalid_fields_are_422_naming_them(
    routing: Routing, change: dict[str, Any], loc: list[str]
) -> None:
    """A missing, invalid or unknown field (an unknown channel too) is 422 naming it."""
    account = await routing.account(["sms"])
    body = {**SMS, **change}
    if change.get("content", 1) is None:
        del body["content"]
    status, answer = await routing.api.call("POST", "/v1/messages", body, key=account.api_key)
    assert (status, answer["type"]) == (422, "validation_error")
    assert loc in [error["loc"] for error in answer["errors"]]


async def test_channel_not_enabled_and_sender_not_allowed(routing: Routing) -> None:
    """A channel the account lacks, or a sender outside its list, is refused with its type."""
    account = await routing.account(
        ["sms", "whatsapp"],
        {"sms": {"sender_ids": allow("PARLEY")}, "whatsapp": {"wabas": allow("+919800000001")}},
    )
    status, body = await routing.api.send(account, channel="rcs")
    assert (status, body["type"]) == (422, "channel_not_enabled")
    status, body = await routing.api.send(account, sender="OTHER")
    assert (status, body["type"]) == (422, "sender_not_allowed")
    status, body = await routing.api.send(account, channel="whatsapp", sender="+919800000002")
    assert (status, body["type"]) == (422, "sender_not_allowed")
    assert (await routing.api.send(account, sender="PARLEY"))[0] == 202


async def test_deleted_account_and_replaced_key_stop_within_a_second(routing: Routing) -> None:
    """A new key works and the old one fails within 1 s; a tombstone disables the account."""
    account = await routing.account(["sms"])
    rotated = await routing.accounts.update(account, api_key="pk_" + "n" * 43)
    started = time.monotonic()

    async def switched() -> bool:
        new = (await routing.api.send(rotated))[0]
        old = (await routing.api.send(account))[0]
        return new == 202 and old == 401

    await eventually(switched, 1.0)
    await routing.accounts.delete(rotated)

    async def gone() -> bool:
        return (await routing.api.send(rotated))[0] == 401

    await eventually(gone, 1.0)
    assert time.monotonic() - started < 2.0


async def test_changed_setting_takes_effect(routing: Routing) -> None:
    """Dropping a channel from the account refuses it on the next sends within 1 s."""
    account = await routing.account(["sms", "rcs"])
    config_channels = {**account.config["channel_settings"]}
    del config_channels["rcs"]
    await routing.accounts.update(account, channels=["sms"], channel_settings=config_channels)

    async def refused() -> bool:
        status, body = await routing.api.send(account, channel="rcs")
        return status == 422 and body["type"] == "channel_not_enabled"

    await eventually(refused, 1.0)


async def test_older_config_version_is_ignored(routing: Routing) -> None:
    """A config event whose version is not newer than the view's changes nothing."""
    account = await routing.account(["sms"])
    newer = await routing.accounts.update(
        account,
        channels=["sms", "rcs"],
        channel_settings={
            **account.config["channel_settings"],
            "rcs": {
                "agent_providers": ["airtel"],
                "agents": {"mode": "all"},
                "verify_profile": "non_strict",
                "fallback": {
                    "enabled": False,
                    "channel": None,
                    "dr_ttl_seconds": None,
                    "events": [],
                },
            },
        },
    )
    await eventually(lambda: _accepted(routing, newer, "rcs"), 5)
    await routing.accounts.publish(account)  # version 1 again
    await routing.accounts.publish(newer)  # a repeat of version 2: also not newer
    status, _ = await routing.api.send(newer, channel="rcs")
    assert status == 202


async def _accepted(routing: Routing, account: Any, channel: str) -> bool:
    return (await routing.api.send(account, channel=channel))[0] == 202


async def test_health_readiness_metrics_openapi(routing: Routing) -> None:
    """/healthz, /readyz (view loaded), /metrics and /openapi.json answer."""
    assert (await routing.api.call("GET", "/healthz"))[0] == 200
    status, ready = await routing.api.call("GET", "/readyz")
    assert (status, ready["accounts"]) == (200, True)
    status, metrics = await routing.api.call("GET", "/metrics")
    assert status == 200
    assert b"parley_routing_http_requests_total" in metrics
    status, document = await routing.api.call("GET", "/openapi.json")
    assert status == 200
    assert "/v1/messages" in document["paths"]
    assert "MessageIn" in document["components"]["schemas"]


async def _raw_post(base: str, header: bytes) -> tuple[int, Any]:
    """POST /v1/messages over a raw socket with `header` as sent (bytes clients refuse)."""
    url = urlsplit(base)
    assert url.hostname == "127.0.0.1"
    body = orjson.dumps(SMS)
    request = (
        b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n" + header + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), orjson.loads(payload)


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer pk_\xff\xfe",
        b"X-API-Key: pk_\xff\xfe",
        b"Authorization: Bearer pk_\xc3\xa9t\xc3\xa9",
    ],
)
async def test_api_key_that_is_not_ascii_is_401(routing: Routing, header: bytes) -> None:
    """A key with bytes outside the key alphabet (not UTF-8, or not ASCII) is 401, not 500."""
    await routing.account(["sms"])
    status, body = await _raw_post(routing.api.base, header)
    assert (status, body["type"]) == (401, "unauthorized")


async def test_api_key_that_is_not_ascii_is_401_over_nats(routing: Routing) -> None:
    """Over NATS too, a key outside the key alphabet is 401 unauthorized."""
    await routing.account(["sms"])
    for headers in ({"Authorization": "Bearer pk_\u00e9\ufffd"}, {"X-API-Key": "pk_\u00e9t\u00e9"}):
        reply = await routing.nc.request(
            subjects.API_MESSAGES_SEND, orjson.dumps(SMS), timeout=5, headers=headers
        )
        problem = orjson.loads(reply.data)
        assert (problem["type"], reply.headers["Parley-Status"]) == ("unauthorized", "401")


class _Clock:
    """`access.now`: the real time for its next `real_reads` reads, then 2 h later."""

    def __init__(self) -> None:
        self.real_reads = 0

    def __call__(self) -> datetime:
        if self.real_reads > 0:
            self.real_reads -= 1
            return now()
        return now() + timedelta(hours=2)


async def _records_of(routing: Routing, account_id: str) -> list[str]:
    """Ids of the message records of an account in the message log."""
    kv = await routing.js.key_value(MESSAGES)
    found = []
    for key in await live_keys(routing.js, MESSAGES):
        if orjson.loads((await kv.get(key)).value)["account_id"] == account_id:
            found.append(key)
    return found


@pytest.mark.parametrize("via", ["http", "nats"])
async def test_answer_that_cannot_be_sealed_is_refused_before_storing(
    routing: Routing, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """When an encrypting account's key lapses between opening the request and sealing the
    answer, the send is 503 and nothing is stored (a retry cannot send twice)."""
    account = await routing.account(["sms"], encrypted=True)
    lapsing = account.payload_keys[0].model_copy(
        update={"valid_until": format_ts(now() + timedelta(hours=1))}
    )
    account = replace(account, version=2, payload_keys=[lapsing])
    await routing.accounts.publish(account)
    clock = _Clock()
    monkeypatch.setattr(access, "now", clock)

    async def lapsing_in_view() -> bool:  # 2 h on, version 2 has no key: its answer is a 503
        status, _ = await routing.api.call("GET", f"/v1/consent/{NUMBER}", key=account.api_key)
        return status == 503

    await eventually(lapsing_in_view, 5)
    clock.real_reads = 1  # the request is opened now; everything after is 2 h later
    if via == "http":
        status, body = await routing.api.call(
            "POST", "/v1/messages", raw=account.seal(SMS), key=account.api_key
        )
    else:
        headers = {"Authorization": f"Bearer {account.api_key}"}
        nc = await nats.connect(routing.nats_url, inbox_prefix=f"_INBOX.{account.account_id}")
        try:  # from the account's own inbox, as CONTRACT section 10 has integrators connect
            reply = await nc.request(
                subjects.API_MESSAGES_SEND, account.seal(SMS), timeout=5, headers=headers
            )
        finally:
            await nc.close()
        status, body = int(reply.headers["Parley-Status"]), orjson.loads(reply.data)
    assert (status, body["type"]) == (503, "service_unavailable")
    assert await _records_of(routing, account.account_id) == []
