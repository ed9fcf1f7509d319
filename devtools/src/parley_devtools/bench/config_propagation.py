"""Time from a PATCH's 200 to its config event on the ACCOUNTS stream (account-svc outbox)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import nats
import orjson
from parley_shared import subjects

from parley_devtools.bench.stack import ADMIN_PASSWORD, Stack


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with session.request(method, url, **kw) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url}: {resp.status} {data}")
        return data


async def measure(stack: Stack, patches: int = 1000, budget_s: float = 120.0) -> dict[str, float]:
    """PATCH `patches` times in a row; per patch, time from the 200 to its event."""
    base = stack.account_url
    async with aiohttp.ClientSession() as session:
        login = await _json(
            session,
            "POST",
            base + "/v1/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
        )
        auth = {"Authorization": f"Bearer {login['token']}"}
        ent = await _json(
            session,
            "POST",
            base + "/v1/organizations",
            headers=auth,
            json={"name": "Bench", "kind": "enterprise"},
        )
        group = await _json(
            session,
            "POST",
            base + "/v1/business-groups",
            headers=auth,
            json={"name": "G", "enterprise_id": ent["id"]},
        )
        created = await _json(
            session,
            "POST",
            base + "/v1/accounts",
            headers=auth,
            json={
                "label": "bench",
                "enterprise_id": ent["id"],
                "business_group_id": group["id"],
                "communication_type": "outgoing",
                "traffic_type": "otp",
                "channels": ["sms"],
            },
        )
        account_id = created["account"]["id"]
        seen: dict[int, float] = {}
        waiters: dict[int, asyncio.Future[float]] = {}
        nc = await nats.connect(stack.nats.url, **stack.observer_options())

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
            await _json(
                session,
                "PATCH",
                f"{base}/v1/accounts/{account_id}",
                headers=auth,
                json={"label": f"bench {i}"},
            )
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
    """Start a stack with account-svc and measure."""
    with Stack(auth=True) as stack:
        stack.start_service("account-svc", "serve")
        await stack.wait_ready(stack.account_url)
        return await measure(stack, patches)
