"""Data protection end to end, on real processes: an account under each choice sends a message
with a link, the link is clicked, a user writes back; its status webhook dead-letters one
event and its user-initiated webhook needs a retry. Then every JetStream stream (KV buckets
included), every PostgreSQL table, the log of every service and their /metrics are read,
and no full number, text or URL may be where its account's choice says it must not be:

- `store`: only in NATS (never in PostgreSQL, logs or metrics);
- `encrypt_and_store`: only on the account's own STATUS / INBOUND events, and only those that
  carry a TTL (they leave the stream after `ROUTING_PROTECTED_EVENT_TTL_SECONDS`);
- `do_not_store`: nowhere once delivered.

Deleting the accounts then purges what the platform kept of them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import nats
import pytest
from e2e_parley_kit import ADMIN_PASSWORD, call
from nats.js.errors import NotFoundError
from parley_devtools.platform import Platform
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually

pytestmark = pytest.mark.slow

CHOICES = ("store", "encrypt_and_store", "do_not_store")
OWN_EVENT_STREAMS = ("STATUS", "INBOUND")


@dataclass
class Sent:
    """One account's traffic and what must not be kept of it."""

    protection: str
    account_id: str
    api_key: str
    sender: str
    number: str
    user: str
    text: str
    url: str
    user_text: str
    message_id: str = ""

    @property
    def needles(self) -> list[bytes]:
        """Full numbers (without `+`, as some formats write them), the texts and the URL."""
        return [
            self.number.lstrip("+").encode(),
            self.user.lstrip("+").encode(),
            self.text.encode(),
            self.url.encode(),
            self.user_text.encode(),
        ]


def _config(enterprise_id: str, group_id: str, protection: str, sender: str, hooks: str) -> Any:
    return {
        "label": f"dp {protection}",
        "enterprise_id": enterprise_id,
        "business_group_id": group_id,
        "communication_type": "conversational",
        "channels": ["sms"],
        "security": {"data_protection": protection},
        "channel_settings": {"sms": {"sender_ids": {"mode": "allowlist", "allowlist": [sender]}}},
        "webhooks": {
            "status": {
                "url": f"{hooks}/status-{protection}",
                "events": ["delivery_status", "sent", "read"],
                "retries": 0,
            },
            "user_initiated": {"url": f"{hooks}/inbound-{protection}", "retries": 1},
        },
        "apps": {"url_shortener": True},
    }


async def _setup(session: aiohttp.ClientSession, platform: Platform, hooks: str) -> list[Sent]:
    base = platform.account
    login = await call(
        session, "POST", f"{base}/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD}
    )
    token = login.json["token"]
    ent = await call(
        session, "POST", f"{base}/v1/organizations", {"name": "DP", "kind": "enterprise"}, token
    )
    assert ent.status == 201, ent.json
    await _subscribe_apps(session, base, ent.json["id"], token)
    group = await call(
        session,
        "POST",
        f"{base}/v1/business-groups",
        {"name": "dp", "enterprise_id": ent.json["id"]},
        token,
    )
    out = []
    for n, protection in enumerate(CHOICES, start=1):
        sender = f"DPSEND{n}"
        owned = {"enterprise_id": ent.json["id"], "channel": "sms", "value": sender}
        registered = await call(session, "POST", f"{base}/v1/senders", owned, token)
        assert registered.status == 201, registered.json
        body = _config(ent.json["id"], group.json["id"], protection, sender, hooks)
        made = await call(session, "POST", f"{base}/v1/accounts", body, token)
        assert made.status == 201, made.json
        out.append(
            Sent(
                protection,
                made.json["account"]["id"],
                made.json["api_key"],
                sender,
                number=f"+9199001{n}7341",
                user=f"+9199002{n}5518",
                text=f"Parcel {n}{os.urandom(4).hex()} is out",
                url=f"https://track.example.com/p/{os.urandom(6).hex()}",
                user_text=f"Please ring the bell {os.urandom(4).hex()}",
            )
        )
    return out


