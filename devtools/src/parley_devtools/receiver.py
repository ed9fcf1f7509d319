"""The one local webhook receiver of the tests, the chaos scenarios and the benchmarks.

An aiohttp server on loopback that records every request it answers and counts the native
events it accepts by id, so that each user asks what it needs of the same record:

- tests script the answers per path (`script("/h", [503, (429, {"Retry-After": "1"}),
  "hang"])`, then 200) and read `on(path)`, `event_ids(path)`, `accepted(path)`;
- chaos and the benchmarks read `counts` (copies of each event id accepted), `first_seen`
  (when each event id first arrived) and `finals` (when each message's first `final: true`
  event arrived), all on the wall clock so that they compare with a load client's times.

It can be stopped and started again on the same port (a receiver outage). A request is
recorded when it is answered, so one cut off by a crash or a stop is not counted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from parley_devtools.embedded import LOOPBACK

Answer = int | tuple[int, dict[str, str]] | str  # a status, a status with headers, or "hang"
MAX_BODY = 16 * 1024 * 1024


@dataclass
class Received:
    """One request the receiver answered: path, headers (lower-case names), body, status."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float  # wall clock

    @property
    def ok(self) -> bool:
        """Whether the receiver accepted it (answered 2xx)."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)

    def events(self) -> list[dict[str, Any]]:
        """The native events in the body (one, or a batch)."""
        data = self.json()
        return data if isinstance(data, list) else [data]


def _events_in(body: bytes) -> list[dict[str, Any]]:
    """Native events (objects with a string `id`) in a body; none when it is anything else
    (another payload format, an encrypted envelope, not JSON)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    items = data if isinstance(data, list) else [data]
    return [e for e in items if isinstance(e, dict) and isinstance(e.get("id"), str)]


class Receiver:
    """A webhook receiver on a loopback port: 200 to everything unless scripted.

    `script(path, answers)` answers the next requests on `path` in that order, then 200;
    "hang" never answers (until the receiver stops). `delays[path]` makes each answer on
    `path` take that long (the receiver's own processing time).
    """

    def __init__(self, port: int = 0) -> None:
        """Not listening until `start`; port 0 takes a free one at the first start."""
        self.port = port
        self.requests: list[Received] = []
        self.delays: dict[str, float] = {}
        self.in_flight = 0
        self.counts: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self.finals: dict[str, float] = {}
        self._scripts: dict[str, list[Answer]] = {}
        self._runner: web.AppRunner | None = None
        self._stop = asyncio.Event()

    # ------------------------------------------------------------------ serving
    async def start(self) -> Receiver:
        """Listen (again, on the same port after a `stop`)."""
        self._stop = asyncio.Event()
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Release hanging requests and stop listening: connections are refused until `start`."""
        self._stop.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str = "/hook") -> str:
        """The URL of `path` on this receiver."""
        return f"http://{LOOPBACK}:{self.port}{path}"

    def script(self, path: str, answers: Iterable[Answer]) -> None:
        """The next answers on `path`."""
        self._scripts.setdefault(path, []).extend(answers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.in_flight += 1
        try:
            delay = self.delays.get(request.path)
            if delay:
                await asyncio.sleep(delay)
            script = self._scripts.get(request.path)
            answer: Answer = script.pop(0) if script else 200
            if answer == "hang":
                self._record(request, body, 503)
                await self._stop.wait()
                return web.Response(status=503)
            status, headers = answer if isinstance(answer, tuple) else (int(answer), {})
            self._record(request, body, status)
            return web.Response(status=status, headers=headers, text="ok")
        finally:
            self.in_flight -= 1

    def _record(self, request: web.Request, body: bytes, status: int) -> None:
        at = time.time()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Received(request.path, headers, body, status, at))
        if not 200 <= status < 300:
            return
        for event in _events_in(body):
            self.counts[event["id"]] += 1
            self.first_seen.setdefault(event["id"], at)
            data = event.get("data")
            if isinstance(data, dict) and data.get("final"):
                self.finals.setdefault(str(data.get("message_id")), at)

    # ------------------------------------------------------------------ reading
    def on(self, path: str) -> list[Received]:
        """Requests answered on `path`, in order."""
        return [r for r in self.requests if r.path == path]

    def accepted(self, path: str) -> list[Received]:
        """Requests on `path` answered 2xx."""
        return [r for r in self.on(path) if r.ok]

    def event_ids(self, path: str) -> list[str]:
        """Ids of the native events received on `path`, duplicates and refused ones included."""
        return [e["id"] for r in self.on(path) for e in r.events()]

    def received(self, ids: Iterable[str]) -> int:
        """How many of `ids` were accepted at least once."""
        return sum(1 for i in ids if self.counts.get(i))

    def duplicates(self, ids: Iterable[str]) -> int:
        """Extra accepted copies of `ids` beyond the first."""
        return sum(max(0, self.counts.get(i, 0) - 1) for i in ids)
