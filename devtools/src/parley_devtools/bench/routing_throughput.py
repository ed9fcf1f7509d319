"""routing-svc throughput and latency, on real processes over an embedded nats-server.

One `routing-svc serve` process (sandbox provider delivering at once, a routes file whose
capacities are not the limit) and a load client in its own process; this process watches the
STATUS stream afterwards for when each `delivered` event was stored. Figures:

- `http_submit_per_s`: HTTP `POST /v1/messages` accepted per second (64 keep-alive
  connections);
- `nats_submit_per_s`: the same send over NATS request/reply (256 in flight);
- `routing_delivered_per_s`: submit to `delivered` event, over the HTTP burst;
- `routing_p99_ms_at_500`: p99 of submit to `delivered` at a steady 500 msg/s.

Bounded in count and time; loopback only. `python -m parley_devtools.bench.routing_throughput`
prints the figures; `--client` is the load client's entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import orjson
from nats.js.api import ConsumerConfig, DeliverPolicy
from parley_shared import subjects
from parley_shared.events import (
    ACCOUNT_CONFIG_UPDATED,
    AccountConfigData,
    AccountSecrets,
    CloudEvent,
    dumps,
    new_event_id,
    source_for,
)
from parley_shared.ids import new_id
from parley_shared.sealing import MasterKey, generate_api_key, generate_master_key
from parley_shared.timefmt import now_ts

from parley_devtools.embedded import NatsServer, free_port, stop_process, wait_ready

BURST = 10_000
STEADY_RATE = 500
STEADY_SECONDS = 10
BUDGET_S = 60.0
BODY = {"to": "+919876543210", "channel": "sms", "content": {"text": "Your code is 4821"}}
ROUTES = {"routes": [{"name": "sms-1", "channel": "sms", "capacity_per_s": 1_000_000}]}


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


# ---------------------------------------------------------------------- the load client
class _Connection:
    """One keep-alive HTTP/1.1 connection that sends a fixed request and reads the answer.

    A load generator must cost far less than the server it measures: aiohttp's client takes
    about as much CPU per request as the server, so this one is written on asyncio streams.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send `request`; (status, body) of the answer."""
        self.writer.write(request)
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)


def _request(url: str, key: str) -> tuple[str, int, bytes]:
    """(host, port, the bytes of one POST /v1/messages)."""
    host, port = url.removeprefix("http://").split(":")
    body = orjson.dumps(BODY)
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return host, int(port), head.encode() + body


async def _http(url: str, key: str, count: int, in_flight: int, rate: float) -> list[Any]:
    host, port, request = _request(url, key)
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(in_flight):
        pool.put_nowait(_Connection(*await asyncio.open_connection(host, port)))
    sent: list[Any] = []

    async def one() -> None:
        connection = await pool.get()
        at = time.time()
        status, answer = await connection.exchange(request)
        pool.put_nowait(connection)
        if status == 202:
            sent.append((orjson.loads(answer)["message_id"], at, time.time()))

    await _drive(one, count, rate)
    while not pool.empty():
        pool.get_nowait().writer.close()
    return sent


async def _nats(url: str, key: str, count: int, in_flight: int, rate: float) -> list[Any]:
    nc = await nats.connect(url)
    headers = {"Authorization": f"Bearer {key}"}
    body = orjson.dumps(BODY)
    sent: list[Any] = []
    limit = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with limit:
            at = time.time()
            reply = await nc.request(subjects.API_MESSAGES_SEND, body, timeout=10, headers=headers)
            answer = orjson.loads(reply.data)
            if answer.get("status") == "accepted":
                sent.append((answer["message_id"], at, time.time()))

    await _drive(one, count, rate)
    await nc.close()
    return sent


async def _drive(one: Any, count: int, rate: float) -> None:
    """Run `one` `count` times: as fast as allowed (rate 0), or paced at `rate` per second."""
    tasks = []
    started = time.monotonic()
    for i in range(count):
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
        if time.monotonic() - started > BUDGET_S:
            break
        if not rate and len(tasks) % 256 == 0:
            await asyncio.sleep(0)
    await asyncio.gather(*tasks, return_exceptions=True)


def client_main(args: argparse.Namespace) -> None:
    """The load client: send, then print one JSON line per accepted message."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    drive = _http if args.mode == "http" else _nats
    target = args.url
    sent = asyncio.run(drive(target, args.key, args.count, args.in_flight, args.rate))
    out = sys.stdout
    for message_id, at, answered in sent:
        out.write(json.dumps([message_id, at, answered]) + "\n")
    out.flush()


