"""Time from a PATCH's 200 to its config event on the ACCOUNTS stream (account-svc outbox)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats
import orjson
from parley_shared import subjects

from parley_devtools.platform import Options, Platform


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def measure(p: Platform, patches: int = 1000, budget_s: float = 120.0) -> dict[str, float]:
    """PATCH `patches` times in a row; per patch, time from the 200 to its event."""
    admin = p.admin
    account_id, _key = await admin.create_account(traffic_type="otp")
    seen: dict[int, float] = {}
    waiters: dict[int, asyncio.Future[float]] = {}
    nc = await nats.connect(p.nats_url, **p.observer_options("bench"))

    async def on_event(msg: Any) -> None:
        version = orjson.loads(msg.data)["data"]["version"]
        at = time.perf_counter()
        seen[version] = at
        if version in waiters and not waiters[version].done():
            waiters[version].set_result(at)

    await nc.subscribe(subjects.account_config(account_id), cb=on_event)
    latencies: list[float] = []
    deadline = time.monotonic() + budget_s
    for i in range(patches):
        if time.monotonic() > deadline:
            break
        version = i + 2
        waiters[version] = asyncio.get_running_loop().create_future()
        status, body = await admin.call(
            "PATCH", f"/v1/accounts/{account_id}", {"label": f"bench {i}"}
        )
        if status != 200:
            raise RuntimeError(f"PATCH: {status} {body}")
        answered = time.perf_counter()
        early = seen.get(version)
        arrived = early if early is not None else await asyncio.wait_for(waiters[version], 10)
        latencies.append(max(0.0, arrived - answered) * 1000)
    await nc.close()
    return {
        "config_event_patches": float(len(latencies)),
        "config_event_p50_ms": round(percentile(latencies, 50), 2),
        "config_event_p99_ms": round(percentile(latencies, 99), 2),
        "config_event_max_ms": round(max(latencies), 2),
    }


async def run(patches: int = 1000) -> dict[str, float]:
    """Start NATS, PostgreSQL and account-svc, and measure."""
    p = Platform(Options(services=("account-svc",)))
    try:
        await p.started()
        return await measure(p, patches)
    finally:
        await asyncio.to_thread(p.stop)