async def _subscribe_apps(
    session: aiohttp.ClientSession, base: str, enterprise_id: str, token: str
) -> None:
    """The enterprise subscribes to the URL Shortener (an account may switch on only the apps
    its enterprise subscribes to)."""
    answer = await call(
        session,
        "PUT",
        f"{base}/v1/organizations/{enterprise_id}/app-subscriptions/url_shortener",
        None,
        token,
    )
    assert answer.status == 201, answer.json


async def _traffic(
    session: aiohttp.ClientSession, platform: Platform, sent: Sent, receiver: Receiver
) -> None:
    """Send (with the link), click the link once the message's `sent` and `delivered` events
    were tried (one of them is the status webhook's failure, so the click is not), and have
    the user write back."""
    message = {
        "to": sent.number,
        "channel": "sms",
        "sender": sent.sender,
        "content": {"text": f"{sent.text}: {sent.url}"},
    }

    async def accepted() -> Any:
        answer = await call(
            session, "POST", f"{platform.routing}/v1/messages", message, sent.api_key
        )
        return answer if answer.status == 202 else None

    answer = await eventually(accepted, what=f"{sent.protection} send accepted")
    sent.message_id = answer.json["message_id"]
    tried = f"/status-{sent.protection}"
    await eventually(
        lambda: len(receiver.on(tried)) >= 2, what=f"{sent.protection} sent and delivered tried"
    )
    code = await _short_code(platform, sent.message_id)
    async with session.get(f"{platform.routing}/s/{code}", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == sent.url
    inbound = {"channel": "sms", "from": sent.user, "to": sent.sender, "text": sent.user_text}
    back = await call(session, "POST", f"{platform.routing}/v1/sandbox/inbound", inbound)
    assert back.status == 202, back.json


def _admin(platform: Platform) -> dict[str, Any]:
    """`nats.connect` options of the streams admin (NATS authentication is on): it may read
    every stream's messages through the JetStream API."""
    assert platform.auth is not None
    return {"user_credentials": str(platform.auth.creds("admin"))}


async def _short_code(platform: Platform, message_id: str) -> str:
    """The short link code of a message, from the links bucket's stream (the log may hide the
    text)."""

    async def find() -> str | None:
        for stream, subject, blob, _ in await _nats_holdings(platform):
            if stream == "KV_ROUTING_SHORT_LINKS" and message_id.encode() in blob:
                return subject.rsplit(".", 1)[-1]
        return None

    return str(await eventually(find, what="the short link"))


async def _nats_holdings(platform: Platform) -> list[tuple[str, str, bytes, bool]]:
    """(stream, subject, data + headers, carries a TTL) of every message of every stream."""
    nc = await nats.connect(platform.nats_url, **_admin(platform))
    out = []
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            name = info.config.name
            if not info.state.messages:
                continue
            for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(name, seq)
                except NotFoundError:
                    continue
                headers = dict(msg.headers or {})
                blob = bytes(msg.data or b"") + repr(headers).encode()
                out.append((name, str(msg.subject), blob, "Nats-TTL" in headers))
    finally:
        await nc.close()
    return out


async def _pg_holdings(database_url: str) -> list[tuple[str, bytes]]:
    """(table, row as text) of every row of every table of the database."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        out = []
        for row in tables:
            name = f'"{row["table_schema"]}"."{row["table_name"]}"'
            for found in await conn.fetch(f"SELECT t::text AS row FROM {name} t"):  # noqa: S608
                out.append((name, str(found["row"]).encode()))
        return out
    finally:
        await conn.close()


async def _metrics(session: aiohttp.ClientSession, platform: Platform) -> bytes:
    texts = []
    for service in platform.services.values():
        async with session.get(f"{service.base}/metrics") as resp:
            texts.append(await resp.read())
    return b"".join(texts)


def _violations(sent: Sent, holdings: list[tuple[str, str, bytes, bool]]) -> list[str]:
    """Where NATS keeps something of `sent` its choice forbids."""
    found = []
    for stream, subject, blob, ttl in holdings:
        if not any(needle in blob for needle in sent.needles):
            continue
        own = stream in OWN_EVENT_STREAMS and subject.endswith("." + sent.account_id)
        if sent.protection == "store":
            continue
        if sent.protection == "encrypt_and_store" and own and ttl:
            continue
        found.append(f"{stream} {subject}")
    return found


@pytest.fixture(scope="module")
def receiver() -> Any:
    """A webhook receiver whose status paths fail once (a dead letter, retries 0) and whose
    inbound paths fail once (a retry)."""
    receiver = Receiver()
    for kind in ("status", "inbound"):
        for choice in CHOICES:
            receiver.script(f"/{kind}-{choice}", [503])
    return receiver


async def test_each_choice_keeps_only_what_it_allows(platform: Platform, receiver: Any) -> None:
    """After sending, clicking, a reply, a retry and a dead letter per account, no full number,
    text or URL is in any stream, bucket, table, log or metric where its choice forbids it,
    and every webhook still received what its account asked for."""
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as session:
            accounts = await _setup(session, platform, receiver.url(""))
            for sent in accounts:
                await _traffic(session, platform, sent, receiver)
            for sent in accounts:
                await eventually(
                    lambda s=sent: receiver.accepted(f"/inbound-{s.protection}"),
                    what=f"{sent.protection} inbound delivered",
                )
                await eventually(
                    lambda s=sent: _clicked(receiver, s), what=f"{sent.protection} click delivered"
                )
            for sent in accounts:
                (delivery,) = receiver.accepted(f"/inbound-{sent.protection}")
                assert sent.user_text.encode() in delivery.body  # what the account asked for

            async def kept_wrongly() -> list[str]:
                holdings = await _nats_holdings(platform)
                return [v for sent in accounts for v in _violations(sent, holdings)]

            assert await _settles(kept_wrongly) == []
            holdings = await _nats_holdings(platform)
            store = accounts[0]
            for needle in store.needles:  # the scan does see what store keeps
                assert any(needle in blob for _, _, blob, _ in holdings), needle
            for table, row in await _pg_holdings(platform.database_url):
                for sent in accounts:
                    assert not any(n in row for n in sent.needles), table
            logs = b"".join(path.read_bytes() for path in platform.root.glob("*.log"))
            metrics = await _metrics(session, platform)
            for sent in accounts:
                for needle in sent.needles:
                    assert needle not in logs, (sent.protection, needle)
                    assert needle not in metrics, (sent.protection, needle)
            await _deleted_accounts_are_purged(session, platform, accounts)
            nats_log = (platform.root / "nats.log").read_text(errors="replace")
            # the services' least-privilege NATS permissions cover the purges and erasures
            assert [line for line in nats_log.splitlines() if " Violation - " in line] == []
    finally:
        await receiver.stop()


def _clicked(receiver: Any, sent: Sent) -> bool:
    return any(
        b"parley.message.clicked" in d.body for d in receiver.accepted(f"/status-{sent.protection}")
    )


async def _settles(read: Any) -> list[str]:
    """Poll `read` until it answers an empty list (erasures and purges run in the background)
    or the patience runs out; its last answer."""
    last: list[str] = []

    async def settled() -> bool:
        last[:] = await read()
        return not last

    with contextlib.suppress(AssertionError):
        await eventually(settled, what="the erasures", step_s=0.2)
    return last


async def _deleted_accounts_are_purged(
    session: aiohttp.ClientSession, platform: Platform, accounts: list[Sent]
) -> None:
    """Deleting every account leaves nothing of theirs in NATS."""
    base = platform.account
    login = await call(
        session, "POST", f"{base}/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD}
    )
    token = login.json["token"]
    for sent in accounts:
        gone = await call(session, "DELETE", f"{base}/v1/accounts/{sent.account_id}", None, token)
        assert gone.status == 204, gone.json

    async def left() -> list[str]:
        holdings = await _nats_holdings(platform)
        out = []
        for stream, subject, blob, _ in holdings:
            if stream == "ACCOUNTS" or stream.startswith("KV_ROUTING_LAST_SENDER"):
                continue  # tombstones; the last-sender map keeps ids under a number's hash
            for sent in accounts:
                if sent.account_id.encode() in blob or subject.endswith(sent.account_id):
                    out.append(f"{stream} {subject}")
        return out

    assert await _settles(left) == []
