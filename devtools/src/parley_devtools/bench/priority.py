"""OTP latency while promotional traffic floods routing-svc (issue 15: `traffic_type`).

One `routing-svc serve` process on an embedded nats-server, one SMS route of 1,000 msg/s (the
sandbox, delivering at once), a promotional account and an OTP account. A load client floods
the promotional account over HTTP as fast as routing-svc accepts (64 connections); one second
in, a second client sends OTP messages at 100 msg/s for 10 s. The flood is far beyond the
route's capacity, so promotional messages queue for the route for the whole OTP run. Figures:

- `otp_p99_ms_under_promo_flood` (target <= 50 ms): p99 of an OTP message's submit (the HTTP
  request's start) to its `delivered` event stored on STATUS;
- `otp_p50_ms_under_promo_flood`, `otp_lost_under_promo_flood` (OTP not delivered within the
  budget);
- `promo_flood_submit_per_s`: the flood's accepted rate, which shows it was a flood.

Bounded in count and time; loopback only. `python -m parley_devtools.bench.priority`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import nats
import orjson
from nats.js.api import ConsumerConfig, DeliverPolicy
from parley_shared import subjects

from parley_devtools.bench.routing_throughput import (
    Load,
    StatusLog,
    client,
    percentile,
    routing_alone,
)
from parley_devtools.platform import Platform

ROUTE_CAPACITY = 1_000
FLOOD = 25_000
FLOOD_IN_FLIGHT = 64
OTP_RATE = 100
OTP_SECONDS = 10
OTP_START_S = 1.0
BUDGET_S = 60.0
ROUTES = {"routes": [{"name": "sms-1", "channel": "sms", "capacity_per_s": ROUTE_CAPACITY}]}


async def _delivered(js: Any, after: int, wanted: set[str], budget_s: float) -> dict[str, float]:
    """message id -> when its `delivered` event was stored, for the `wanted` ids, reading STATUS
    from sequence `after` + 1 until all are found or the budget ends."""
    found: dict[str, float] = {}
    done = asyncio.Event()

    async def on_event(msg: Any) -> None:
        if b'"status":"delivered"' not in msg.data:
            return
        message_id = orjson.loads(msg.data)["data"]["message_id"]
        if message_id in wanted:
            found.setdefault(message_id, msg.metadata.timestamp.timestamp())
            if len(found) == len(wanted):
                done.set()

    sub = await js.subscribe(
        subjects.STATUS_ALL,
        ordered_consumer=True,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
        ),
        cb=on_event,
    )
    try:
        if wanted:
            await asyncio.wait_for(done.wait(), budget_s)
    except TimeoutError:
        pass
    await sub.unsubscribe()
    return found


async def measure(p: Platform, promo_key: str, otp_key: str) -> dict[str, float]:
    """The flood and the OTP run at once; OTP latencies read back from STATUS afterwards."""
    nc = await nats.connect(p.nats_url)
    js = nc.jetstream()
    log = StatusLog(js)
    base = p.routing
    await client(Load(base, otp_key, 200, 16))  # warm up both paths
    await client(Load(base, promo_key, 200, 16))
    after = await log.last_seq()
    started = time.monotonic()
    flood = asyncio.create_task(client(Load(base, promo_key, FLOOD, FLOOD_IN_FLIGHT)))
    await asyncio.sleep(OTP_START_S)
    otp = await client(Load(base, otp_key, OTP_RATE * OTP_SECONDS, 16, OTP_RATE))
    flooded = await flood
    flood_s = time.monotonic() - started
    found = await _delivered(js, after, {m for m, _, _ in otp}, BUDGET_S)
    await nc.close()
    latencies = [(found[m] - at) * 1000 for m, at, _ in otp if m in found]
    accepts = [(answered - at) * 1000 for _, at, answered in otp]
    routed = [(found[m] - answered) * 1000 for m, _, answered in otp if m in found]
    first = min((at for _, at, _ in flooded), default=0.0)
    last = max((answered for _, _, answered in flooded), default=first + flood_s)
    return {
        "otp_p99_ms_under_promo_flood": round(percentile(latencies, 99), 2)
        if latencies
        else float("nan"),
        "otp_p50_ms_under_promo_flood": round(percentile(latencies, 50), 2)
        if latencies
        else float("nan"),
        "otp_lost_under_promo_flood": float(len(otp) - len(latencies)),
        "otp_accept_p99_ms_under_promo_flood": round(percentile(accepts, 99), 2)
        if accepts
        else float("nan"),
        "otp_routed_p99_ms_under_promo_flood": round(percentile(routed, 99), 2)
        if routed
        else float("nan"),
        "promo_flood_submit_per_s": round(len(flooded) / max(last - first, 1e-9), 1),
    }


async def run() -> dict[str, float]:
    """Start NATS and routing-svc with both accounts, measure, stop everything."""
    async with routing_alone(ROUTES, ["promotional", "otp"]) as (p, keys):
        return await measure(p, keys["promotional"][1], keys["otp"][1])


def main() -> None:
    """Print the figures."""
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
