"""Flame graphs of each service under end-to-end load (py-spy), and where the CPU goes.

`python -m parley_devtools.bench.profile [--rate 2500] [--seconds 20] [--out docs/perf]` starts
the whole platform as the e2e benchmark does, drives a steady load through the messaging API
to a batched webhook, and meanwhile records every service with `py-spy record` (one SVG per
service in `--out`) and samples each process's CPU (services, nats-server, PostgreSQL, the
load client and this process's receiver). It prints the CPU share table; the flame graphs show
the hot paths.

`--no-spy --rate 200 500 1000 2000` measures several offered rates one after the other on the
same platform (py-spy records one rate only) and prints one figure set per rate: what a message
costs each process, and the whole machine, as the rate changes. The machine's figures come
from `/proc/stat` over the same window (every process on the machine, not only ours):
`machine_busy_share` is the busy share of its CPU time (steal, the hypervisor's, left out) and
`machine_cpu_us_per_message` the busy CPU time per final message. `webhook_requests_per_message`
counts the webhook requests the receiver got per final message (each message makes two
subscribed events, `sent` and `delivered`: 2.0 is a request per event, lower is batching).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from parley_devtools.bench.e2e import bench_options, wait_finals
from parley_devtools.chaos.scenarios import first_send, running, webhook_account
from parley_devtools.load import run_client
from parley_devtools.platform import Platform
from parley_devtools.receiver import Receiver

PY_SPY = Path(sys.executable).parent / "py-spy"
CLIENT = "load client + receiver"
PROC_STAT = Path("/proc/stat")
PAUSE_S = 1.0
"""Quiet time between two rates, so one window's tail is not the next one's start."""


@dataclass(frozen=True)
class MachineTimes:
    """The whole machine's CPU time since boot, in seconds over every CPU."""

    busy: float
    idle: float

    @classmethod
    def parse(cls, stat: str, ticks_per_s: float) -> MachineTimes:
        """From `/proc/stat`'s text: its first `cpu` line (user nice system idle iowait irq
        softirq steal ...; guest time is already inside user). Busy is user, nice, system, irq
        and softirq; idle is idle and iowait; steal (another guest's) is neither."""
        fields = stat.split("\n", 1)[0].split()
        if not fields or fields[0] != "cpu":
            raise ValueError("not /proc/stat: its first line is not the `cpu` total")
        user, nice, system, idle, iowait, irq, softirq = (float(f) for f in fields[1:8])
        return cls(
            busy=(user + nice + system + irq + softirq) / ticks_per_s,
            idle=(idle + iowait) / ticks_per_s,
        )

    @classmethod
    def now(cls) -> MachineTimes:
        """The current figures (Linux)."""
        return cls.parse(PROC_STAT.read_text(), float(os.sysconf("SC_CLK_TCK")))


def machine_figures(before: MachineTimes, after: MachineTimes, messages: int) -> dict[str, float]:
    """Busy share of the machine between two readings, and its busy CPU time per message."""
    busy, idle = after.busy - before.busy, after.idle - before.idle
    return {
        "machine_busy_share": round(busy / (busy + idle), 3) if busy + idle > 0 else float("nan"),
        "machine_cpu_us_per_message": round(busy * 1e6 / messages) if messages else float("nan"),
    }


