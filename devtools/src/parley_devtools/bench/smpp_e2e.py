"""SMS over SMPP end to end: HTTP submit -> routing-svc -> SMPP (one bind, window 10) -> the
SMSC simulator answering at once with a receipt -> `delivered` -> webhook-svc -> a batched
webhook, on the whole platform (NATS with authentication, PostgreSQL, three services).

- `smpp_e2e_msgs_per_s`: a burst of `BURST` messages as fast as 64 connections go; accepted
  messages / (last final webhook - first submit); target >= 1,500 with 0 lost;
- `smpp_submit_per_s`: `submit_sm` PDUs the SMSC took per second over the same burst;
- `smpp_e2e_lost`: accepted messages whose final event never reached the receiver.

The simulator runs in this process on smpp34's server, without the test relay (which records
every PDU and costs about a quarter of the throughput).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from parley_devtools.bench.e2e import wait_finals
from parley_devtools.chaos.load import run_client
from parley_devtools.chaos.platform import Platform
from parley_devtools.chaos.receiver import Receiver
from parley_devtools.chaos.scenarios import first_send
from parley_devtools.chaos.smpp import smpp_options
from parley_devtools.smsc import Smsc

BURST = 10_000
BUDGET_S = 150.0


class SubmitClock:
    """When the SMSC took its first and last `submit_sm` (sampled by count)."""

    def __init__(self, smsc: Smsc) -> None:
        """Watch `smsc`'s answer counter."""
        self.smsc = smsc
        self.first: float | None = None
        self.last = 0.0
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _loop(self, start_count: int) -> None:
        while True:
            taken = sum(self.smsc.answers.values()) - start_count
            if taken > 0 and self.first is None:
                self.first = time.monotonic()
            if taken > self.count:
                self.count, self.last = taken, time.monotonic()
            await asyncio.sleep(0.005)

    def start(self) -> None:
        """Begin counting from now."""
        self._task = asyncio.create_task(self._loop(sum(self.smsc.answers.values())))

    def stop(self) -> float:
        """Stop; submits per second between the first and the last."""
        if self._task is not None:
            self._task.cancel()
        if self.first is None or self.last <= self.first:
            return 0.0
        return self.count / (self.last - self.first)


async def measure(p: Platform, receiver: Receiver, smsc: Smsc) -> dict[str, float]:
    """Warm up, then the burst."""
    _, key = await p.create_account(receiver.url)
    await first_send(p.routing_base, key)
    warm = await run_client(p.routing_base, key, 500, rate=500, connections=32)
    await wait_finals(receiver, warm, 30)
    clock = SubmitClock(smsc)
    clock.start()
    load = await run_client(p.routing_base, key, BURST, rate=0, connections=64, budget_s=60)
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
    """Start the SMSC simulator and the platform, measure, stop everything."""
    smsc = Smsc(record=False, relay=False)
    await smsc.start()
    p = Platform(smpp_options(smsc))
    receiver = Receiver()
    await receiver.start()
    try:
        await p.start()
        return await asyncio.wait_for(measure(p, receiver, smsc), BUDGET_S)
    finally:
        await receiver.stop()
        p.close()
        await smsc.close()


def main() -> None:
    """Print the figures as JSON."""
    figures: Any = asyncio.run(run())
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
