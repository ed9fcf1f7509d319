"""Back-pressure: a per-account send rate limit, a cap on requests in hand, a full SUBMIT."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from nats.js.api import StreamConfig
from parley_shared import subjects
from routing_svc.adapters.http_base import in_flight_cap, problem_middleware
from routing_svc.bootstrap import create_app
from routing_testkit import Routing, eventually, make_settings


@pytest.fixture
def limited(routing_settings: dict[str, Any]) -> None:
    """Two sends a second per account, with a burst of two."""
    routing_settings["account_send_rate_per_s"] = 2
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

    app = web.Application(middlewares=[problem_middleware, in_flight_cap(1)])
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
def api_only(routing_settings: dict[str, Any]) -> None:
    """The service under test takes sends but routes nothing (no workers)."""
    routing_settings["role"] = "api"


@pytest.mark.usefixtures("api_only")
async def test_a_full_submit_stream_answers_503_and_loses_nothing_accepted(
    routing: Routing,
) -> None:
    """SUBMIT bounded at 5 messages: sends past it answer 503 `overloaded` (Retry-After); the
    five accepted all reach a final status once a worker runs."""
    info = await routing.js.stream_info(subjects.STREAM_SUBMIT)
    config: StreamConfig = info.config
    config.max_msgs = 5
    await routing.js.update_stream(config)
    account = await routing.account(["sms"])
    answers = [await routing.api.send(account) for _ in range(8)]
    accepted = [body["message_id"] for status, body in answers if status == 202]
    refused = [body for status, body in answers if status != 202]
    assert len(accepted) == 5
    assert {(body["status"], body["type"]) for body in refused} == {(503, "overloaded")}
    settings = make_settings(routing.nats_url, routing.master_key, role="worker")
    worker = TestServer(create_app(settings), host="127.0.0.1")
    await worker.start_server()
    try:
        for message_id in accepted:
            assert (await routing.events.final(message_id, within_s=20))["data"]["status"] == (
                "delivered"
            )
        await eventually(lambda: len(routing.events.status) >= 10, 5)
    finally:
        await worker.close()
