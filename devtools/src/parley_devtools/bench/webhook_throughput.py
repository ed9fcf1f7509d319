"""webhook-svc alone: STATUS stream -> webhook-svc worker processes -> a local aiohttp receiver.

- `webhook_events_per_s_batched` / `_unbatched`: STATUS is pre-filled (50,000 events for an
  account batching 50, or 10,000 for one that does not batch, each bounded by time), then
  worker processes start; the rate is events / (last receipt - first receipt).
- `webhook_p99_ms_at_1000`: events published at 1,000/s for 5 s to a running worker, p99 of
  publish -> receipt (batching 50 with the default 50 ms linger); `_unbatched` likewise.
- The ceilings `ceiling_jetstream_pull_ack_per_s` and `ceiling_aiohttp_post_per_s` are measured
  in the same run (see `ceilings`).

Every phase gets a fresh embedded nats-server. Workers are real `webhook-svc worker`
processes (one by default, `python -m parley_devtools.bench.webhook_throughput N` for N: one
worker is one pull consumer, as the pull+ack ceiling it is compared with); the receiver and
the publisher run in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nats
import orjson
from parley_shared import subjects
from parley_shared.events import AccountSecrets, SealedSecret, new_event_id, source_for
from parley_shared.ids import new_id
from parley_shared.sealing import MasterKey, generate_webhook_secret
from parley_shared.streams import ensure_streams
from parley_shared.timefmt import now_ts

from parley_devtools.account_events import account_config, account_view, config_event, status_hook
from parley_devtools.bench import ceilings
from parley_devtools.bench.config_propagation import percentile
from parley_devtools.platform import Options, Platform
from parley_devtools.processes import Child, wait_all_ready
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually

BATCHED_EVENTS = 50_000
UNBATCHED_EVENTS = 10_000
LATENCY_RATE = 1000
LATENCY_SECONDS = 5.0
PHASE_BUDGET_S = 90.0
WORKER_SETTINGS = {"WEBHOOK_HTTP_HOST": "127.0.0.1", "WEBHOOK_LOG_LEVEL": "WARNING"}


class Phase:
    """One measurement: a fresh nats-server, one account, a receiver, worker processes."""

    def __init__(self, batched: bool) -> None:
        """Describe the phase; `open` starts it."""
        self.batched = batched
        options = Options(services=(), auth=False, postgres=False, settings=WORKER_SETTINGS)
        self.platform = Platform(options)
        self.account_id = new_id("acc")
        self.receiver = Receiver()
        self.workers: list[Child] = []
        self.nc: Any = None
        self.template = _template(self.account_id)

    async def open(self) -> None:
        """Start NATS and the receiver; publish the account's config."""
        await self.platform.started()
        await self.receiver.start()
        self.nc = await nats.connect(self.platform.nats_url)
        js = self.nc.jetstream()
        await ensure_streams(js)
        await self._config_event().publish(js)

    def _config_event(self) -> Any:
        master = MasterKey.from_b64(self.platform.master_key)
        hook = status_hook(
            self.receiver.url(),
            events=["delivery_status", "sent", "read"],
            batch={"enabled": self.batched, "max_events": 50 if self.batched else 1},
        )
        secret = master.seal(generate_webhook_secret(), aad=self.account_id)
        config = account_config(
            "ent_bench", ["sms"], webhooks={"status": hook, "user_initiated": None}
        )
        secrets = AccountSecrets(webhook_signing_secrets=[SealedSecret(value=secret)])
        view = account_view(self.account_id, config)
        return config_event(self.account_id, "ent_bench", view, secrets)

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
        for n in range(count):
            self.workers.append(
                self.platform.spawn(
                    "webhook-svc",
                    ["webhook-svc", "worker"],
                    port_env="WEBHOOK_HTTP_PORT",
                    label=f"webhook-svc-{n}",
                )
            )
        await wait_all_ready(self.workers)

    def rss_mb(self) -> float:
        """The largest worker's resident memory, MB."""
        sizes = [worker.rss() for worker in self.workers]
        return max(sizes) / 1e6 if sizes else 0.0

    async def close(self) -> None:
        """Stop connection, receiver, workers and server."""
        if self.nc is not None:
            await self.nc.close()
        await self.receiver.stop()
        await asyncio.to_thread(self.platform.stop)


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
    current = Phase(batched)
    try:
        await current.open()
        yield current
    finally:
        await current.close()


async def _wait_for(receiver: Receiver, count: int, budget_s: float) -> None:
    """Until `count` events arrived, or the budget is spent (the rest count as lost)."""
    with contextlib.suppress(AssertionError):
        await eventually(lambda: len(receiver.first_seen) >= count, budget_s, step_s=0.005)


async def throughput(batched: bool, events: int, workers: int) -> tuple[float, float, int]:
    """Events/s from a pre-filled STATUS to the receiver, the largest worker RSS (MB), and
    how many stored events never arrived within the budget."""
    async with phase(batched) as p:
        stored = await p.prefill(events)
        await p.start_workers(workers)
        await _wait_for(p.receiver, stored, PHASE_BUDGET_S)
        times = sorted(p.receiver.first_seen.values())
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
        started = time.time()  # the receiver notes arrivals on the wall clock
        futures = []
        while time.time() - started < LATENCY_SECONDS:
            due = started + len(sent) / rate
            if time.time() < due:
                await asyncio.sleep(min(tick, due - time.time()))
                continue
            for _ in range(per_tick):
                event_id, body = p.event()
                sent[event_id] = time.time()
                futures.append(await js.publish_async(subject, body))
        await asyncio.gather(*futures)
        await _wait_for(p.receiver, len(sent), 30.0)
        arrived = p.receiver.first_seen
        delays = [(arrived[i] - t) * 1000 for i, t in sent.items() if i in arrived]
        return percentile(delays, 99) if delays else float("nan")


async def run(workers: int = 1) -> dict[str, float]:
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
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    for key, value in asyncio.run(run(count)).items():
        print(f"{key:<40} {value:,.2f}")
