"""The whole journey through the public contract only (CONTRACT 2-8), on real processes.

Admins set up an aggregator, an enterprise, a business group and a conversational RCS -> SMS
account with payload encryption, consent lookups and batched, encrypted, signed webhooks; an
app sends over HTTP and NATS; the receiver verifies and decrypts every delivery with its own
crypto and checks every event; a user replies, types, and opts out with STOP.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import aiohttp
import nats
import pytest
from e2e_parley_kit import ADMIN_PASSWORD, Answer, EnvelopeKey, call, verify_signature
from parley_devtools.platform import Platform
from parley_devtools.receiver import Received, Receiver
from parley_devtools.waiting import eventually

pytestmark = pytest.mark.slow

SMS_SENDER = "PARLEYE2E"
RCS_AGENT = "e2e-agent"
USER_FALLBACK = "+919811100001"  # RCS fails -> SMS delivered
USER_READ = "+919811100002"  # RCS delivered and read
USER_TTL = "+919811100003"  # RCS never reports -> dr_ttl_expired -> SMS delivered
API_PASSPHRASE = "api passphrase for e2e 0001"
HOOK_PASSPHRASE = "webhook passphrase e2e 0002"
META_PAIRS = {"team": "e2e", "tier": "gold"}
DATA_KEYS = {
    "message_id",
    "account_id",
    "client_ref",
    "channel",
    "route",
    "sender",
    "recipient",
    "status",
    "reason",
    "attempt",
    "fallback_from",
    "fallback_to",
    "final",
    "metadata",
}
INBOUND_KEYS = {
    "inbound_id",
    "account_id",
    "channel",
    "from",
    "to",
    "text",
    "in_reply_to",
    "received_at",
    "metadata",
}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def account_config(enterprise_id: str, group_id: str, hooks: str) -> dict[str, Any]:
    """The conversational RCS -> SMS account of the journey."""
    return {
        "label": "e2e journey",
        "enterprise_id": enterprise_id,
        "business_group_id": group_id,
        "communication_type": "conversational",
        "channels": ["rcs", "sms"],
        "security": {
            "ip_restriction": {"mode": "allowlist", "allowlist": ["127.0.0.0/8", "::1"]},
            "data_protection": "encrypt_and_store",
            "payload_encryption": {
                "enabled": True,
                "algorithm": "aes-256",
                "passphrase": API_PASSPHRASE,
                "version_code": "api-v1",
            },
        },
        "consent": {"lookup_opt_in": False, "lookup_opt_out": True},
        "channel_settings": {
            "rcs": {
                "agent_providers": ["reliance-jio", "airtel"],
                "agents": {"mode": "allowlist", "allowlist": [RCS_AGENT]},
                "fallback": {
                    "enabled": True,
                    "channel": "sms",
                    "dr_ttl_seconds": 2,
                    "events": ["delivery_failed", "dr_ttl_expired"],
                },
            },
            "sms": {"sender_ids": {"mode": "allowlist", "allowlist": [SMS_SENDER]}},
        },
        "webhooks": {
            "status": {
                "url": f"{hooks}/status",
                "events": ["delivery_status", "sent", "read", "typing"],
                "payload_format": "native",
                "intermediate_delivery_notification": True,
                "metadata": {"enabled": True, "pairs": META_PAIRS},
                "retries": 3,
                "batch": {"enabled": True, "max_events": 10},
                "encryption": {
                    "enabled": True,
                    "algorithm": "aes-256",
                    "passphrase": HOOK_PASSPHRASE,
                    "version_code": "hook-v1",
                },
            },
            "user_initiated": {
                "url": f"{hooks}/inbound",
                "payload_format": "native",
                "retries": 3,
                "metadata": {"enabled": True, "pairs": META_PAIRS},
                "encryption": {"enabled": False},
            },
        },
    }


async def setup_account(
    session: aiohttp.ClientSession, base: str, hooks: str
) -> tuple[dict[str, Any], str, str]:
    """Bootstrap admin -> aggregator + its super admin -> enterprise, group, account.
    Returns (account, api key, webhook signing secret)."""
    login = await call(
        session, "POST", f"{base}/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert login.status == 200, login.json
    root = login.json["token"]
    agg = await call(
        session,
        "POST",
        f"{base}/v1/organizations",
        {"name": "E2E Aggregator", "kind": "aggregator"},
        root,
    )
    assert agg.status == 201, agg.json
    assert agg.json["kind"] == "aggregator", agg.json
    assert agg.json["id"].startswith("agg_"), agg.json
    user = {
        "username": "agg.admin",
        "password": "agg-admin-password-1",
        "role": "super_admin",
        "organization_id": agg.json["id"],
    }
    made = await call(session, "POST", f"{base}/v1/users", user, root)
    assert made.status == 201, made.json
    assert "password" not in made.json, made.json
    assert made.json["id"].startswith("usr_"), made.json
    login = await call(
        session,
        "POST",
        f"{base}/v1/auth/login",
        {"username": user["username"], "password": user["password"]},
    )
    assert login.status == 200, login.json
    assert login.json["user"]["organization_id"] == agg.json["id"], login.json
    token = login.json["token"]
    ent = await call(
        session,
        "POST",
        f"{base}/v1/organizations",
        {"name": "E2E Enterprise", "kind": "enterprise", "aggregator_id": agg.json["id"]},
        token,
    )
    assert ent.status == 201, ent.json
    assert ent.json["aggregator_id"] == agg.json["id"], ent.json
    for channel, value in (("rcs", RCS_AGENT), ("sms", SMS_SENDER)):  # what the enterprise owns
        registered = await call(
            session,
            "POST",
            f"{base}/v1/senders",
            {"enterprise_id": ent.json["id"], "channel": channel, "value": value},
            token,
        )
        assert registered.status == 201, registered.json
    group = await call(
        session,
        "POST",
        f"{base}/v1/business-groups",
        {"name": "E2E group", "enterprise_id": ent.json["id"]},
        token,
    )
    assert group.status == 201, group.json
    created = await call(
        session,
        "POST",
        f"{base}/v1/accounts",
        account_config(ent.json["id"], group.json["id"], hooks),
        token,
    )
    assert created.status == 201, created.json
    body = created.json
    assert body["api_key"].startswith("pk_"), body
    assert body["webhook_signing_secret"].startswith("whsec_"), body
    account = body["account"]
    assert account["id"].startswith("acc_"), account
    assert account["version"] >= 1, account
    assert account["security"]["payload_encryption"].get("passphrase_set") is True, account
    assert "passphrase" not in account["security"]["payload_encryption"], account
    return account, body["api_key"], body["webhook_signing_secret"]


def keys_of(account: dict[str, Any]) -> tuple[EnvelopeKey, EnvelopeKey]:
    """(API payload key, status webhook key) from the account answer's salts."""
    api = account["security"]["payload_encryption"]
    hook = account["webhooks"]["status"]["encryption"]
    return (
        EnvelopeKey(API_PASSPHRASE, api["salt"], "aes-256", "api-v1"),
        EnvelopeKey(HOOK_PASSPHRASE, hook["salt"], "aes-256", "hook-v1"),
    )