# ---------------------------------------------------------------------- the orchestrator
def _account_event(master: MasterKey, api_key: str) -> tuple[str, bytes, str]:
    account_id = new_id("acc")
    enterprise_id = new_id("ent")
    off: dict[str, Any] = {"enabled": False, "channel": None, "dr_ttl_seconds": None, "events": []}
    account = {
        "id": account_id,
        "label": "bench",
        "enterprise_id": enterprise_id,
        "business_group_id": new_id("bg"),
        "communication_type": "outgoing",
        "traffic_type": "otp",
        "channels": ["sms"],
        "security": {
            "ip_restriction": {"mode": "all"},
            "data_protection": "store",
            "payload_encryption": {"enabled": False},
        },
        "consent": {"lookup_opt_in": False, "lookup_opt_out": False},
        "channel_settings": {"sms": {"sender_ids": {"mode": "all"}, "fallback": off}},
        "webhooks": {"status": None, "user_initiated": None},
        "version": 1,
        "status": "active",
        "created_at": now_ts(),
        "updated_at": now_ts(),
    }
    data = AccountConfigData(
        account_id=account_id,
        version=1,
        status="active",
        enterprise_id=enterprise_id,
        account=account,
        secrets=AccountSecrets(api_key_hash=master.hash_api_key(api_key)),
    )
    event_id = new_event_id()
    event = CloudEvent[AccountConfigData](
        id=event_id, type=ACCOUNT_CONFIG_UPDATED, source=source_for(account_id), data=data
    )
    return subjects.account_config(account_id), dumps(event), event_id


class StatusLog:
    """Reads `delivered` events back from the STATUS stream after a round, with the time
    JetStream stored each one, so that nothing but the service and the load client runs
    while a round is measured."""

    def __init__(self, js: Any) -> None:
        self._js = js

    async def last_seq(self) -> int:
        """The stream's last sequence now."""
        info = await self._js.stream_info(subjects.STREAM_STATUS)
        return int(info.state.last_seq)

    async def settle(self, after: int, expected: int, budget_s: float = 60.0) -> int:
        """Wait until `expected` events were stored after sequence `after` (or the budget)."""
        deadline = time.monotonic() + budget_s
        last = await self.last_seq()
        while last - after < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            last = await self.last_seq()
        return last

    async def delivered(self, after: int, upto: int) -> dict[str, float]:
        """message id -> when its `delivered` event was stored, for sequences after..upto."""
        found: dict[str, float] = {}
        done = asyncio.Event()

        async def on_event(msg: Any) -> None:
            meta = msg.metadata
            if b'"status":"delivered"' in msg.data:
                message_id = orjson.loads(msg.data)["data"]["message_id"]
                found.setdefault(message_id, meta.timestamp.timestamp())
            if meta.sequence.stream >= upto:
                done.set()

        sub = await self._js.subscribe(
            subjects.STATUS_ALL,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
            ),
            cb=on_event,
        )
        if upto > after:
            await asyncio.wait_for(done.wait(), 60)
        await sub.unsubscribe()
        return found


@dataclass(frozen=True)
class Load:
    """One run of the load client."""

    mode: str  # http | nats
    target: str  # base URL, or NATS URL
    key: str
    count: int
    in_flight: int
    rate: float = 0.0  # per second; 0: as fast as it goes


