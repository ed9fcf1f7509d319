"""A local webhook receiver that counts every event by id, and can be taken down and up again."""

from __future__ import annotations

import time
from collections import Counter

import orjson
from aiohttp import web

from parley_devtools.embedded import LOOPBACK, free_port


class Receiver:
    """aiohttp on a fixed loopback port: 204 to every POST, each event id counted.

    `finals` keeps, per message id, when its first `final: true` event arrived (wall clock,
    comparable with the load client's submit times).
    """

    def __init__(self) -> None:
        """Not listening until `start`."""
        self.port = free_port()
        self.counts: Counter[str] = Counter()
        self.finals: dict[str, float] = {}
        self.requests = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The webhook URL."""
        return f"http://{LOOPBACK}:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        at = time.time()
        self.requests += 1
        for event in body if isinstance(body, list) else [body]:
            self.counts[event["id"]] += 1
            data = event.get("data") or {}
            if data.get("final"):
                self.finals.setdefault(data["message_id"], at)
        return web.Response(status=204)

    async def start(self) -> None:
        """Listen (again) on the same port."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, self.port, reuse_address=True).start()

    async def stop(self) -> None:
        """Stop listening: connections are refused until `start`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def received(self, ids: set[str]) -> int:
        """How many of `ids` arrived at least once."""
        return sum(1 for i in ids if self.counts.get(i))

    def duplicates(self, ids: set[str]) -> int:
        """Extra copies of `ids` beyond the first."""
        return sum(max(0, self.counts.get(i, 0) - 1) for i in ids)
