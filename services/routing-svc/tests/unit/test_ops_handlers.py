"""The operator API's handlers (`adapters/ops_api.py`) on FastStream's in-memory test broker,
over a fake message log and client_ref index: the replies the console gets, errors included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Any

import orjson
import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from faststream.specification import AsyncAPI
from parley_shared import subjects
from routing_svc.adapters.client_refs import Found
from routing_svc.adapters.ops_api import OpsApi
from routing_svc.adapters.providers.registry import ProviderSet
from routing_svc.adapters.providers.sandbox import SandboxProvider
from routing_svc.domain.lifecycle import Attempt, Message, dispatched
from routing_svc.domain.policy import Hop
from routing_svc.domain.routes import default_routes


class Log:
    """The message log and client_ref index, in memory."""

    def __init__(self) -> None:
        self.messages: dict[str, Message] = {}
        self.refs: list[tuple[str, str, str]] = []  # (client_ref, account_id, message_id)
        self.asked: list[tuple[str, Collection[str] | None, int]] = []

    async def read(self, message_id: str) -> Message | None:
        return self.messages.get(message_id)

    async def find(self, client_ref: str, account_ids: Collection[str] | None, limit: int) -> Found:
        self.asked.append((client_ref, account_ids, limit))
        items = [
            (account, message)
            for ref, account, message in self.refs
            if ref == client_ref and (account_ids is None or account in account_ids)
        ]
        return Found(items[:limit], truncated=len(items) > limit)


def message() -> Message:
    """An SMS sent on sms-1 (no report yet)."""
    at = "2026-11-26T10:00:00.000Z"
    msg = Message(
        id="msg_1",
        account_id="acc_1",
        enterprise_id="ent_1",
        protection="store",
        to_masked="+91******3210",
        created_at=at,
        hops=[Hop("sms", "S", "non_strict", None, (), 20, ())],
        attempts=[Attempt(1, "sms", at)],
        to="+919876543210",
        content={"text": "secret words"},
        client_ref="order-1",
    )
    dispatched(msg, n=1, route="sms-1", sender="S", now_ms=1000, at=at)
    return msg


def ops(log: Log) -> OpsApi:
    """The operator API of one replica on the sandbox's default routes."""
    routes = default_routes()
    providers = ProviderSet(routes, [SandboxProvider(None, routes)])
    return OpsApi(providers, log, log, role="all", replica="r1")  # type: ignore[arg-type]


@pytest.fixture
async def served() -> AsyncIterator[tuple[Log, Any]]:
    """The handlers on a test broker (no server), and the log behind them."""
    log = Log()
    broker = NatsBroker(logger=None)
    ops(log).register(broker)
    async with TestNatsBroker(broker) as test_broker:
        yield log, test_broker


async def ask(broker: Any, subject: str, body: bytes | dict[str, Any]) -> dict[str, Any]:
    """One request; the reply's JSON."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    reply = await broker.request(data, subject)
    answer: dict[str, Any] = orjson.loads(reply.body)
    return answer


async def test_the_routes_query_names_this_replica_and_every_route(
    served: tuple[Log, Any],
) -> None:
    """An empty request is `{}`: the reply names the replica, its role and every route in the
    routes file's order with its provider and capacity."""
    _, broker = served
    reply = await ask(broker, subjects.ROUTING_ROUTES_QUERY, b"")
    assert (reply["replica"], reply["role"]) == ("r1", "all")
    assert [r["name"] for r in reply["routes"]] == [r.name for r in default_routes()]
    sms = reply["routes"][0]
    assert (sms["provider"], sms["capacity_per_s"], sms["binds"]) == ("sandbox", 500.0, None)


async def test_a_trace_shows_the_masked_number_and_never_the_content(
    served: tuple[Log, Any],
) -> None:
    """A held message's trace has its attempt and `sent` event, the masked number only, no
    text; an unknown id is 404 and a malformed one 422 naming `message_id`."""
    log, broker = served
    log.messages["msg_1"] = message()
    reply = await ask(broker, subjects.ROUTING_MESSAGES_TRACE, {"message_id": "msg_1"})
    trace = reply["message"]
    assert (trace["to"], trace["client_ref"]) == ("+91******3210", "order-1")
    assert [(a["route"], a["status"]) for a in trace["attempts"]] == [("sms-1", "sent")]
    assert [e["type"] for e in trace["events"]] == ["parley.message.sent"]
    assert b"secret words" not in orjson.dumps(reply)
    assert b"9876543210" not in orjson.dumps(reply)
    reply = await ask(broker, subjects.ROUTING_MESSAGES_TRACE, {"message_id": "msg_2"})
    assert (reply["status"], reply["type"]) == (404, "not_found")
    reply = await ask(broker, subjects.ROUTING_MESSAGES_TRACE, {"message_id": "msg.>"})
    assert (reply["status"], reply["errors"][0]["loc"]) == (422, ["message_id"])


async def test_find_answers_the_index_and_refuses_bad_fields(served: tuple[Log, Any]) -> None:
    """Find gives the index's items (account, message) and whether it stopped early; a body
    that is not JSON is 400, a bad `limit` or `client_ref` 422 naming it."""
    log, broker = served
    log.refs = [("order-1", "acc_1", "msg_2"), ("order-1", "acc_2", "msg_1")]
    body = {"client_ref": "order-1", "account_ids": ["acc_1"], "limit": 5}
    reply = await ask(broker, subjects.ROUTING_MESSAGES_FIND, body)
    assert reply == {"items": [{"account_id": "acc_1", "message_id": "msg_2"}], "truncated": False}
    assert log.asked == [("order-1", ["acc_1"], 5)]
    reply = await ask(broker, subjects.ROUTING_MESSAGES_FIND, b"{not json")
    assert (reply["status"], reply["type"]) == (400, "malformed_request")
    for bad, field in (({"client_ref": "x", "limit": 101}, "limit"), ({}, "client_ref")):
        reply = await ask(broker, subjects.ROUTING_MESSAGES_FIND, bad)
        assert (reply["status"], reply["errors"][0]["loc"]) == (422, [field])


def test_routes_go_to_every_replica_and_the_rest_to_one() -> None:
    """FastStream's AsyncAPI document of the API: the routes query has no queue group (each
    replica answers for its own routes); trace and find are in `routing-svc-ops`."""
    broker = NatsBroker(logger=None)
    ops(Log()).register(broker)
    document = AsyncAPI(broker, schema_version="3.0.0").to_specification().to_jsonable()
    queues = {
        c["address"]: c["bindings"]["nats"].get("queue") for c in document["channels"].values()
    }
    assert queues == {
        subjects.ROUTING_ROUTES_QUERY: None,
        subjects.ROUTING_MESSAGES_TRACE: subjects.QUEUE_ROUTING_OPS,
        subjects.ROUTING_MESSAGES_FIND: subjects.QUEUE_ROUTING_OPS,
    }