def own_cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the load client runs
    as a child process and is waited for: its time counts once it is done)."""
    times = psutil.Process(os.getpid()).cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


def _cpu_of(pids: dict[str, int]) -> dict[str, float]:
    times: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            cpu = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        times[name] = cpu.user + cpu.system
    return times


def _pids(p: Platform) -> dict[str, int]:
    pids = dict(p.pids())
    for index, node in enumerate(p.nodes):
        if node.proc is not None:
            pids[f"nats-server-{index}"] = node.proc.pid
    pg = p.pg.pid if p.pg is not None else None
    if pg is not None:
        pids["postgres"] = pg
    return pids


def spy_on(pids: dict[str, int], seconds: float, out: Path, fmt: str) -> list[Any]:
    """Start `py-spy record` on each process (SVG flame graphs, or raw folded stacks)."""
    out.mkdir(parents=True, exist_ok=True)
    spies = []
    for name, pid in pids.items():
        path = out / (f"{name}.svg" if fmt == "flamegraph" else f"{name}.folded")
        argv = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(int(seconds))]
        argv += ["--rate", "200", "--nonblocking", "--format", fmt, "--output", str(path)]
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return spies


async def window(
    p: Platform, receiver: Receiver, key: str, rate: int, seconds: float
) -> dict[str, Any]:
    """One rate for `seconds`: the CPU share of each process while the load runs, and the CPU
    time each spent (and the machine's) per message until every message's final event reached
    the receiver (a figure a busy machine changes far less than a rate)."""
    pids = _pids(p)
    requests_before = len(receiver.requests)
    before, machine_before, mine_before = _cpu_of(pids), MachineTimes.now(), own_cpu()
    started = time.monotonic()
    load = await run_client(
        p.routing, key, int(rate * seconds), rate=rate, connections=64, budget_s=seconds * 3
    )
    after, elapsed, mine = _cpu_of(pids), time.monotonic() - started, own_cpu()
    await wait_finals(receiver, load, 60)
    settled, machine_after, mine_settled = _cpu_of(pids), MachineTimes.now(), own_cpu()
    share = {name: round((after[name] - before.get(name, 0.0)) / elapsed, 3) for name in after}
    share[CLIENT] = round((mine - mine_before) / elapsed, 3)
    done = sum(1 for m in load.ids if m in receiver.finals)
    spent = {name: settled[name] - before.get(name, 0.0) for name in settled}
    spent[CLIENT] = mine_settled - mine_before
    return {
        "offered_per_s": rate,
        "accepted": len(load.ids),
        "final_at_receiver": done,
        "cpu_cores_per_process": share,
        "cpu_us_per_message": {name: round(s * 1e6 / max(done, 1)) for name, s in spent.items()},
        "webhook_requests_per_message": round(
            (len(receiver.requests) - requests_before) / max(done, 1), 2
        ),
        **machine_figures(machine_before, machine_after, done),
    }


async def profile(
    rates: Sequence[int], seconds: float, out: Path, fmt: str = "flamegraph", spy: bool = True
) -> list[dict[str, Any]]:
    """Each rate's `window` in turn on one platform, every service under py-spy during the
    first (unless not `spy`)."""
    recorders: list[subprocess.Popen[bytes]] = []
    results: list[dict[str, Any]] = []
    async with running(bench_options()) as (p, receiver):
        try:
            _, key = await webhook_account(p, receiver)
            await first_send(p.routing, key)
            warm = await run_client(p.routing, key, 2000, rate=1000, connections=32)
            await wait_finals(receiver, warm, 20)
            recorders = spy_on(p.pids(), seconds, out, fmt) if spy else []
            for index, rate in enumerate(rates):
                if index:
                    await asyncio.sleep(PAUSE_S)
                results.append(await window(p, receiver, key, rate, seconds))
        finally:
            for recorder in recorders:
                try:
                    recorder.wait(timeout=seconds + 30)
                except subprocess.TimeoutExpired:
                    recorder.kill()
    return results


def main() -> None:
    """Parse the options, profile, print the CPU figures (one object, or a list for several
    rates)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, nargs="+", default=[2500], help="msg/s offered")
    parser.add_argument("--seconds", type=float, default=20.0, help="per rate")
    parser.add_argument("--out", type=Path, default=Path("docs/perf"))
    parser.add_argument("--format", choices=["flamegraph", "raw"], default="flamegraph")
    parser.add_argument("--no-spy", action="store_true", help="only the CPU figures")
    args = parser.parse_args()
    if len(args.rate) > 1 and not args.no_spy:
        parser.error("--rate: py-spy records one rate; give one rate, or add --no-spy")
    results = asyncio.run(profile(args.rate, args.seconds, args.out, args.format, not args.no_spy))
    print(json.dumps(results[0] if len(results) == 1 else results, indent=2))


if __name__ == "__main__":
    main()
