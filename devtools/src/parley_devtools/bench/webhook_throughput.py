"""webhook-svc alone: STATUS stream -> webhook-svc worker processes -> a local aiohttp receiver.

- `webhook_events_per_s_batched` / `_unbatched`: STATUS is pre-filled (50,000 events for an
  account batching 50, or 10,000 for one that does not batch, each bounded by time), then
  worker processes start; the rate is events / (last receipt - first receipt).
- `webhook_p99_ms_at_1000`: events published at 1,000/s for 5 s to a running worker, p99 of
  publish -> receipt (batching 50 with the default 50 ms linger); `_unbatched` likewise.
- The ceilings `ceiling_jetstream_pull_ack_per_s` and `ceiling_aiohttp_post_per_s` are measured
  in the same run (see `ceilings`).

Every phase gets a fresh embedded nats-server. Workers are real `webhook-svc worker`
processes; the receiver and the publisher run in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import orjson
import psutil  # type: ignore[import-untyped]
from aiohttp import web
from parley_shared import subjects
from parley_shared.events import (
    ACCOUNT_CONFIG_UPDATED,
    AccountConfigData,
    AccountSecrets,
    CloudEvent,
    SealedSecret,
    dumps,
    new_event_id,
    source_for,
)
from parley_shared.ids import new_id
from parley_shared.sealing import MasterKey, generate_master_key, generate_webhook_secret
from parley_shared.streams import ensure_streams
from parley_shared.timefmt import now_ts

from parley_devtools.bench import ceilings
from parley_devtools.bench.config_propagation import percentile
from parley_devtools.embedded import NatsServer, free_port, stop_process, wait_ready

BATCHED_EVENTS = 50_000
UNBATCHED_EVENTS = 10_000
LATENCY_RATE = 1000
LATENCY_SECONDS = 5.0
PHASE_BUDGET_S = 90.0


class Receiver:
    """A webhook receiver that notes when each event id arrived."""

    def __init__(self) -> None:
        """Not listening until `start`."""
        self.arrived: dict[str, float] = {}
        self.requests = 0
        self.port = 0
        self.expected = 0
        self.complete = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        at = time.perf_counter()
        self.requests += 1
        for event in body if isinstance(body, list) else [body]:
            self.arrived.setdefault(event["id"], at)
        if self.expected and len(self.arrived) >= self.expected:
            self.complete.set()
        return web.Response(text="ok")

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()


class Phase:
    """One measurement: a fresh nats-server, one account, a receiver, worker processes."""

    def __init__(self, tmp: Path, batched: bool) -> None:
        """Describe the phase; `open` starts it."""
        self.tmp = tmp
        self.batched = batched
        self.master_key = generate_master_key()
        self.account_id = new_id("acc")
        self.server = NatsServer(store_dir=tmp / f"nats-{self.account_id}")
        self.receiver = Receiver()
        self.workers: list[tuple[subprocess.Popen[bytes], int]] = []
        self.nc: Any = None
        self.template = _template(self.account_id)

    async def open(self) -> None:
        """Start NATS and the receiver; publish the account's config."""
        self.server.start()
        await self.receiver.start()
        self.nc = await nats.connect(self.server.url)
        js = self.nc.jetstream()
        await ensure_streams(js)
        await js.publish(subjects.account_config(self.account_id), self._config_event())

    def _config_event(self) -> bytes:
        master = MasterKey.from_b64(self.master_key)
        hook = {
            "url": f"http://127.0.0.1:{self.receiver.port}/hook",
            "events": ["delivery_status", "sent", "read"],
            "payload_format": "native",
            "intermediate_delivery_notification": False,
            "metadata": {"enabled": False, "pairs": {}},
            "retries": 3,
            "batch": {"enabled": self.batched, "max_events": 50 if self.batched else 1},
            "encryption": {"enabled": False},
        }
        secret = master.seal(generate_webhook_secret(), aad=self.account_id)
        data = AccountConfigData(
            account_id=self.account_id,
            version=1,
            status="active",
            enterprise_id="ent_bench",
            account={"id": self.account_id, "webhooks": {"status": hook, "user_initiated": None}},
            secrets=AccountSecrets(webhook_signing_secrets=[SealedSecret(value=secret)]),
        )
        event = CloudEvent[AccountConfigData](
            id=new_event_id(),
            type=ACCOUNT_CONFIG_UPDATED,
            source=source_for(self.account_id),
            data=data,
        )
        return dumps(event)

    def event(self) -> tuple[str, bytes]:
        """A fresh `delivered` event: its id and JSON."""
        event_id = new_event_id()
        event = dict(self.template, id=event_id)
        event["data"] = dict(self.template["data"], message_id=new_id("msg"))
        return event_id, orjson.dumps(event)

    async def prefill(self, count: int, budget_s: float = 60.0) -> int:
        """Publish up to `count` events on STATUS (acks awaited per 1,000); how many."""
        js = self.nc.jetstream()
        subject = subjects.status(self.account_id)
        started = time.perf_counter()
        sent = 0
        while sent < count and time.perf_counter() - started < budget_s:
            window = [self.event()[1] for _ in range(min(1000, count - sent))]
            futures = [await js.publish_async(subject, body) for body in window]
            await asyncio.gather(*futures)
            sent += len(window)
        return sent

    async def start_workers(self, count: int) -> None:
        """Start `count` `webhook-svc worker` processes and wait until each is ready."""
        for _ in range(count):
            self.workers.append(self._spawn_worker())
        for proc, port in self.workers:
            await wait_ready(f"http://127.0.0.1:{port}", proc, 30)

    def _spawn_worker(self) -> tuple[subprocess.Popen[bytes], int]:
        exe = str(Path(sys.executable).parent / "webhook-svc")
        port = free_port()
        env = {
            **os.environ,
            "NATS_URL": self.server.url,
            "PARLEY_MASTER_KEY": self.master_key,
            "WEBHOOK_HTTP_HOST": "127.0.0.1",
            "WEBHOOK_HTTP_PORT": str(port),
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_LOG_LEVEL": "WARNING",
        }
        log = (self.tmp / f"webhook-svc-{port}.log").open("ab")
        return subprocess.Popen([exe, "worker"], env=env, stdout=log, stderr=log), port

    def rss_mb(self) -> float:
        """The largest worker's resident memory, MB."""
        sizes = [psutil.Process(p.pid).memory_info().rss for p, _ in self.workers]
        return max(sizes) / 1e6 if sizes else 0.0

    async def close(self) -> None:
        """Stop workers, receiver, connection and server."""
        for proc, _ in self.workers:
            stop_process(proc)
        if self.nc is not None:
            await self.nc.close()
        await self.receiver.stop()
        self.server.stop(remove_store=True)


