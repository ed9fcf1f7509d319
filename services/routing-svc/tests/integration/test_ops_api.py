"""The operator API over NATS (`adapters/ops_api.py`): routes from every replica, a message's
trace rebuilt from its record, and the client_ref index behind "Find a message"."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats.errors
import orjson
import pytest
from aiohttp.test_utils import TestServer
from parley_devtools.buckets import live_keys
from parley_devtools.smsc import Smsc
from parley_devtools.waiting import eventually
from parley_shared import subjects
from routing_svc.adapters.kv import CLIENT_REFS
from routing_svc.bootstrap import create_app
from routing_testkit import NUMBER, Routing, fallback, make_settings

SEEDS = ("delivery_failed", "dr_ttl_expired", "invalid_number", "validity_expired")
PASSWORD_ENV = "PARLEY_TEST_OPS_SMSC_PASSWORD"


async def ask(routing: Routing, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    """One request to the queue group; the reply as JSON."""
    reply = await routing.nc.request(subject, orjson.dumps(body), timeout=5)
    answer: dict[str, Any] = orjson.loads(reply.data)
    return answer


ASK_AGAIN_S = 1.0
GATHER_S = 15.0


async def gather_routes(routing: Routing, replicas: int) -> list[dict[str, Any]]:
    """The routes query's replies of `replicas` different replicas, one each (15 s at most).

    The query is published again each second until every replica answered: a reply is the
    view of the replica that sent it, so asking again changes nothing that is checked, while
    one publish whose replies were late on a busy machine (the full suite once saw none within
    5 s) would fail the test for no fault of the service."""
    inbox = routing.nc.new_inbox()
    sub = await routing.nc.subscribe(inbox)
    by_replica: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + GATHER_S
    try:
        while len(by_replica) < replicas and time.monotonic() < deadline:
            await routing.nc.publish(subjects.ROUTING_ROUTES_QUERY, b"{}", reply=inbox)
            ask_again = min(deadline, time.monotonic() + ASK_AGAIN_S)
            while len(by_replica) < replicas and time.monotonic() < ask_again:
                try:
                    msg = await sub.next_msg(timeout=max(0.01, ask_again - time.monotonic()))
                except nats.errors.TimeoutError:
                    break
                reply = orjson.loads(msg.data)
                by_replica.setdefault(reply["replica"], reply)
    finally:
        await sub.unsubscribe()
    return list(by_replica.values())


@pytest.fixture
async def second_replica(routing: Routing) -> AsyncIterator[None]:
    """Another routing-svc process (in-process) on the same NATS, same master key."""
    server = TestServer(
        create_app(make_settings(routing.nats_url, routing.master_key)), host="127.0.0.1"
    )
    await server.start_server()
    yield
    await server.close()


async def test_every_replica_answers_the_routes_query_with_its_routes(
    routing: Routing, second_replica: None
) -> None:
    """Two replicas each answer one routes query for themselves, naming every sandbox route
    with its provider, channel, capacity and state."""
    replies = await gather_routes(routing, 2)
    assert len(replies) == 2
    assert len({reply["replica"] for reply in replies}) == 2
    for reply in replies:
        assert reply["role"] == "all"
        by_name = {route["name"]: route for route in reply["routes"]}
        assert by_name["sms-1"]["provider"] == "sandbox"
        assert by_name["sms-1"]["channel"] == "sms"
        assert by_name["sms-1"]["capacity_per_s"] == 500
        assert by_name["rcs-airtel"]["agent_provider"] == "airtel"
        assert all(route["up"] for route in reply["routes"])
        assert by_name["sms-1"]["binds"] is None


async def test_a_routes_current_rate_rises_while_it_carries_traffic(routing: Routing) -> None:
    """After sends on sms-1, its `rate_per_s` (sampled each second) is above zero."""
    account = await routing.account(["sms"])
    for _ in range(20):
        await routing.api.sent(account)

    async def moving() -> bool:
        (reply,) = await gather_routes(routing, 1)
        rates = {route["name"]: route["rate_per_s"] for route in reply["routes"]}
        return rates["sms-1"] > 0 and rates["wa-1"] == 0

    await eventually(moving, 15)


@pytest.fixture
def smpp_route(
    smsc: Smsc,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    routing_settings: dict[str, Any],
) -> None:
    """A routes file with one SMPP route at the simulator (before `routing` starts)."""
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    route = {
        "name": "sms-smsc",
        "channel": "sms",
        "capacity_per_s": 200,
        "provider": "smpp",
        "smpp": {
            "host": smsc.host,
            "port": smsc.port,
            "system_id": "parley",
            "password_env": PASSWORD_ENV,
            "binds": 2,
        },
    }
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"routes": [route]}), "utf-8")
    routing_settings["routes_file"] = path


async def test_smpp_binds_and_their_last_error_are_reported(
    smpp_route: None, routing: Routing, smsc: Smsc
) -> None:
    """An SMPP route reports each bind's state; once the SMSC is gone the binds are down with
    the reason, and once it is back they are up again with that last error kept."""

    async def binds() -> list[dict[str, Any]]:
        (reply,) = await gather_routes(routing, 1)
        (route,) = reply["routes"]
        assert route["provider"] == "smpp"
        assert route["window_in_use"] == 0
        result: list[dict[str, Any]] = route["binds"]
        return result

    async def all_up() -> bool:
        return [b["state"] for b in await binds()] == ["up", "up"]

    await eventually(all_up, 15)
    await smsc.stop()

    async def all_down() -> bool:
        found = await binds()
        return all(b["state"] == "down" and b["last_error"] for b in found)

    await eventually(all_down, 15)
    await smsc.start()
    await eventually(all_up, 20)
    for bind in await binds():
        assert bind["last_error"]
        assert bind["last_error_at"].endswith("Z")


async def test_a_trace_shows_the_fallback_chain_and_every_published_event(
    routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """RCS fails and falls back to SMS: the trace lists both attempts in order and exactly the
    status events that were published (same ids, types, times), oldest first."""
    await sandbox(NUMBER, outcomes={"rcs": "delivery_failed"})
    account = await routing.account(
        ["rcs", "sms"], {"rcs": {"fallback": fallback("sms", 20, *SEEDS)}}
    )
    message_id = await routing.api.sent(account, channel="rcs", client_ref="order-9")
    await routing.events.final(message_id)
    answer = await ask(routing, subjects.ROUTING_MESSAGES_TRACE, {"message_id": message_id})
    message = answer["message"]
    assert (message["message_id"], message["account_id"]) == (message_id, account.account_id)
    assert (message["client_ref"], message["to"]) == ("order-9", "+91******3210")
    assert message["channels"] == ["rcs", "sms"]
    assert message["status"] == "delivered"
    assert [
        (a["attempt"], a["channel"], a["status"], a["reason"], a["fallback_to"])
        for a in message["attempts"]
    ] == [(1, "rcs", "failed", "delivery_failed", "sms"), (2, "sms", "delivered", None, None)]
    assert message["attempts"][1]["route"] == "sms-1"
    published = routing.events.of(message_id)
    assert [(e["id"], e["type"], e["time"]) for e in message["events"]] == [
        (e["id"], e["type"], e["time"]) for e in published
    ]
    assert [e["final"] for e in message["events"]] == [False, False, False, True]
    assert message["events"][1]["fallback_to"] == "sms"
    assert "content" not in message


async def test_a_trace_of_an_unknown_or_malformed_id_is_a_problem(routing: Routing) -> None:
    """An id the log does not hold answers 404 not_found; a non-id answers 422 naming it."""
    answer = await ask(routing, subjects.ROUTING_MESSAGES_TRACE, {"message_id": "msg_nope"})
    assert (answer["status"], answer["type"]) == (404, "not_found")
    answer = await ask(routing, subjects.ROUTING_MESSAGES_TRACE, {"message_id": "a.b"})
    assert (answer["status"], answer["errors"][0]["loc"]) == (422, ["message_id"])
    reply = await routing.nc.request(subjects.ROUTING_MESSAGES_TRACE, b"not json", timeout=5)
    assert orjson.loads(reply.data)["type"] == "malformed_request"


async def test_find_by_client_ref_answers_newest_first_and_per_account(routing: Routing) -> None:
    """Two sends of one account and one of another with the same client_ref are found newest
    first; `account_ids` keeps only those accounts; another client_ref finds nothing."""
    first = await routing.account(["sms"])
    second = await routing.account(["sms"])
    older = await routing.api.sent(first, client_ref="order 77 / é")
    await asyncio.sleep(0.005)  # ids sort by millisecond
    newer = await routing.api.sent(first, client_ref="order 77 / é")
    theirs = await routing.api.sent(second, client_ref="order 77 / é")
    await routing.api.sent(first, client_ref="order-78")
    found = await ask(routing, subjects.ROUTING_MESSAGES_FIND, {"client_ref": "order 77 / é"})
    assert [(i["account_id"], i["message_id"]) for i in found["items"]] == [
        (second.account_id, theirs),
        (first.account_id, newer),
        (first.account_id, older),
    ]
    assert found["truncated"] is False
    body = {"client_ref": "order 77 / é", "account_ids": [first.account_id], "limit": 1}
    found = await ask(routing, subjects.ROUTING_MESSAGES_FIND, body)
    assert [i["message_id"] for i in found["items"]] == [newer]
    body = {"client_ref": "order 77 / é", "account_ids": [first.account_id, "acc_other"]}
    found = await ask(routing, subjects.ROUTING_MESSAGES_FIND, body)
    assert [i["message_id"] for i in found["items"]] == [newer, older]
    found = await ask(routing, subjects.ROUTING_MESSAGES_FIND, {"client_ref": "order-79"})
    assert found["items"] == []
    answer = await ask(routing, subjects.ROUTING_MESSAGES_FIND, {"client_ref": ""})
    assert (answer["status"], answer["errors"][0]["loc"]) == (422, ["client_ref"])


async def test_only_sends_with_a_client_ref_are_indexed(routing: Routing) -> None:
    """A send without a client_ref writes nothing to the index; one with it writes one key,
    stored by the time the 202 is answered."""
    account = await routing.account(["sms"])
    await routing.api.sent(account)
    kv = await routing.js.key_value(CLIENT_REFS)
    assert (await kv.status()).values == 0
    message_id = await routing.api.sent(account, client_ref="x")
    keys = await live_keys(routing.js, CLIENT_REFS)
    assert len(keys) == 1
    assert keys[0].endswith(f".{account.account_id}.{message_id}")