async def _client(load: Load) -> list[Any]:
    argv = [
        sys.executable,
        "-m",
        "parley_devtools.bench.routing_throughput",
        "--client",
        "--mode",
        load.mode,
        "--url",
        load.target,
        "--key",
        load.key,
        "--count",
        str(load.count),
        "--in-flight",
        str(load.in_flight),
        "--rate",
        str(load.rate),
    ]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def _round(log: StatusLog, load: Load) -> dict[str, float]:
    """One load-client run; rates and submit-to-delivered latencies."""
    after = await log.last_seq()
    sent = await _client(load)
    upto = await log.settle(after, 2 * len(sent))  # sent + delivered per message
    delivered = await log.delivered(after, upto)
    first = min(at for _, at, _ in sent)
    last_answer = max(answered for _, _, answered in sent)
    done = [delivered[i] for i, _, _ in sent if i in delivered]
    latencies = [(delivered[i] - at) * 1000 for i, at, _ in sent if i in delivered]
    return {
        "accepted": float(len(sent)),
        "submit_per_s": len(sent) / max(last_answer - first, 1e-9),
        "delivered_per_s": len(done) / max(max(done) - first, 1e-9) if done else 0.0,
        "p50_ms": percentile(latencies, 50) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 99) if latencies else float("nan"),
        "lost": float(len(sent) - len(done)),
    }


async def measure(server: NatsServer, base: str, key: str) -> dict[str, float]:
    """Warm up, then the steady run, the HTTP burst and the NATS burst."""
    nc = await nats.connect(server.url)
    log = StatusLog(nc.jetstream())
    await _round(log, Load("http", base, key, 500, 32))
    steady = await _round(
        log, Load("http", base, key, STEADY_RATE * STEADY_SECONDS, 64, STEADY_RATE)
    )
    http = await _round(log, Load("http", base, key, BURST, 64))
    over_nats = await _round(log, Load("nats", server.url, key, BURST, 256))
    await nc.close()
    return {
        "http_submit_per_s": round(http["submit_per_s"], 1),
        "nats_submit_per_s": round(over_nats["submit_per_s"], 1),
        "routing_delivered_per_s": round(http["delivered_per_s"], 1),
        "routing_p99_ms_at_500": round(steady["p99_ms"], 2),
    }


def _serve(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`routing-svc serve` from this venv, its output to `log_path`."""
    exe = str(Path(sys.executable).parent / "routing-svc")
    with log_path.open("ab") as log:
        return subprocess.Popen([exe, "serve"], env=env, stdout=log, stderr=log)


async def run() -> dict[str, float]:
    """Start NATS and routing-svc, publish an account, measure, stop everything."""
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-routing-"))
    server = NatsServer(store_dir=tmp / "nats").start()
    routes = tmp / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    master_key = generate_master_key()
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": server.url,
        "PARLEY_MASTER_KEY": master_key,
        "ROUTING_HTTP_HOST": "127.0.0.1",
        "ROUTING_HTTP_PORT": str(port),
        "ROUTING_ROUTES_FILE": str(routes),
        "ROUTING_LOG_LEVEL": "WARNING",
    }
    proc = _serve(env, tmp / "routing.log")
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, proc, 60)
        api_key = generate_api_key()
        nc = await nats.connect(server.url)
        subject, payload, event_id = _account_event(MasterKey.from_b64(master_key), api_key)
        await nc.jetstream().publish(subject, payload, headers={subjects.HEADER_MSG_ID: event_id})
        await nc.close()
        await asyncio.sleep(0.5)
        return await measure(server, base, api_key)
    finally:
        stop_process(proc)
        server.stop(remove_store=True)


def main() -> None:
    """Print the figures (or run the load client with `--client`)."""
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.bench.routing_throughput")
    parser.add_argument("--client", action="store_true")
    parser.add_argument("--mode", choices=["http", "nats"], default="http")
    parser.add_argument("--url", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--count", type=int, default=BURST)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    results = asyncio.run(run())
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
