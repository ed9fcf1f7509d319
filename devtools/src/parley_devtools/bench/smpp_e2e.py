"""SMS over SMPP end to end: HTTP submit -> routing-svc -> SMPP (one bind, window 10) -> the
SMSC simulator answering at once with a receipt -> `delivered` -> webhook-svc -> a batched
webhook, on the whole platform (NATS with authentication, PostgreSQL, three services).

- `smpp_e2e_msgs_per_s`: a burst of `BURST` messages as fast as 64 connections go; accepted
  messages / (last final webhook - first submit); target >= 1,500 with 0 lost;
- `smpp_submit_per_s`: `submit_sm` PDUs the SMSC took per second over the same burst;
- `smpp_e2e_lost`: accepted messages whose final event never reached the receiver.

The simulator runs in a process of its own (`smpp_session --smsc PORT --direct`: smpp34's
server without the test relay). In the benchmark's own process it handled one event per turn
of an event loop busy with the webhook receiver, and capped the pipeline near 330/s: a limit of
the test peer, not of Parley's ESME.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import aiohttp

from parley_devtools.bench.e2e import wait_finals
from parley_devtools.bench.smpp_session import wait_listening
from parley_devtools.chaos.options import ROUTE, smpp_options
from parley_devtools.chaos.scenarios import first_send, running, webhook_account
from parley_devtools.embedded import free_port, stop_process
from parley_devtools.load import run_client
from parley_devtools.platform import Platform
from parley_devtools.receiver import Receiver
from parley_devtools.smsc import Smsc

BURST = 10_000
BUDGET_S = 150.0


SCRAPE_S = 0.25
"""How often `SubmitClock` reads `/metrics`. Each read costs routing-svc ~2 ms of its event
loop on a slow machine: at 10 a second the benchmark itself took 2.7% of the loop it measures
(py-spy). Every 0.25 s bounds the error of the rate to about 0.5 s over a burst of 15 s."""


class SubmitClock:
    """When routing-svc's SMPP route had its first and last `submit_sm` accepted during the
    burst (its `parley_smpp_responses_total{status="0x00"}`, sampled every `SCRAPE_S`)."""

    def __init__(self, metrics_url: str) -> None:
        """Watch that `/metrics`."""
        self.url = metrics_url
        self.first: float | None = None
        self.last = 0.0
        self.count = 0.0
        self._start = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _accepted(self, session: aiohttp.ClientSession) -> float:
        async with session.get(self.url) as response:
            text = await response.text()
        wanted = f'parley_smpp_responses_total{{route="{ROUTE}",status="0x00"}} '
        for line in text.splitlines():
            if line.startswith(wanted):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    async def _loop(self) -> None:
        async with aiohttp.ClientSession() as session:
            self._start = await self._accepted(session)
            while True:
                taken = await self._accepted(session) - self._start
                if taken > 0 and self.first is None:
                    self.first = time.monotonic()
                if taken > self.count:
                    self.count, self.last = taken, time.monotonic()
                await asyncio.sleep(SCRAPE_S)

    async def start(self) -> None:
        """Begin counting from now."""
        self._task = asyncio.create_task(self._loop())
        await asyncio.sleep(0.1)

    def stop(self) -> float:
        """Stop; submits accepted per second between the first and the last."""
        if self._task is not None:
            self._task.cancel()
        if self.first is None or self.last <= self.first:
            return 0.0
        return self.count / (self.last - self.first)


async def measure(p: Platform, receiver: Receiver) -> dict[str, float]:
    """Warm up, then the burst."""
    _, key = await webhook_account(p, receiver)
    await first_send(p.routing, key)
    warm = await run_client(p.routing, key, 500, rate=500, connections=32)
    await wait_finals(receiver, warm, 30)
    clock = SubmitClock(p.routing + "/metrics")
    await clock.start()
    load = await run_client(p.routing, key, BURST, rate=0, connections=64, budget_s=60)
    await wait_finals(receiver, load, 60)
    submits = clock.stop()
    done = [receiver.finals[m] for m in load.ids if m in receiver.finals]
    first = min((at for _, at, _ in load.accepted), default=0.0)
    per_s = len(done) / max(max(done) - first, 1e-9) if done else 0.0
    return {
        "smpp_e2e_msgs_per_s": round(per_s, 1),
        "smpp_e2e_accepted": float(len(load.ids)),
        "smpp_e2e_lost": float(len(load.ids) - len(done)),
        "smpp_submit_per_s": round(submits, 1),
    }


async def run() -> dict[str, float]:
    """Start the SMSC simulator (its own process) and the platform, measure, stop everything."""
    port = free_port()
    smsc = Smsc(record=False, relay=False, port=port)  # describes the peer; runs elsewhere
    command = [sys.executable, "-m", "parley_devtools.bench.smpp_session", "--smsc", str(port)]
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
        [*command, "--direct"], stdout=subprocess.DEVNULL
    )
    try:
        await asyncio.to_thread(wait_listening, port, proc)
        async with running(smpp_options(smsc)) as (p, receiver):
            return await asyncio.wait_for(measure(p, receiver), BUDGET_S)
    finally:
        stop_process(proc)


def main() -> None:
    """Print the figures as JSON."""
    figures: Any = asyncio.run(run())
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
