"""What one message costs routing-svc, and how much of that is the client stack's floor.

The e2e targets ask more of routing-svc's one event loop than it has; this suite shows where
the limit is, in figures a machine's speed changes together (so their ratios travel):

- `routing_jetstream_writes_per_msg`, `routing_nats_msgs_per_msg`: what one accepted message
  costs on the wire (routing-svc alone, the sandbox reporting at once), counted by a `>`
  subscriber on the server over `WIRE_COUNT` messages: JetStream writes (message-log records,
  SUBMIT, STATUS events: each a publish with an ack inbox), and every NATS message the server
  routed for it (writes, their acks, consumer deliveries and acks, API requests);
- `publish_ack_client_us`: the client CPU of one pipelined JetStream publish and its ack with
  routing-svc's own publisher (`routing_svc.adapters.jetstream`), alone on a fresh server;
- `aiohttp_server_us_per_request`: the server CPU of one bare aiohttp POST (parse a small JSON,
  answer), the client in another process;
- `routing_cpu_us_per_msg_at_<rate>`, `routing_socket_writes_per_msg_at_<rate>` (and reads):
  routing-svc's CPU and its socket system calls per message at a steady 500 and 2,000 msg/s
  for `SECONDS`, from the load's start until every `delivered` event is stored. The same work
  costs far more CPU at the lower rate: each write wakes a peer that had gone to sleep and each
  read follows a wake-up of routing-svc's own, while under load the writes of many messages
  leave together and the process never sleeps;
- `routing_floor_us_per_msg`: bare HTTP plus the message's JetStream writes, what routing-svc
  would cost if everything else it does (the pull, policy, records, events, the sandbox) were
  free; `routing_floor_share` is that floor over the cost measured at 2,000 msg/s.

Loopback only, bounded in count and time. `python -m parley_devtools.bench.floor`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import time
from typing import Any

import nats
import psutil  # type: ignore[import-untyped]
from nats.js.api import StreamConfig
from parley_shared import subjects

from parley_devtools.bench.ceilings import aiohttp_post_run, fresh_nats
from parley_devtools.bench.routing_throughput import ROUTES, StatusLog, routing_alone
from parley_devtools.load import run_client

WIRE_COUNT = 1_000
QUIET_RATE = 500
BUSY_RATE = 2_000
SECONDS = 6
PUBLISHES = 20_000
WINDOW = 1_000
POSTS = 10_000
BUDGET_S = 60.0
STATUS_SUBJECTS = subjects.STATUS_PREFIX + "."


def wire_kind(subject: str, reply: str) -> str:
    """What a NATS message routed by the server is, from its subject and reply subject."""
    if subject.startswith("$JS.ACK."):
        return "consumer_ack"
    if subject.startswith("$JS.API."):
        return "api_request"
    if subject.startswith("_INBOX."):
        return "reply"  # a JetStream ack of a write, a pull's status, an API answer
    if reply.startswith("$JS.ACK."):
        return "delivery"  # a stream message handed to a consumer
    if reply.startswith("_INBOX."):
        return "jetstream_write"  # a publish to a stream (or KV bucket) awaiting its ack
    return "core"


async def wire(p: Any, key: str, count: int = WIRE_COUNT) -> dict[str, float]:
    """NATS messages per accepted message, by kind (a `>` subscriber counts them). The count
    ends once every message's `sent` and `delivered` were written (seen by the same
    subscriber, so that no polling of ours is counted), and their acks had time to pass."""
    kinds: collections.Counter[str] = collections.Counter()
    statuses = 0
    expected = math.inf
    done = asyncio.Event()
    nc = await nats.connect(p.nats_url)
    try:

        async def note(msg: Any) -> None:
            nonlocal statuses
            kind = wire_kind(msg.subject, msg.reply)
            kinds[kind] += 1
            if kind == "jetstream_write" and msg.subject.startswith(STATUS_SUBJECTS):
                statuses += 1
                if statuses >= expected:
                    done.set()

        await nc.subscribe(">", cb=note, pending_msgs_limit=10_000_000)
        await nc.flush()
        sent = await run_client(p.routing, key, count, rate=count, connections=16)
        accepted = len(sent.accepted)
        expected = 2 * accepted  # sent + delivered of each
        if statuses >= expected:
            done.set()
        await asyncio.wait_for(done.wait(), BUDGET_S)
        await asyncio.sleep(0.5)  # the last acks
    finally:
        await nc.close()
    per = max(accepted, 1)
    return {
        "routing_jetstream_writes_per_msg": round(kinds["jetstream_write"] / per, 2),
        "routing_nats_msgs_per_msg": round(sum(kinds.values()) / per, 2),
    }


async def routing_cpu(p: Any, key: str, rate: int, seconds: int = SECONDS) -> dict[str, float]:
    """routing-svc's CPU (µs) and socket system calls per message at a steady `rate`, from the
    load's start until every message's `delivered` event is stored."""
    proc = psutil.Process(p.pids()["routing-svc"])
    nc = await nats.connect(p.nats_url)
    try:
        status = StatusLog(nc.jetstream())
        after = await status.last_seq()
        cpu, io = proc.cpu_times(), proc.io_counters()
        sent = await run_client(p.routing, key, rate * seconds, rate=rate, connections=32)
        await status.settle(after, 2 * len(sent.accepted), BUDGET_S)
        cpu_after, io_after = proc.cpu_times(), proc.io_counters()
    finally:
        await nc.close()
    per = max(len(sent.accepted), 1)
    spent = (cpu_after.user + cpu_after.system) - (cpu.user + cpu.system)
    return {
        f"routing_cpu_us_per_msg_at_{rate}": round(spent * 1e6 / per, 1),
        f"routing_socket_writes_per_msg_at_{rate}": round(
            (io_after.write_count - io.write_count) / per, 2
        ),
        f"routing_socket_reads_per_msg_at_{rate}": round(
            (io_after.read_count - io.read_count) / per, 2
        ),
    }


async def publish_ack_us(count: int = PUBLISHES, window: int = WINDOW) -> float:
    """Client CPU (µs) of one publish and its ack through routing-svc's JetStream publisher."""
    from routing_svc.adapters.jetstream import JetStreamPublisher

    async with fresh_nats() as url:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().add_stream(StreamConfig(name="FLOOR", subjects=["floor.js"]))
            publisher = JetStreamPublisher(nc)
            await publisher.start()
            payload = b"x" * 200
            started = time.process_time()
            for _ in range(count // window):
                acks = [await publisher.publish("floor.js", payload) for _ in range(window)]
                await asyncio.gather(*acks)
            spent = time.process_time() - started
            await publisher.stop()
        finally:
            await nc.close()
    return spent * 1e6 / (count // window * window)


async def aiohttp_server_us(count: int = POSTS, concurrency: int = 32) -> float:
    """Server CPU (µs) of one bare aiohttp POST, its client in another process (the run of
    `ceilings.aiohttp_post`)."""
    rate, spent = await aiohttp_post_run(count, concurrency, BUDGET_S)
    done = min(count, rate * BUDGET_S)  # the client stops at `count` or at its budget
    return spent * 1e6 / max(done, 1)


def floor_figures(measured: dict[str, float]) -> dict[str, float]:
    """The derived floor: bare HTTP plus the message's writes, and its share of the cost."""
    floor = (
        measured["aiohttp_server_us_per_request"]
        + measured["routing_jetstream_writes_per_msg"] * measured["publish_ack_client_us"]
    )
    cost = measured[f"routing_cpu_us_per_msg_at_{BUSY_RATE}"]
    return {
        "routing_floor_us_per_msg": round(floor, 1),
        "routing_floor_share": round(floor / cost, 2) if cost else float("nan"),
    }


async def run() -> dict[str, float]:
    """Every figure of the suite."""
    figures = {
        "publish_ack_client_us": round(await publish_ack_us(), 1),
        "aiohttp_server_us_per_request": round(await aiohttp_server_us(), 1),
    }
    async with routing_alone(ROUTES, ["transactional"]) as (p, keys):
        _, key = keys["transactional"]
        await run_client(p.routing, key, 500, rate=500, connections=16)  # warm up
        for rate in (QUIET_RATE, BUSY_RATE):
            figures.update(await routing_cpu(p, key, rate))
        figures.update(await wire(p, key))
    return figures | floor_figures(figures)


def main() -> None:
    """Print the figures."""
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