def _template(account_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "",
        "type": "parley.message.delivered",
        "source": source_for(account_id),
        "subject": "msg_bench",
        "time": now_ts(),
        "datacontenttype": "application/json",
        "data": {
            "message_id": "",
            "account_id": account_id,
            "client_ref": "order-77",
            "channel": "sms",
            "route": "sms-1",
            "sender": "PARLEY",
            "recipient": "+919876543210",
            "status": "delivered",
            "reason": None,
            "attempt": 1,
            "fallback_from": None,
            "fallback_to": None,
            "final": True,
            "metadata": {"campaign": "c1"},
        },
    }


@asynccontextmanager
async def phase(batched: bool) -> AsyncIterator[Phase]:
    """A started phase, closed afterwards."""
    with tempfile.TemporaryDirectory(prefix="parley-webhook-bench-") as tmp:
        current = Phase(Path(tmp), batched)
        try:
            await current.open()
            yield current
        finally:
            await current.close()


async def _wait_for(receiver: Receiver, count: int, budget_s: float) -> None:
    receiver.expected = count
    if len(receiver.arrived) >= count:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receiver.complete.wait(), budget_s)


async def throughput(batched: bool, events: int, workers: int) -> tuple[float, float, int]:
    """Events/s from a pre-filled STATUS to the receiver, the largest worker RSS (MB), and
    how many stored events never arrived within the budget."""
    async with phase(batched) as p:
        stored = await p.prefill(events)
        await p.start_workers(workers)
        await _wait_for(p.receiver, stored, PHASE_BUDGET_S)
        times = sorted(p.receiver.arrived.values())
        lost = stored - len(times)
        if len(times) < 2:
            return 0.0, p.rss_mb(), lost
        return len(times) / (times[-1] - times[0]), p.rss_mb(), lost


async def latency(batched: bool, workers: int, rate: int = LATENCY_RATE) -> float:
    """p99 publish -> receipt in ms at `rate` events/s for LATENCY_SECONDS."""
    async with phase(batched) as p:
        await p.start_workers(workers)
        js = p.nc.jetstream()
        subject = subjects.status(p.account_id)
        sent: dict[str, float] = {}
        per_tick, tick = max(1, rate // 100), 0.01
        started = time.perf_counter()
        futures = []
        while time.perf_counter() - started < LATENCY_SECONDS:
            due = started + len(sent) / rate
            if time.perf_counter() < due:
                await asyncio.sleep(min(tick, due - time.perf_counter()))
                continue
            for _ in range(per_tick):
                event_id, body = p.event()
                sent[event_id] = time.perf_counter()
                futures.append(await js.publish_async(subject, body))
        await asyncio.gather(*futures)
        await _wait_for(p.receiver, len(sent), 30.0)
        delays = [
            (p.receiver.arrived[i] - t) * 1000 for i, t in sent.items() if i in p.receiver.arrived
        ]
        return percentile(delays, 99) if delays else float("nan")


async def run(workers: int = 2) -> dict[str, float]:
    """Every webhook figure and the two ceilings beside them, as a flat dict."""
    batched, rss_batched, lost_batched = await throughput(True, BATCHED_EVENTS, workers)
    unbatched, rss_unbatched, lost_unbatched = await throughput(False, UNBATCHED_EVENTS, workers)
    return {
        "webhook_events_per_s_batched": round(batched, 1),
        "webhook_events_per_s_unbatched": round(unbatched, 1),
        "webhook_events_lost": float(lost_batched + lost_unbatched),
        "webhook_p99_ms_at_1000": round(await latency(True, workers), 2),
        "webhook_p99_ms_at_1000_unbatched": round(await latency(False, workers), 2),
        "webhook_worker_rss_mb": round(max(rss_batched, rss_unbatched), 1),
        "webhook_workers": float(workers),
        "ceiling_jetstream_pull_ack_per_s": round(await ceilings.jetstream_pull_ack(), 1),
        "ceiling_aiohttp_post_per_s": round(await ceilings.aiohttp_post(), 1),
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    for key, value in asyncio.run(run(count)).items():
        print(f"{key:<40} {value:,.2f}")
