"""The load client: paced `POST /v1/messages` in its own process, surviving server restarts.

Written on asyncio streams (as `bench.routing_throughput`'s client) so that it costs far less
CPU than the service it loads. A request that fails (connection refused or reset while the
service is down, a timeout, any status but 202) is counted as not accepted and its connection
is made again; only 202 answers are accepted messages. Prints one JSON line per accepted
message, `[message_id, submitted_at, answered_at]` (wall clock), then a last line
`{"errors": {...}}`.

`python -m parley_devtools.chaos.load --url URL --key KEY --count N --rate R`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

BODY = {"to": "+919876543210", "channel": "sms", "content": {"text": "Your code is 4821"}}
TIMEOUT_S = 10.0


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


async def drive(
    url: str, key: str, count: int, *, rate: float, connections: int, budget_s: float
) -> tuple[list[tuple[str, float, float]], Counter[str]]:
    """Send `count` messages at `rate` per second (0: as fast as `connections` allow)."""
    host, port, request = request_bytes(url, key, BODY)
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, port))
    accepted: list[tuple[str, float, float]] = []
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

    tasks = []
    started = time.monotonic()
    for i in range(count):
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        elif pool.empty():
            await asyncio.sleep(0)
        tasks.append(asyncio.create_task(one()))
        if time.monotonic() - started > budget_s:
            break
    await asyncio.gather(*tasks, return_exceptions=True)
    while not pool.empty():
        pool.get_nowait().close()
    return accepted, errors


@dataclass
class LoadResult:
    """What one load-client run reported."""

    accepted: list[tuple[str, float, float]] = field(default_factory=list)
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
) -> LoadResult:
    """Run the load client as a separate process and collect what it printed."""
    argv = [sys.executable, "-m", "parley_devtools.chaos.load", "--url", url, "--key", key]
    argv += ["--count", str(count), "--rate", str(rate), "--connections", str(connections)]
    argv += ["--budget", str(budget_s)]
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
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.chaos.load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--budget", type=float, default=300.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    accepted, errors = asyncio.run(
        drive(
            args.url,
            args.key,
            args.count,
            rate=args.rate,
            connections=args.connections,
            budget_s=args.budget,
        )
    )
    out = sys.stdout
    for row in accepted:
        out.write(json.dumps(row) + "\n")
    out.write(json.dumps({"errors": dict(errors)}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
