"""HTTP attempts against a local aiohttp receiver: what the timeouts count, and the answer body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from webhook_svc.adapters.http_sender import HttpSender
from webhook_svc.domain.targets import parse_target


@dataclass
class Local:
    """A receiver on 127.0.0.1 and the event that lets its stalled answers finish."""

    server: TestServer
    release: asyncio.Event

    def url(self, path: str) -> str:
        """The http:// URL of `path`."""
        return f"http://127.0.0.1:{self.server.port}{path}"


@pytest.fixture
async def local() -> AsyncIterator[Local]:
    """Paths: /slow answers 200 after 0.6 s, /hang after 3 s; /trickle-<status> sends its status
    line at once and its body only when released; /big answers 200 with a 1 MiB body."""
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(0.6)
        return web.Response(status=200)

    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(status=200)

    async def trickle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=int(request.match_info["status"]))
        resp.content_length = 2
        await resp.prepare(request)
        try:
            await asyncio.wait_for(release.wait(), 10)
            await resp.write(b"ok")
        except (ConnectionError, TimeoutError):
            pass
        return resp

    async def big(_: web.Request) -> web.Response:
        return web.Response(status=200, body=b"x" * (1 << 20))

    app = web.Application()
    app.router.add_post("/slow", slow)
    app.router.add_post("/hang", hang)
    app.router.add_post("/trickle-{status}", trickle)
    app.router.add_post("/big", big)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield Local(server, release)
    release.set()
    await server.close()


@pytest.fixture
async def sender() -> AsyncIterator[HttpSender]:
    """A sender allowed to reach loopback: 1 s total timeout, a pool of one connection."""
    out = HttpSender(allow_private=True, total_timeout_seconds=1.0, pool_size=1)
    yield out
    await out.close()


async def test_waiting_for_a_pooled_connection_does_not_count_toward_the_timeout(
    local: Local, sender: HttpSender
) -> None:
    """Two 0.6 s answers through a pool of one both deliver (1.2 s in all, 1 s timeout each)."""
    target = parse_target(local.url("/slow"))
    outcomes = await asyncio.gather(*(sender.send(target, b"{}", {}) for _ in range(2)))
    assert [(o.ok, o.status_code) for o in outcomes] == [(True, 200), (True, 200)]


async def test_an_answer_slower_than_the_total_timeout_fails(
    local: Local, sender: HttpSender
) -> None:
    """Once the connection is held, no status line within the total timeout is a `timeout`."""
    started = time.perf_counter()
    outcome = await sender.send(parse_target(local.url("/hang")), b"{}", {})
    assert (outcome.ok, outcome.error) == (False, "timeout")
    assert time.perf_counter() - started < 2.5


@pytest.mark.parametrize(("status", "ok"), [(200, True), (202, True), (503, False)])
async def test_the_status_line_decides_even_when_the_body_never_comes(
    local: Local, sender: HttpSender, status: int, ok: bool
) -> None:
    """A status line followed by a stalled body is judged by its status (a 2xx is delivered),
    after waiting at most about a second (DRAIN_S) for the body, past the total timeout."""
    started = time.perf_counter()
    outcome = await sender.send(parse_target(local.url(f"/trickle-{status}")), b"{}", {})
    assert (outcome.ok, outcome.status_code) == (ok, status)
    assert time.perf_counter() - started < 2.5
    again = await sender.send(parse_target(local.url("/slow")), b"{}", {})
    assert again.ok  # the stalled connection was closed, not left holding the pool


async def test_a_large_answer_body_is_dropped_and_the_attempt_delivered(
    local: Local, sender: HttpSender
) -> None:
    """A 1 MiB answer body is not read past the bound; the 200 counts as delivered."""
    outcome = await sender.send(parse_target(local.url("/big")), b"{}", {})
    assert (outcome.ok, outcome.status_code) == (True, 200)
    again = await sender.send(parse_target(local.url("/slow")), b"{}", {})
    assert again.ok