async def send_http(
    session: aiohttp.ClientSession, routing: str, api_key: str, key: EnvelopeKey, msg: Any
) -> Answer:
    """POST /v1/messages with an envelope body."""
    raw = json.dumps(key.seal(json.dumps(msg).encode())).encode()
    return await call(session, "POST", f"{routing}/v1/messages", token=api_key, raw=raw)


def accepted_id(answer: Answer, key: EnvelopeKey) -> str:
    """The message id of an encrypted 202 answer."""
    assert answer.status == 202, (answer.status, answer.body)
    plain = json.loads(key.open(answer.json))
    assert plain["status"] == "accepted", plain
    assert plain["message_id"].startswith("msg_"), plain
    return str(plain["message_id"])


def status_events(
    receiver: Receiver, secret: str, hook_key: EnvelopeKey
) -> list[tuple[Received, list[dict[str, Any]]]]:
    """Every status delivery (any answer), verified and decrypted: (delivery, events)."""
    out = []
    for d in receiver.requests:
        if d.path != "/status":
            continue
        verify_signature(secret, d.headers, d.body)
        assert d.headers["content-type"].startswith("application/json"), d.headers
        for k, v in META_PAIRS.items():
            assert d.headers.get(f"x-parley-meta-{k}") == v, d.headers
        body = json.loads(hook_key.open(json.loads(d.body)))
        assert isinstance(body, list), f"batching is on: the body must be an array: {body}"
        assert 1 <= len(body) <= 10, len(body)
        out.append((d, body))
    return out


