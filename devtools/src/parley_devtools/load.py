"""The one load client: `POST /v1/messages` (or the NATS send API) from a process of its own.

A load generator must cost far less than the service it loads: aiohttp's client takes about as
much CPU per request as the server, so HTTP is written on asyncio streams, one keep-alive
connection per slot, and the client runs in its own process. A request that fails (connection
refused or reset while the service is down, a timeout, any status but 202) is counted as not
accepted and its connection is made again; only 202 answers (or `accepted` replies over NATS)
are accepted messages. The process prints one JSON line per accepted message,
`[message_id, submitted_at, answered_at]` (wall clock), then a last line `{"errors": {...}}`.

Every run is bounded in count and time. Used by `make chaos` and `make bench`:
`python -m parley_devtools.load --url URL --key KEY --count N --rate R [--nats-account ID]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

BODY = {"to": "+919876543210", "channel": "sms", "content": {"text": "Your code is 4821"}}
TIMEOUT_S = 10.0
Accepted = list[tuple[str, float, float]]


class Connection:
    """One keep-alive HTTP/1.1 connection, opened again after any failure."""

    def __init__(self, host: str, port: int) -> None:
        """Not connected until the first exchange."""
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send `request`; (status, body) of the answer. Raises on any failure."""
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            self.writer.write(request)
            status = int((await self.reader.readline()).split(b" ", 2)[1])
            length = 0
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            return status, await self.reader.readexactly(length)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Drop the connection."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def request_bytes(url: str, key: str, body: dict[str, Any]) -> tuple[str, int, bytes]:
    """(host, port, the bytes of one POST /v1/messages)."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    payload = orjson.dumps(body)
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return host, int(port), head.encode() + payload


async def pace(
    one: Callable[[], Coroutine[Any, Any, None]], count: int, rate: float, budget_s: float
) -> None:
    """Run `one` `count` times: paced at `rate` per second, or as fast as it goes (rate 0);
    no new one starts after `budget_s`."""
    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()
    for i in range(count):
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        elif len(tasks) % 256 == 0:
            await asyncio.sleep(0)
        tasks.append(asyncio.create_task(one()))
        if time.monotonic() - started > budget_s:
            break
    await asyncio.gather(*tasks, return_exceptions=True)


async def over_http(
    url: str, key: str, count: int, *, rate: float, connections: int, budget_s: float
) -> tuple[Accepted, Counter[str]]:
    """`count` sends over `connections` keep-alive connections to the messaging API."""
    host, port, request = request_bytes(url, key, BODY)
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, port))
    accepted: Accepted = []
    errors: Counter[str] = Counter()

    async def one() -> None:
        connection = await pool.get()
        at = time.time()
        try:
            status, answer = await asyncio.wait_for(connection.exchange(request), TIMEOUT_S)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors[type(exc).__name__] += 1
            await asyncio.sleep(0.05)  # a refused connection fails fast; do not spin
            return
        finally:
            pool.put_nowait(connection)
        if status == 202:
            accepted.append((orjson.loads(answer)["message_id"], at, time.time()))
        else:
            errors[str(status)] += 1

    await pace(one, count, rate, budget_s)
    while not pool.empty():
        pool.get_nowait().close()
    return accepted, errors


async def over_nats(
    url: str, key: str, count: int, *, rate: float, connections: int, budget_s: float, account: str
) -> tuple[Accepted, Counter[str]]:
    """`count` sends over NATS request/reply, `connections` of them in flight at most; answers
    come to the account's own inbox (`_INBOX.<account id>.`), the only one routing-svc answers
    a send of that account's key to."""
    import nats

    nc = await nats.connect(url, inbox_prefix=f"_INBOX.{account}")
    headers = {"Authorization": f"Bearer {key}"}
    body = orjson.dumps(BODY)
    accepted: Accepted = []
    errors: Counter[str] = Counter()
    limit = asyncio.Semaphore(connections)

    async def one() -> None:
        from parley_shared import subjects

        async with limit:
            at = time.time()
            try:
                reply = await nc.request(
                    subjects.API_MESSAGES_SEND, body, timeout=TIMEOUT_S, headers=headers
                )
            except (TimeoutError, nats.errors.Error) as exc:
                errors[type(exc).__name__] += 1
                return
            answer = orjson.loads(reply.data)
            if answer.get("status") == "accepted":
                accepted.append((answer["message_id"], at, time.time()))
            else:
                errors[str(answer.get("status"))] += 1

    await pace(one, count, rate, budget_s)
    await nc.close()
    return accepted, errors


@dataclass
class LoadResult:
    """What one load-client run reported."""

    accepted: Accepted = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ids(self) -> set[str]:
        """Ids of the accepted messages."""
        return {m for m, _, _ in self.accepted}


async def run_client(
    url: str,
    key: str,
    count: int,
    *,
    rate: float,
    connections: int = 32,
    budget_s: float = 300.0,
    nats_account: str = "",
) -> LoadResult:
    """Run the load client as a separate process and collect what it printed; with
    `nats_account` (the key's account id), `url` is a NATS URL and the sends go over NATS."""
    argv = [sys.executable, "-m", "parley_devtools.load", "--url", url, "--key", key]
    argv += ["--count", str(count), "--rate", str(rate), "--connections", str(connections)]
    argv += ["--budget", str(budget_s), "--nats-account", nats_account]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    result = LoadResult()
    for line in out.decode().splitlines():
        value = json.loads(line)
        if isinstance(value, dict):
            result.errors = value["errors"]
        else:
            result.accepted.append((value[0], value[1], value[2]))
    return result


def main() -> None:
    """Entry point of the client process."""
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.load")
    parser.add_argument("--url", required=True, help="routing-svc's base URL, or a NATS URL")
    parser.add_argument("--key", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="per second; 0: flat out")
    parser.add_argument("--connections", type=int, default=32, help="or requests in flight")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds")
    parser.add_argument("--nats-account", default="", help="send over NATS as this account")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    pacing = {"rate": args.rate, "connections": args.connections, "budget_s": args.budget}
    if args.nats_account:
        drive = over_nats(args.url, args.key, args.count, account=args.nats_account, **pacing)
    else:
        drive = over_http(args.url, args.key, args.count, **pacing)
    accepted, errors = asyncio.run(drive)
    out = sys.stdout
    for row in accepted:
        out.write(json.dumps(row) + "\n")
    out.write(json.dumps({"errors": dict(errors)}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
