"""End to end: submit -> routing-svc -> STATUS -> webhook-svc -> a batched webhook, on the whole
platform (all three services as processes, embedded NATS and PostgreSQL, the load client in its
own process, a routes file whose capacities do not bind). Figures:

- `e2e_msgs_per_s`: a burst submitted as fast as 64 connections go; accepted messages / (last
  final webhook received - first submit); `e2e_lost`: accepted messages without a final status
  event, plus subscribed events (`sent`, `delivered`) that never reached the receiver, over
  every phase;
- `p50_ms_at_<rate>`, `p99_ms_at_<rate>` for 500, 1,000 and 2,000 msg/s offered: submit -> the
  message's final event at the receiver (batches of up to 50, webhook-svc's defaults);
- `config_propagation_p99_ms`: a PATCH of the account's SMS sender allowlist answered 200 by
  account-svc -> the first send with the newly allowed sender that routing-svc accepts (sends
  are retried back to back, so the figure includes up to one send's round trip);
- `max_rss_mb`, `rss_mb_<service>`: peak RSS of each service process over the run (psutil);
- `e2e_msgs_per_s_2x2`, `e2e_lost_2x2`, `e2e_duplicates_2x2`: the burst again on a platform
  with two routing-svc and two webhook-svc processes (the load split over both routing-svc
  HTTP listeners): the cost of running more than one of each, and that it neither loses nor
  duplicates.

Every service runs with its defaults (`bench_options`: loopback listeners and a routes file
whose capacities do not bind are all that is set), not the chaos runs' short ack waits.

`python -m parley_devtools.bench.e2e` prints them; `make bench` includes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]

from parley_devtools.bench.config_propagation import percentile
from parley_devtools.chaos.options import ROUTES
from parley_devtools.chaos.scenarios import first_send, running, settle_account, webhook_account
from parley_devtools.chaos.tally import row_for
from parley_devtools.load import BODY, LoadResult, run_client
from parley_devtools.platform import LOOPBACK_HOSTS, Options, Platform
from parley_devtools.processes import Child, wait_all_ready
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually

LATENCY_SECONDS = {500: 8.0, 1000: 6.0, 2000: 5.0}
BURST = 20_000
PATCHES = 60
BUDGET_S = 180.0  # a hard stop; the suite takes ~60 s


def bench_options() -> Options:
    """Every service with its defaults: only loopback listeners and non-binding routes set."""
    return Options(routes=ROUTES, settings=dict(LOOPBACK_HOSTS))


class RssSampler:
    """Peak RSS of each service process, sampled every 0.2 s (restarted processes included)."""

    def __init__(self, platform: Platform) -> None:
        """Not sampling until `start`."""
        self.platform = platform
        self.peak: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            for name, pid in self.platform.pids().items():
                try:
                    rss = psutil.Process(pid).memory_info().rss / 1e6
                except psutil.Error:
                    continue
                self.peak[name] = max(self.peak.get(name, 0.0), rss)
            await asyncio.sleep(0.2)

    def start(self) -> None:
        """Begin sampling."""
        self._task = asyncio.create_task(self._loop())

    def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()


async def wait_finals(receiver: Receiver, load: LoadResult, budget_s: float) -> None:
    """Wait until every accepted message's final event reached the receiver (or the budget:
    what never arrives is counted as lost)."""
    with contextlib.suppress(AssertionError):
        await eventually(lambda: all(m in receiver.finals for m in load.ids), budget_s, step_s=0.05)


async def latency(
    p: Platform, receiver: Receiver, key: str, rate: int, seconds: float
) -> tuple[float, float, set[str]]:
    """(p50, p99) in ms of submit -> final webhook at `rate` msg/s offered for `seconds`, and
    the accepted ids."""
    load = await run_client(
        p.routing, key, int(rate * seconds), rate=rate, connections=64, budget_s=seconds * 3
    )
    await wait_finals(receiver, load, 20)
    values = [
        (receiver.finals[m] - at) * 1000 for m, at, _ in load.accepted if m in receiver.finals
    ]
    if not values:
        return float("nan"), float("nan"), load.ids
    return percentile(values, 50), percentile(values, 99), load.ids


async def burst(receiver: Receiver, key: str, bases: list[str]) -> tuple[LoadResult, float]:
    """`BURST` messages as fast as they go, split over the routing-svc listeners `bases`; (the
    load, accepted messages end to end per second)."""
    share, connections = BURST // len(bases), 64 // len(bases)
    loads = await asyncio.gather(
        *(run_client(b, key, share, rate=0, connections=connections, budget_s=40) for b in bases)
    )
    load = LoadResult([a for one in loads for a in one.accepted])
    await wait_finals(receiver, load, 30)
    done = [receiver.finals[m] for m in load.ids if m in receiver.finals]
    if not done:
        return load, 0.0
    first = min(at for _, at, _ in load.accepted)
    return load, len(done) / max(max(done) - first, 1e-9)


async def config_propagation(p: Platform, patches: int = PATCHES) -> list[float]:
    """Per PATCH of the sender allowlist: ms from its 200 to the first accepted send with it."""
    admin = p.admin
    account_id, key = await admin.create_account(allowlist=["S0000"])
    await admin.register_senders(
        admin.enterprise_of[account_id], [f"S{i:04d}" for i in range(patches + 1)]
    )
    out: list[float] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as session:
        url = p.routing + "/v1/messages"
        for i in range(1, patches + 1):
            sender = f"S{i:04d}"
            patch = {"channel_settings": {"sms": {"sender_ids": {"allowlist": [sender]}}}}
            status, body = await admin.call("PATCH", f"/v1/accounts/{account_id}", patch)
            if status != 200:
                raise RuntimeError(f"PATCH: {status} {body}")
            answered = time.perf_counter()
            deadline = answered + 5
            while time.perf_counter() < deadline:
                async with session.post(url, json={**BODY, "sender": sender}, headers=headers) as r:
                    await r.read()
                    if r.status == 202:
                        out.append((time.perf_counter() - answered) * 1000)
                        break
    return out


async def measure(p: Platform, receiver: Receiver) -> dict[str, float]:
    """Every phase on a running platform."""
    account_id, key = await webhook_account(p, receiver)
    accepted = {await first_send(p.routing, key)}
    warm = await run_client(p.routing, key, 1000, rate=1000, connections=32)
    accepted |= warm.ids
    await wait_finals(receiver, warm, 20)
    results: dict[str, float] = {}
    for rate, seconds in LATENCY_SECONDS.items():
        p50, p99, ids = await latency(p, receiver, key, rate, seconds)
        accepted |= ids
        results[f"p50_ms_at_{rate}"] = round(p50, 2)
        results[f"p99_ms_at_{rate}"] = round(p99, 2)
    load, per_s = await burst(receiver, key, [p.routing])
    accepted |= load.ids
    results["e2e_msgs_per_s"] = round(per_s, 1)
    results["e2e_accepted"] = float(len(load.ids))
    propagation = await config_propagation(p)
    results["config_propagation_p50_ms"] = round(percentile(propagation, 50), 2)
    results["config_propagation_p99_ms"] = round(percentile(propagation, 99), 2)
    # every phase of the webhook account, counted by id from STATUS and at the receiver
    view = await settle_account(p, account_id, accepted, receiver, budget_s=30)
    row = row_for("e2e", accepted, view, receiver, [])
    results["e2e_lost"] = float(row.lost)
    results["e2e_duplicates"] = float(row.duplicates)
    return results


async def replica(p: Platform, name: str) -> Child:
    """One more process of service `name`, as the platform runs the first, once ready."""
    (spec,) = [s for s in p.specs if s.name == name]
    child = p.spawn(spec.name, spec.command, port_env=spec.port_env, label=f"{name}-2")
    await wait_all_ready([child])
    return child


async def replicated() -> dict[str, float]:
    """The burst on two routing-svc and two webhook-svc processes, counted by id."""
    async with running(bench_options()) as (p, receiver):
        second = await replica(p, "routing-svc")
        await replica(p, "webhook-svc")
        account_id, key = await webhook_account(p, receiver)
        accepted = {await first_send(p.routing, key), await first_send(second.base, key)}
        load, per_s = await burst(receiver, key, [p.routing, second.base])
        accepted |= load.ids
        view = await settle_account(p, account_id, accepted, receiver, budget_s=30)
        row = row_for("e2e_2x2", accepted, view, receiver, [])
    return {
        "e2e_msgs_per_s_2x2": round(per_s, 1),
        "e2e_lost_2x2": float(row.lost),
        "e2e_duplicates_2x2": float(row.duplicates),
    }


async def run() -> dict[str, float]:
    """Start the platform, measure, stop everything; then the replicated run; a flat dict of
    figures."""
    async with running(bench_options()) as (p, receiver):
        sampler = RssSampler(p)
        sampler.start()
        try:
            results = await asyncio.wait_for(measure(p, receiver), BUDGET_S)
        finally:
            sampler.stop()
    for name, peak in sampler.peak.items():
        results[f"rss_mb_{name.replace('-', '_')}"] = round(peak, 1)
    results["max_rss_mb"] = round(max(sampler.peak.values(), default=0.0), 1)
    results.update(await asyncio.wait_for(replicated(), BUDGET_S))
    return results


def main() -> None:
    """Print the figures as JSON."""
    figures: Any = asyncio.run(run())
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
