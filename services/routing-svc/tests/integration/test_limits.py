"""Back-pressure: a per-account send rate limit and a cap on requests in hand (a full SUBMIT:
tests/abuse/test_routing_abuse.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import nats
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from routing_svc.adapters.http_api import middlewares
from routing_testkit import Routing


@pytest.fixture
def limited(routing_settings: dict[str, Any]) -> None:
    """Two sends a second per account, with a burst of two."""
    routing_settings["account_send_rate_per_second"] = 2
    routing_settings["account_send_burst"] = 2


@pytest.mark.usefixtures("limited")
async def test_an_account_sending_past_its_rate_gets_429_with_retry_after(
    routing: Routing,
) -> None:
    """The third of three immediate sends is 429 `rate_limited` with `Retry-After`; another
    account is not held back by it."""
    account = await routing.account(["sms"])
    other = await routing.account(["sms"])
    answers = [await routing.api.send(account) for _ in range(3)]
    assert [status for status, _ in answers] == [202, 202, 429]
    assert answers[2][1]["type"] == "rate_limited"
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {account.api_key}"}
        body = {"to": "+919876543210", "channel": "sms", "content": {"text": "x"}}
        async with session.post(
            routing.api.base + "/v1/messages", json=body, headers=headers
        ) as resp:
            assert resp.status == 429
            assert int(resp.headers["Retry-After"]) >= 1
    assert (await routing.api.send(other))[0] == 202


async def test_requests_past_the_in_flight_cap_get_503_overloaded() -> None:
    """With one request in hand and a cap of one, the next is 503 `overloaded` with
    Retry-After, while /healthz still answers."""
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"ok": True})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(middlewares=middlewares(1))
    app.router.add_get("/slow", slow)
    app.router.add_get("/healthz", healthz)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            first = asyncio.ensure_future(session.get(server.make_url("/slow")))
            await asyncio.sleep(0.2)
            async with session.get(server.make_url("/slow")) as second:
                assert second.status == 503
                assert second.headers["Retry-After"] == "1"
                assert (await second.json())["type"] == "overloaded"
            async with session.get(server.make_url("/healthz")) as health:
                assert health.status == 200
            release.set()
            async with await first as answer:
                assert answer.status == 200
    finally:
        await server.close()


@pytest.fixture
def one_nats_request(routing_settings: dict[str, Any]) -> None:
    """One NATS send request in hand at a time."""
    routing_settings["max_nats_in_flight"] = 1


@pytest.mark.usefixtures("one_nats_request")
async def test_nats_sends_past_the_in_flight_cap_get_an_immediate_503(routing: Routing) -> None:
    """With one NATS send in hand (its handler held), the next one is answered 503
    `overloaded` at once instead of queueing."""
    from parley_shared import subjects
    from routing_svc.adapters.nats_api import NatsApi

    account = await routing.account(["sms"])
    release = asyncio.Event()
    original = NatsApi.send

    async def held(self: NatsApi, *args: Any, **kwargs: Any) -> Any:
        await release.wait()
        return await original(self, *args, **kwargs)

    NatsApi.send = held  # type: ignore[method-assign]
    try:
        headers = {"Authorization": f"Bearer {account.api_key}"}
        body = b'{"to": "+919876543210", "channel": "sms", "content": {"text": "x"}}'
        inbox = f"_INBOX.{account.account_id}"
        nc = await nats.connect(routing.nats_url, inbox_prefix=inbox)
        try:
            first = asyncio.ensure_future(
                nc.request(subjects.API_MESSAGES_SEND, body, timeout=10, headers=headers)
            )
            await asyncio.sleep(0.3)
            second = await nc.request(subjects.API_MESSAGES_SEND, body, timeout=5, headers=headers)
            assert second.headers["Parley-Status"] == "503"
            assert orjson.loads(second.data)["type"] == "overloaded"
            release.set()
            assert (await first).headers["Parley-Status"] == "202"
        finally:
            await nc.close()
    finally:
        NatsApi.send = original  # type: ignore[method-assign]