def check_event(event: dict[str, Any], account_id: str) -> None:
    """CloudEvents 1.0 fields and every native `data` key (CONTRACT 4, 8)."""
    assert event["specversion"] == "1.0", event
    assert event["id"].startswith("evt_"), event
    assert event["source"] == f"parley/accounts/{account_id}", event
    assert event["datacontenttype"] == "application/json", event
    assert TIME_RE.match(event["time"]), event
    data = event["data"]
    if event["type"] == "parley.inbound.message":
        assert set(data) >= INBOUND_KEYS, sorted(INBOUND_KEYS - set(data))
        return
    assert set(data) >= DATA_KEYS, f"missing {sorted(DATA_KEYS - set(data))}: {event}"
    assert event["subject"] == data["message_id"], event
    assert data["account_id"] == account_id, event
    assert event["type"] == f"parley.message.{data['status'] or 'typing'}" or (
        event["type"] == "parley.message.fallback" and data["status"] == "failed"
    ), event


@pytest.mark.timeout(150)
async def test_whole_journey_through_the_public_contract(platform: Platform) -> None:
    """An aggregator admin's conversational RCS->SMS account sends, falls back, is read, gets a
    reply and a typing indicator, and STOP opts the user out, all seen exactly as the contract
    says by an independently verifying and decrypting webhook receiver."""
    receiver = Receiver()
    receiver.script("/status", [503])
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as session:
            await journey(platform, receiver, session)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{platform.tails()}") from exc
    finally:
        await receiver.stop()


