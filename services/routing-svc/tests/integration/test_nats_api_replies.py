"""routing-svc answers a NATS send only inside the caller's inbox (CONTRACT section 10): a
spoofed reply subject is neither answered nor processed, and a per-account subject takes only
that account's key."""

from __future__ import annotations

import asyncio

import nats
import orjson
import pytest
from aiohttp.test_utils import TestServer
from nats.aio.client import RawCredentials
from parley_devtools.buckets import live_keys
from parley_devtools.nats_auth import AuthNatsServer
from parley_runtime.natsauth.callout import CalloutResponder, parley_decider
from parley_runtime.natsauth.tenants import apply_account
from parley_shared import subjects
from parley_shared.sealing import MasterKey
from routing_svc.adapters.kv import MESSAGES
from routing_svc.adapters.nats_api import reply_allowed
from routing_svc.bootstrap import create_app
from routing_testkit import NUMBER, AccountPublisher, Routing, make_settings

SMS = orjson.dumps({"to": NUMBER, "channel": "sms", "content": {"text": "hi"}})
QUIET_S = 1.0


async def _records(routing: Routing) -> int:
    return len(await live_keys(routing.js, MESSAGES))


@pytest.mark.parametrize(
    "reply",
    [
        subjects.status("acc_victim"),
        "_INBOX.acc_victim.x",
        "_INBOX.x",
        subjects.submit("acc_victim"),
    ],
)
async def test_a_send_with_a_reply_outside_the_callers_inbox_is_dropped(
    routing: Routing, reply: str
) -> None:
    """A valid send whose reply names anything but `_INBOX.<its account>.` stores nothing and
    publishes nothing to that subject."""
    account = await routing.account(["sms"])
    watcher = await routing.nc.subscribe(reply)
    await routing.nc.flush()
    before = await _records(routing)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    await routing.nc.publish(subjects.API_MESSAGES_SEND, SMS, reply=reply, headers=headers)
    await routing.nc.flush()
    with pytest.raises(nats.errors.TimeoutError):
        await watcher.next_msg(timeout=QUIET_S)
    assert await _records(routing) == before


async def test_a_per_account_subject_without_a_server_response_subject_is_dropped(
    routing: Routing,
) -> None:
    """`parley.api.v1.messages.send.<id>` is answered only on a server response subject (`_R_.`,
    which clients cannot publish themselves): any other reply stores and answers nothing."""
    account = await routing.account(["sms"])
    watcher = await routing.nc.subscribe("_INBOX.x")
    await routing.nc.flush()
    headers = {"Authorization": f"Bearer {account.api_key}"}
    await routing.nc.publish(
        subjects.api_messages_send(account.account_id), SMS, reply="_INBOX.x", headers=headers
    )
    with pytest.raises(nats.errors.TimeoutError):
        await watcher.next_msg(timeout=QUIET_S)
    assert await _records(routing) == 0


async def test_an_integrator_sends_through_its_own_nats_account(
    nats_auth: AuthNatsServer, master_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an authenticated NATS, routing-svc (with its own least-privilege creds) answers an
    integrator's send, and another account's key presented from it is 401."""
    monkeypatch.setenv("NATS_CREDS", str(nats_auth.files.creds("routing-svc")))
    server = TestServer(create_app(make_settings(nats_auth.url, master_key)), host="127.0.0.1")
    await server.start_server()
    master = MasterKey.from_b64(master_key)
    authority = nats_auth.files.authority()
    owner = await nats.connect(
        nats_auth.url,
        user_credentials=str(nats_auth.files.creds("account-svc")),
        inbox_prefix="_INBOX.account-svc",
    )
    system = await nats.connect(
        nats_auth.url, user_credentials=RawCredentials(authority.system_creds)
    )
    callout = await nats.connect(
        nats_auth.url, user_credentials=RawCredentials(authority.callout_creds)
    )
    publisher = AccountPublisher(owner.jetstream(), master)
    mine, other = await publisher.create(["sms"]), await publisher.create(["sms"])
    hashes = {a.account_id: master.hash_api_key(a.api_key) for a in (mine, other)}

    async def lookup(account_id: str) -> tuple[str, str | None] | None:
        return ("active", hashes[account_id]) if account_id in hashes else None

    await CalloutResponder(
        callout, authority.auth, parley_decider(authority, lookup, master.api_key_matches)
    ).start()
    for account_id, digest in hashes.items():
        await apply_account(system, owner.jetstream(), authority, account_id, digest)
    nc = await nats.connect(
        nats_auth.url,
        user=mine.account_id,
        password=mine.api_key,
        inbox_prefix=f"_INBOX.{mine.account_id}",
    )
    try:
        answers = {}
        deadline = asyncio.get_running_loop().time() + 10
        while "accepted" not in answers.get(mine.api_key, {}).get("status", ""):
            assert asyncio.get_running_loop().time() < deadline, answers
            for key in (mine.api_key, other.api_key):
                reply = await nc.request(
                    subjects.API_MESSAGES_SEND,
                    SMS,
                    timeout=5,
                    headers={"Authorization": f"Bearer {key}"},
                )
                answers[key] = orjson.loads(reply.data)
            await asyncio.sleep(0.1)
        assert answers[other.api_key]["type"] == "unauthorized"
    finally:
        for conn in (nc, owner, system, callout):
            await conn.close()
        await server.close()


def test_reply_rules() -> None:
    """The caller's own inbox, or the server's response subject for an imported request."""
    assert reply_allowed("_INBOX.acc_a.x", None, "acc_a")
    assert not reply_allowed("_INBOX.acc_b.x", None, "acc_a")
    assert not reply_allowed("_INBOX.acc_ab.x", None, "acc_a")
    assert reply_allowed("_INBOX.x", None, None)
    assert not reply_allowed("parley.msg.v1.status.acc_b", None, None)
    assert reply_allowed("_R_.abc.def", "acc_a", "acc_a")
    assert not reply_allowed("_INBOX.acc_a.x", "acc_a", "acc_a")
