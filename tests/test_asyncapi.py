"""account-svc's AsyncAPI document (`/asyncapi.json`) is a valid AsyncAPI 3.0.0 document and
describes what really travels: status and inbound events, the send's answer and the durable
consumer's messages, captured from a running routing-svc, validate against its schemas."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import nats
import orjson
import pytest
from account_svc.asyncapi import asyncapi_document
from aiohttp.test_utils import TestServer
from parley_runtime.natsauth.tenants import ensure_consumers
from parley_shared import subjects
from parley_shared.sealing import MasterKey, generate_master_key
from routing_svc.bootstrap import create_app
from routing_testkit import NUMBER, AccountPublisher, Api, allow, make_settings

SCHEMA = (
    Path(__file__).resolve().parents[1]
    / "services"
    / "account-svc"
    / "tests"
    / "asyncapi"
    / "asyncapi-3.0.0.schema.json"
)
DOC = asyncapi_document()


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def payload_errors(channel: str, payload: Any) -> list[str]:
    """Why `payload` does not fit the document's schema of the message on `channel` (none: it
    fits)."""
    [ref] = DOC["channels"][channel]["messages"].values()
    message = ref["$ref"].rsplit("/", 1)[-1]
    schema = {**DOC["components"]["messages"][message]["payload"], "components": DOC["components"]}
    validator = jsonschema.Draft202012Validator(schema)
    return [error.message for error in validator.iter_errors(payload)]


def address_matches(channel: str, subject: str) -> bool:
    """Whether a subject is an instance of a channel's address."""
    address = DOC["channels"][channel]["address"]
    pattern = re.escape(address).replace(r"\{account_id\}", r"acc_[A-Za-z0-9]+")
    pattern = pattern.replace(r"\{stream\}", "(STATUS|INBOUND)").replace(r"\{ack\}", ".+")
    return re.fullmatch(pattern, subject) is not None


def test_the_document_is_valid_asyncapi_3() -> None:
    """The document validates against the AsyncAPI 3.0.0 JSON schema, which does reject a
    broken one (an operation action AsyncAPI 3 does not know)."""
    validator = _validator()
    assert list(validator.iter_errors(DOC)) == []
    broken = json.loads(json.dumps(DOC))
    broken["operations"]["status"]["action"] = "publish"
    assert list(validator.iter_errors(broken))


def test_every_integrator_subject_is_described() -> None:
    """Each subject CONTRACT section 10 lets an integrator use has a channel and an operation,
    and the connection rules are the server's security scheme."""
    addresses = {c["address"] for c in DOC["channels"].values()}
    for address in (
        "parley.msg.v1.status.{account_id}",
        "parley.msg.v1.inbound.{account_id}",
        "parley.api.v1.messages.send",
        "JS.PARLEY.API.CONSUMER.MSG.NEXT.{stream}.{account_id}",
        "JS.PARLEY.API.CONSUMER.INFO.{stream}.{account_id}",
        "$JS.ACK.{stream}.{account_id}.{ack}",
    ):
        assert address in addresses
    used = {op["channel"]["$ref"].rsplit("/", 1)[-1] for op in DOC["operations"].values()}
    assert {"status", "inbound", "messagesSend", "consumerNext", "consumerInfo", "ack"} <= used
    scheme = DOC["components"]["securitySchemes"]["integrator"]
    assert scheme["type"] == "userPassword"
    assert "_INBOX.<account_id>" in scheme["description"]


@pytest.fixture
async def routing_api(nats_url: str) -> AsyncIterator[tuple[Api, Any, AccountPublisher]]:
    """routing-svc in-process (sandbox provider) with a NATS client beside it."""
    master = generate_master_key()
    server = TestServer(create_app(make_settings(nats_url, master)), host="127.0.0.1")
    await server.start_server()
    nc = await nats.connect(nats_url)
    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"))
        yield api, nc, AccountPublisher(nc.jetstream(), MasterKey.from_b64(master))
    await nc.close()
    await server.close()


async def test_real_events_fit_the_document(
    routing_api: tuple[Api, Any, AccountPublisher],
) -> None:
    """Status and inbound events, a send's answer, a consumer read and a consumer info, as
    routing-svc produces them, validate against the document's payload schemas."""
    api, nc, publisher = routing_api
    account = await publisher.create(
        ["sms"],
        {"sms": {"sender_ids": allow("PARLEY")}},
        communication_type="conversational",
    )
    acc = account.account_id
    await ensure_consumers(nc.jetstream(), acc)
    captured: list[tuple[str, str, Any]] = []

    async def capture(msg: Any) -> None:
        channel = "status" if msg.subject.startswith(subjects.STATUS_PREFIX) else "inbound"
        captured.append((channel, msg.subject, orjson.loads(msg.data)))

    await nc.subscribe(subjects.status(acc), cb=capture)
    await nc.subscribe(subjects.inbound(acc), cb=capture)
    caller = await nats.connect(nc.connected_url.geturl(), inbox_prefix=f"_INBOX.{acc}")
    try:
        body = orjson.dumps({"to": NUMBER, "channel": "sms", "content": {"text": "hi"}})
        headers = {"Authorization": f"Bearer {account.api_key}"}
        for _ in range(50):  # until routing-svc's view has the account
            reply = await caller.request(
                subjects.API_MESSAGES_SEND, body, timeout=5, headers=headers
            )
            if reply.headers.get("Parley-Status") != "401":
                break
            await asyncio.sleep(0.1)
        answer = orjson.loads(reply.data)
        assert answer["status"] == "accepted", answer
        assert payload_errors("messagesSendReply", answer) == []
        inbound = {"channel": "sms", "from": NUMBER, "to": "PARLEY", "text": "hello"}
        status, _ = await api.call("POST", "/v1/sandbox/inbound", inbound)
        assert status == 202
        for _ in range(100):
            kinds = {c for c, _, e in captured if c == "inbound" or e["data"]["final"]}
            if kinds == {"status", "inbound"}:
                break
            await asyncio.sleep(0.1)
        assert {c for c, _, _ in captured} == {"status", "inbound"}, captured
        for channel, subject, event in captured:
            assert address_matches(channel, subject), subject
            assert payload_errors(channel, event) == [], event
        js = caller.jetstream()
        sub = await js.pull_subscribe_bind(durable=acc, stream="STATUS")
        for msg in await sub.fetch(1, timeout=5):
            assert payload_errors("consumerMessages", orjson.loads(msg.data)) == []
            assert address_matches("ack", msg.reply)
            await msg.ack()
        info = await caller.request(f"$JS.API.CONSUMER.INFO.STATUS.{acc}", b"", timeout=5)
        assert payload_errors("consumerInfoReply", orjson.loads(info.data)) == []
        assert payload_errors("status", {"specversion": "1.0"})  # the check can fail
    finally:
        await caller.close()