async def journey(platform: Platform, receiver: Receiver, session: aiohttp.ClientSession) -> None:
    """The steps of the journey (see the module docstring)."""
    routing = platform.routing
    account, api_key, secret = await setup_account(session, platform.account, receiver.url(""))
    acc_id = account["id"]
    api_key_v, hook_key = keys_of(account)

    # Sandbox recipients.
    recipients: dict[str, dict[str, Any]] = {
        USER_FALLBACK: {"outcomes": {"rcs": "delivery_failed"}},
        USER_READ: {"read": True},
        USER_TTL: {"outcomes": {"rcs": "no_report"}},
    }
    for msisdn, spec in recipients.items():
        put = await call(
            session,
            "PUT",
            f"{routing}/v1/sandbox/recipients/{msisdn}",
            {"capabilities": ["sms", "rcs"], **spec},
        )
        assert put.status == 200, put.json

    # A plain JSON body to an encrypting account is refused (CONTRACT 8).
    msg1 = {
        "to": USER_FALLBACK,
        "channel": "rcs",
        "content": {"text": "journey one"},
        "client_ref": "e2e-1",
        "metadata": {"campaign": "c1"},
    }

    async def first_send() -> Answer | None:
        answer = await send_http(session, routing, api_key, api_key_v, msg1)
        return None if answer.status in (401, 503) else answer

    sent1 = await eventually(first_send, what="routing-svc to know the new account")
    id1 = accepted_id(sent1, api_key_v)
    plain = await call(session, "POST", f"{routing}/v1/messages", msg1, api_key)
    assert plain.status == 400, plain.json
    assert plain.json["type"] == "decryption_failed", plain.json

    msg2 = {"to": USER_READ, "channel": "rcs", "content": {"text": "two"}, "client_ref": "e2e-2"}
    id2 = accepted_id(await send_http(session, routing, api_key, api_key_v, msg2), api_key_v)

    # Once over NATS request/reply, with the same envelope body, connected as the integrator
    # (CONTRACT section 10: user = account id, password = API key, inbox _INBOX.<account id>).
    msg3 = {"to": USER_TTL, "channel": "rcs", "content": {"text": "three"}, "client_ref": "e2e-3"}
    nc = await nats.connect(
        platform.nats_url,
        user=account["id"],
        password=api_key,
        inbox_prefix=f"_INBOX.{account['id']}",
    )
    try:
        reply = await nc.request(
            "parley.api.v1.messages.send",
            json.dumps(api_key_v.seal(json.dumps(msg3).encode())).encode(),
            timeout=10,
            headers={"Authorization": f"Bearer {api_key}"},
        )
    finally:
        await nc.close()
    nats_plain = json.loads(api_key_v.open(json.loads(reply.data)))
    assert nats_plain["status"] == "accepted", nats_plain
    id3 = str(nats_plain["message_id"])
    assert len({id1, id2, id3}) == 3

    # Wait until each message has its final event, and msg2 its read.
    def events_now() -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for d, batch in status_events(receiver, secret, hook_key):
            if d.status < 300:
                for e in batch:
                    seen.setdefault(e["id"], e)
        return list(seen.values())

    async def all_final() -> bool:
        evs = events_now()
        finals = {e["data"]["message_id"] for e in evs if e["data"].get("final")}
        read = any(e["type"] == "parley.message.read" and e["subject"] == id2 for e in evs)
        return {id1, id2, id3} <= finals and read

    await eventually(all_final, what="final events of the three messages and the read of msg2")

    deliveries = status_events(receiver, secret, hook_key)
    # The receiver refused the first status delivery: the retry has the same webhook-id and
    # the same events, in a freshly sealed envelope.
    first, first_events = deliveries[0]
    assert first.status == 503
    retried = [
        (d, b) for d, b in deliveries[1:] if d.headers["webhook-id"] == first.headers["webhook-id"]
    ]
    assert len(retried) == 1, [d.headers["webhook-id"] for d, _ in deliveries]
    assert retried[0][0].status < 300
    assert retried[0][1] == first_events
    assert retried[0][0].body != first.body, "each attempt must use a fresh IV"
    ids_2xx = Counter(e["id"] for d, b in deliveries if d.status < 300 for e in b)
    assert not [i for i, n in ids_2xx.items() if n > 1], f"duplicates: {ids_2xx}"

    events = events_now()
    for e in events:
        check_event(e, acc_id)
    by_msg: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_msg.setdefault(e["subject"], []).append(e)
    for mid in (id1, id2, id3):
        finals = [e for e in by_msg[mid] if e["data"]["final"] is True]
        assert len(finals) == 1, (mid, by_msg[mid])

    def one(mid: str, typ: str, channel: str) -> dict[str, Any]:
        found = [e for e in by_msg[mid] if e["type"] == typ and e["data"]["channel"] == channel]
        assert len(found) == 1, (mid, typ, channel, by_msg[mid])
        return dict(found[0]["data"])

    # msg1: RCS delivery_failed -> fallback (intermediate) -> SMS sent + delivered (final).
    fb = one(id1, "parley.message.fallback", "rcs")
    assert fb["status"] == "failed", fb
    assert fb["reason"] == "delivery_failed", fb
    assert fb["fallback_to"] == "sms", fb
    assert fb["final"] is False, fb
    assert fb["attempt"] == 1, fb
    assert fb["metadata"] == {"campaign": "c1", **META_PAIRS}, fb
    assert fb["recipient"] == USER_FALLBACK, fb
    assert fb["client_ref"] == "e2e-1", fb
    assert fb["sender"] == RCS_AGENT, fb
    assert fb["route"] in ("rcs-reliance-jio", "rcs-airtel"), fb
    sms_sent = one(id1, "parley.message.sent", "sms")
    assert sms_sent["attempt"] == 2, sms_sent
    assert sms_sent["final"] is False, sms_sent
    done = one(id1, "parley.message.delivered", "sms")
    assert done["final"] is True, done
    assert done["attempt"] == 2, done
    assert done["fallback_from"] == "rcs", done
    assert done["fallback_to"] is None
    assert done["reason"] is None
    assert done["route"] == "sms-1"
    assert done["sender"] == SMS_SENDER, done  # the first entry of the SMS allowlist
    assert not [e for e in by_msg[id1] if e["type"] == "parley.message.failed"], by_msg[id1]

    # msg2: RCS delivered (final) then read (not final); no webhook metadata of its own.
    dl2 = one(id2, "parley.message.delivered", "rcs")
    assert dl2["final"] is True, dl2
    assert dl2["fallback_from"] is None, dl2
    assert dl2["attempt"] == 1, dl2
    assert dl2["metadata"] == META_PAIRS, dl2
    rd2 = one(id2, "parley.message.read", "rcs")
    assert rd2["final"] is False, rd2
    assert rd2["status"] == "read", rd2

    # msg3 (sent over NATS): RCS never reports -> dr_ttl_expired fallback -> SMS delivered.
    fb3 = one(id3, "parley.message.fallback", "rcs")
    assert fb3["reason"] == "dr_ttl_expired", fb3
    assert fb3["fallback_to"] == "sms", fb3
    assert fb3["final"] is False, fb3
    dl3 = one(id3, "parley.message.delivered", "sms")
    assert dl3["final"] is True, dl3
    assert dl3["fallback_from"] == "rcs", dl3

    # GET /v1/messages/{id}: encrypted answer, attempts oldest first.
    got = await call(session, "GET", f"{routing}/v1/messages/{id1}", token=api_key)
    assert got.status == 200, got.body
    record = json.loads(api_key_v.open(got.json))
    assert record["message_id"] == id1, record
    assert record["status"] == "delivered", record
    assert record["to"] == USER_FALLBACK, record
    assert record["client_ref"] == "e2e-1", record
    assert record["content"] == {"text": "journey one"}, record
    assert [(a["channel"], a["status"], a["reason"]) for a in record["attempts"]] == [
        ("rcs", "failed", "delivery_failed"),
        ("sms", "delivered", None),
    ], record
    assert record["attempts"][0]["at"] <= record["attempts"][1]["at"], record
    for a in record["attempts"]:
        assert TIME_RE.match(a["at"]), a

    # The user replies: the inbound event reaches the user_initiated webhook.
    inbound = await call(
        session,
        "POST",
        f"{routing}/v1/sandbox/inbound",
        {"channel": "sms", "from": USER_FALLBACK, "to": SMS_SENDER, "text": "thanks!"},
    )
    assert inbound.status == 202, inbound.json
    assert inbound.json["inbound_id"].startswith("inb_"), inbound.json
    inbound_id = inbound.json["inbound_id"]

    def inbound_events() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for d in receiver.accepted("/inbound"):
            verify_signature(secret, d.headers, d.body)
            for k, v in META_PAIRS.items():
                assert d.headers.get(f"x-parley-meta-{k}") == v, d.headers
            body = json.loads(d.body)
            assert isinstance(body, dict), "user_initiated has no batching: one event"
            assert d.headers["webhook-id"] == body["id"], (d.headers, body)
            out.append(body)
        return out

    async def got_inbound(text: str) -> dict[str, Any] | None:
        return next((e for e in inbound_events() if e["data"]["text"] == text), None)

    ev = await eventually(
        lambda: got_inbound("thanks!"), what="the inbound reply at user_initiated"
    )
    check_event(ev, acc_id)
    assert ev["type"] == "parley.inbound.message", ev
    d = ev["data"]
    assert d["inbound_id"] == inbound_id, d
    assert d["account_id"] == acc_id, d
    assert d["from"] == USER_FALLBACK, d
    assert d["to"] == SMS_SENDER, d
    assert d["channel"] == "sms", d
    assert d["in_reply_to"] == id1, d
    assert TIME_RE.match(d["received_at"]), d
    assert d["metadata"] == META_PAIRS, d
    assert not any(e["type"] == "parley.inbound.message" for e in events_now()), (
        "inbound messages go only to user_initiated"
    )

    # A typing indicator reaches the status webhook as parley.message.typing.
    typing = await call(
        session,
        "POST",
        f"{routing}/v1/sandbox/inbound",
        {"channel": "sms", "from": USER_FALLBACK, "to": SMS_SENDER, "typing": True},
    )
    assert typing.status == 202, typing.json

    async def got_typing() -> dict[str, Any] | None:
        return next((e for e in events_now() if e["type"] == "parley.message.typing"), None)

    tev = await eventually(got_typing, what="parley.message.typing at the status webhook")
    check_event(tev, acc_id)
    td = tev["data"]
    assert td["channel"] == "sms", td
    assert td["sender"] == SMS_SENDER, td
    assert td["recipient"] == USER_FALLBACK, td
    assert td["status"] is None, td
    assert td["final"] is False, td
    assert td["message_id"] == id1, td

    # STOP opts the user out: the next send answers 422 opted_out, consent shows it.
    stop = await call(
        session,
        "POST",
        f"{routing}/v1/sandbox/inbound",
        {"channel": "sms", "from": USER_FALLBACK, "to": SMS_SENDER, "text": " stop "},
    )
    assert stop.status == 202, stop.json
    await eventually(lambda: got_inbound(" stop "), what="the STOP text at user_initiated")

    async def refused() -> Answer | None:
        again = {**msg1, "client_ref": "e2e-after-stop"}
        answer = await send_http(session, routing, api_key, api_key_v, again)
        return answer if answer.status != 202 else None

    after = await eventually(refused, what="the send after STOP to be refused", step_s=0.2)
    assert after.status == 422, (after.status, after.body)
    assert after.json["type"] == "opted_out", (after.status, after.body)
    assert after.headers["content-type"].startswith("application/problem+json"), after.headers
    consent = await call(session, "GET", f"{routing}/v1/consent/{USER_FALLBACK}", token=api_key)
    assert consent.status == 200, consent.body
    view = json.loads(api_key_v.open(consent.json))
    assert view["msisdn"] == USER_FALLBACK, view
    assert view["status"] == "opted_out", view
    assert TIME_RE.match(view["updated_at"]), view
    # Another user of the same account is not affected.
    ok = await send_http(session, routing, api_key, api_key_v, {**msg2, "client_ref": "e2e-4"})
    accepted_id(ok, api_key_v)
    print(
        f"journey: {len(receiver.requests)} deliveries, {len(events_now())} status events, "
        f"{len(inbound_events())} inbound events; types "
        f"{sorted(Counter(e['type'] for e in events_now()).items())}; "
        f"batch sizes {[len(b) for _, b in status_events(receiver, secret, hook_key)]}"
    )


def test_no_service_hit_a_nats_permission_violation(platform: Platform) -> None:
    """After the journey, the (authenticated) server logged no permission violation: each
    service's least-privilege permissions cover everything it really does."""
    log = (platform.root / "nats.log").read_text(errors="replace")
    # nats-server logs "Publish Violation - ..." / "Subscription Violation - ..." (client.go)
    violations = [line for line in log.splitlines() if " Violation - " in line]
    assert violations == []
    assert "Server is ready" in log  # the log is the server's, and was read
