"""routing-svc throughput and latency, on real processes over an embedded nats-server.

One `routing-svc serve` process (sandbox provider delivering at once, a routes file whose
capacities are not the limit, NATS without authentication) and the load client
(`parley_devtools.load`) in its own process; this process watches the STATUS stream afterwards
for when each `delivered` event was stored. Figures:

- `http_submit_per_s`: HTTP `POST /v1/messages` accepted per second (64 keep-alive
  connections);
- `nats_submit_per_s`: the same send over NATS request/reply (256 in flight);
- `routing_delivered_per_s`: submit to `delivered` event, over the HTTP burst;
- `routing_p99_ms_at_500`: p99 of submit to `delivered` at a steady 500 msg/s.

Bounded in count and time; loopback only. `python -m parley_devtools.bench.routing_throughput`
prints the figures.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import nats
import orjson
from nats.js.api import ConsumerConfig, DeliverPolicy
from parley_shared import subjects
from parley_shared.events import AccountSecrets
from parley_shared.ids import new_id
from parley_shared.sealing import MasterKey, generate_api_key

from parley_devtools.account_events import account_config, account_view, config_event
from parley_devtools.load import run_client
from parley_devtools.platform import Options, Platform

BURST = 10_000
STEADY_RATE = 500
STEADY_SECONDS = 10
BUDGET_S = 60.0
ROUTES = {"routes": [{"name": "sms-1", "channel": "sms", "capacity_per_s": 1_000_000}]}


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@asynccontextmanager
async def routing_alone(
    routes: dict[str, Any], traffic_types: Sequence[str]
) -> AsyncIterator[tuple[Platform, dict[str, tuple[str, str]]]]:
    """routing-svc alone on an embedded nats-server (no authentication, no account-svc) with
    one SMS account per traffic type published as account-svc would: (the platform, the
    account id and API key of each traffic type)."""
    settings = {"ROUTING_HTTP_HOST": "127.0.0.1", "ROUTING_LOG_LEVEL": "WARNING"}
    options = Options(
        services=("routing-svc",), auth=False, postgres=False, routes=routes, settings=settings
    )
    p = Platform(options)
    try:
        await p.started()
        master = MasterKey.from_b64(p.master_key)
        keys = {kind: (new_id("acc"), generate_api_key()) for kind in traffic_types}
        nc = await nats.connect(p.nats_url)
        for traffic_type, (account_id, key) in keys.items():
            enterprise_id = new_id("ent")
            config = account_config(enterprise_id, ["sms"], traffic_type=traffic_type)
            secrets = AccountSecrets(api_key_hash=master.hash_api_key(key))
            view = account_view(account_id, config)
            await config_event(account_id, enterprise_id, view, secrets).publish(nc.jetstream())
        await nc.close()
        await asyncio.sleep(0.5)  # routing-svc's view follows ACCOUNTS
        yield p, keys
    finally:
        await asyncio.to_thread(p.stop)


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

    target: str  # base URL, or NATS URL
    key: str
    count: int
    in_flight: int
    rate: float = 0.0  # per second; 0: as fast as it goes
    nats_account: str = ""  # over NATS as this account (`target` is then the NATS URL)


async def client(load: Load) -> list[tuple[str, float, float]]:
    """Run the load client; (message id, submitted at, answered at) of each accepted send."""
    result = await run_client(
        load.target,
        load.key,
        load.count,
        rate=load.rate,
        connections=load.in_flight,
        budget_s=BUDGET_S,
        nats_account=load.nats_account,
    )
    return result.accepted


async def _round(log: StatusLog, load: Load) -> dict[str, float]:
    """One load-client run; rates and submit-to-delivered latencies."""
    after = await log.last_seq()
    sent = await client(load)
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


async def measure(p: Platform, account_id: str, key: str) -> dict[str, float]:
    """Warm up, then the steady run, the HTTP burst and the NATS burst."""
    nc = await nats.connect(p.nats_url)
    log = StatusLog(nc.jetstream())
    base = p.routing
    await _round(log, Load(base, key, 500, 32))
    steady = await _round(log, Load(base, key, STEADY_RATE * STEADY_SECONDS, 64, STEADY_RATE))
    http = await _round(log, Load(base, key, BURST, 64))
    over_nats = await _round(log, Load(p.nats_url, key, BURST, 256, nats_account=account_id))
    await nc.close()
    return {
        "http_submit_per_s": round(http["submit_per_s"], 1),
        "nats_submit_per_s": round(over_nats["submit_per_s"], 1),
        "routing_delivered_per_s": round(http["delivered_per_s"], 1),
        "routing_p99_ms_at_500": round(steady["p99_ms"], 2),
    }


async def run() -> dict[str, float]:
    """Start NATS and routing-svc with an account, measure, stop everything."""
    async with routing_alone(ROUTES, ["otp"]) as (p, keys):
        return await measure(p, *keys["otp"])


def main() -> None:
    """Print the figures."""
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
