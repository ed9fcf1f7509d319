"""What this machine can do at all, measured in the same run as the figures compared with it.

Each function starts its own fresh embedded nats-server (or a local aiohttp server), is
bounded in message count and in time, and answers a rate per second:

- `core_publish`: nats-py core publishes of 200 B, flushed at the end;
- `jetstream_publish_pipelined`: JetStream publishes with `publish_async`, acks awaited per
  window;
- `jetstream_pull_ack`: a durable pull consumer, `fetch(100)` then an ack per message (the
  ordinary nats-py way);
- `aiohttp_post`: one small JSON per POST to an aiohttp server in this process, from an
  aiohttp client in *another* process (`python -m parley_devtools.bench.ceilings post-client`):
  the ceiling of what webhook-svc does (an aiohttp client posting to an HTTP server);
- `aiohttp_submit`: the load client of `http_submit_per_s` (`parley_devtools.load`, the same
  64 keep-alive connections and the same counting) against a bare aiohttp server on uvloop in a
  process of its own that answers `POST /v1/messages` with a 202 and a message id and does
  nothing else (`python -m parley_devtools.bench.ceilings submit-server PORT`): the ceiling of
  routing-svc's HTTP API with like clients. aiohttp's client costs about as much per request as
  the server, so `aiohttp_post` is bound by its client, near half of this one.

`python -m parley_devtools.bench.ceilings` prints all five as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import nats
from aiohttp import web
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from parley_devtools.embedded import NatsServer, free_port, wait_port
from parley_devtools.load import run_client

PAYLOAD = b"x" * 200
SMALL_JSON = b'{"id":"evt_01","type":"parley.message.delivered","data":{"status":"delivered"}}'


@contextlib.asynccontextmanager
async def fresh_nats() -> AsyncIterator[str]:
    """A fresh embedded nats-server with JetStream for one measurement; its URL."""
    with tempfile.TemporaryDirectory(prefix="parley-ceiling-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        try:
            yield server.url
        finally:
            server.stop(remove_store=True)


async def core_publish(count: int = 200_000, budget_s: float = 10.0) -> float:
    """Core NATS publishes per second (200 B, no subscriber), flushed."""
    async with fresh_nats() as url:
        nc = await nats.connect(url)
        try:
            started = time.perf_counter()
            sent = 0
            while sent < count and time.perf_counter() - started < budget_s:
                for _ in range(1000):
                    await nc.publish("bench.core", PAYLOAD)
                sent += 1000
            await nc.flush(timeout=30)
            return sent / (time.perf_counter() - started)
        finally:
            await nc.close()


async def _fill(js: object, subject: str, count: int, window: int, budget_s: float) -> int:
    """Publish up to `count` messages with acks awaited per `window`; how many were stored."""
    started = time.perf_counter()
    sent = 0
    while sent < count and time.perf_counter() - started < budget_s:
        batch = min(window, count - sent)
        futures = [await js.publish_async(subject, PAYLOAD) for _ in range(batch)]  # type: ignore[attr-defined]
        await asyncio.gather(*futures)
        sent += batch
    return sent


async def jetstream_publish_pipelined(
    count: int = 50_000, window: int = 1000, budget_s: float = 15.0
) -> float:
    """JetStream publishes per second with `publish_async`, acks awaited per window."""
    async with fresh_nats() as url:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.js"]))
            started = time.perf_counter()
            sent = await _fill(js, "bench.js", count, window, budget_s)
            return sent / (time.perf_counter() - started)
        finally:
            await nc.close()


async def jetstream_pull_ack(count: int = 30_000, budget_s: float = 15.0) -> float:
    """Messages per second through a durable pull consumer: fetch(100), ack each."""
    async with fresh_nats() as url:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.pull"]))
            stored = await _fill(js, "bench.pull", count, 1000, budget_s)
            config = ConsumerConfig(durable_name="bench", ack_policy=AckPolicy.EXPLICIT)
            await js.add_consumer("BENCH", config)
            sub = await js.pull_subscribe_bind("bench", "BENCH")
            started = time.perf_counter()
            done = 0
            while done < stored and time.perf_counter() - started < budget_s:
                for msg in await sub.fetch(100, timeout=5):
                    await msg.ack()
                    done += 1
            return done / (time.perf_counter() - started)
        finally:
            await nc.close()


async def _post_client(url: str, count: int, concurrency: int, budget_s: float) -> float:
    """POSTs per second from this process (the client side of `aiohttp_post`)."""
    headers = {"content-type": "application/json"}
    done = 0
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def lane() -> None:
            nonlocal done
            while done < count and time.perf_counter() - started < budget_s:
                done += 1
                async with session.post(url, data=SMALL_JSON, headers=headers) as resp:
                    await resp.read()

        await asyncio.gather(*(lane() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def aiohttp_post(count: int = 20_000, concurrency: int = 32, budget_s: float = 15.0) -> float:
    """POSTs per second to a local aiohttp server, the client in another process."""
    rate, _ = await aiohttp_post_run(count, concurrency, budget_s)
    return rate


async def aiohttp_post_run(count: int, concurrency: int, budget_s: float) -> tuple[float, float]:
    """`aiohttp_post`'s run: (POSTs per second, the CPU seconds this process, the server, spent
    while the client ran)."""

    async def handle(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        args = [
            sys.executable,
            "-m",
            "parley_devtools.bench.ceilings",
            "post-client",
            f"http://127.0.0.1:{port}/hook",
            str(count),
            str(concurrency),
            str(budget_s),
        ]
        started = time.process_time()
        proc = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), budget_s + 30)
        spent = time.process_time() - started
        return float(json.loads(out)["post_per_s"]), spent
    finally:
        await runner.cleanup()


SUBMIT_ANSWER = b'{"message_id":"msg_ceiling","status":"accepted"}'


def submit_server(port: int) -> None:
    """A bare aiohttp server answering `POST /v1/messages` with a 202 (the body read, nothing
    else done), until killed; on uvloop when installed, as the services run."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=SUBMIT_ANSWER, status=202, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/messages", handle)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def aiohttp_submit(
    count: int = 10_000, connections: int = 64, budget_s: float = 15.0
) -> float:
    """202s per second from a bare aiohttp server (its own process) to the load client, counted
    as `http_submit_per_s` is: accepted / (last answer - first submit)."""
    port = free_port()
    argv = [sys.executable, "-m", "parley_devtools.bench.ceilings", "submit-server", str(port)]
    server = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await asyncio.to_thread(wait_port, port)
        url = f"http://127.0.0.1:{port}"
        await run_client(url, "ceiling", 500, rate=0, connections=connections)  # warm up
        result = await run_client(
            url, "ceiling", count, rate=0, connections=connections, budget_s=budget_s
        )
    finally:
        if server.returncode is None:
            server.kill()
        await server.wait()
    if not result.accepted:
        return float("nan")
    first = min(at for _, at, _ in result.accepted)
    last = max(answered for _, _, answered in result.accepted)
    return len(result.accepted) / max(last - first, 1e-9)


async def run() -> dict[str, float]:
    """Every ceiling, as a flat dict."""
    return {
        "ceiling_core_publish_per_s": round(await core_publish(), 1),
        "ceiling_jetstream_publish_pipelined_per_s": round(await jetstream_publish_pipelined(), 1),
        "ceiling_jetstream_pull_ack_per_s": round(await jetstream_pull_ack(), 1),
        "ceiling_aiohttp_post_per_s": round(await aiohttp_post(), 1),
        "ceiling_aiohttp_submit_per_s": round(await aiohttp_submit(), 1),
    }


def main() -> None:
    """`post-client URL COUNT CONCURRENCY BUDGET` (used by `aiohttp_post`), `submit-server PORT`
    (used by `aiohttp_submit`), or every ceiling."""
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.bench.ceilings")
    parser.add_argument(
        "command", nargs="?", default="all", choices=["all", "post-client", "submit-server"]
    )
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args()
    if ns.command == "post-client":
        url, count, concurrency, budget = ns.args
        rate = asyncio.run(_post_client(url, int(count), int(concurrency), float(budget)))
        print(json.dumps({"post_per_s": rate}))
        return
    if ns.command == "submit-server":
        submit_server(int(ns.args[0]))
        return
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
