"""Flame graphs of each service under end-to-end load (py-spy), and where the CPU goes.

`python -m parley_devtools.bench.profile [--rate 2500] [--seconds 20] [--out docs/perf]` starts
the whole platform as the e2e benchmark does, drives a steady load through the messaging API
to a batched webhook, and meanwhile records every service with `py-spy record` (one SVG per
service in `--out`) and samples each process's CPU (services, nats-server, PostgreSQL, the
load client). It prints the CPU share table; the flame graphs show the hot paths.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from parley_devtools.bench.e2e import bench_options, wait_finals
from parley_devtools.chaos.scenarios import first_send, running, webhook_account
from parley_devtools.load import run_client
from parley_devtools.platform import Platform

PY_SPY = Path(sys.executable).parent / "py-spy"


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


async def profile(
    rate: int, seconds: float, out: Path, fmt: str = "flamegraph", spy: bool = True
) -> dict[str, Any]:
    """Run the load with every service under py-spy (unless not `spy`); the CPU share per
    process while the load runs, and the CPU time each spent per message until every message's
    final event reached the receiver (a figure a busy machine changes far less than a rate)."""
    recorders: list[subprocess.Popen[bytes]] = []
    async with running(bench_options()) as (p, receiver):
        try:
            _, key = await webhook_account(p, receiver)
            await first_send(p.routing, key)
            warm = await run_client(p.routing, key, 2000, rate=1000, connections=32)
            await wait_finals(receiver, warm, 20)
            recorders = spy_on(p.pids(), seconds, out, fmt) if spy else []
            pids = _pids(p)
            before, started = _cpu_of(pids), time.monotonic()
            me = psutil.Process(os.getpid()).cpu_times()
            count = int(rate * seconds)
            load = await run_client(
                p.routing, key, count, rate=rate, connections=64, budget_s=seconds * 3
            )
            after, elapsed = _cpu_of(pids), time.monotonic() - started
            mine = psutil.Process(os.getpid()).cpu_times()
            await wait_finals(receiver, load, 60)
            settled = _cpu_of(pids)
        finally:
            for recorder in recorders:
                try:
                    recorder.wait(timeout=seconds + 30)
                except subprocess.TimeoutExpired:
                    recorder.kill()
    share = {name: round((after[name] - before.get(name, 0.0)) / elapsed, 3) for name in after}
    share["load client + receiver"] = round(
        (mine.user + mine.system - me.user - me.system) / elapsed, 3
    )
    done = sum(1 for m in load.ids if m in receiver.finals)
    per_message = {
        name: round((settled[name] - before.get(name, 0.0)) * 1e6 / max(done, 1))
        for name in settled
    }
    return {
        "offered_per_s": rate,
        "accepted": len(load.ids),
        "final_at_receiver": done,
        "cpu_cores_per_process": share,
        "cpu_us_per_message": per_message,
    }


def main() -> None:
    """Parse the options, profile, print the CPU table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=2500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("docs/perf"))
    parser.add_argument("--format", choices=["flamegraph", "raw"], default="flamegraph")
    parser.add_argument("--no-spy", action="store_true", help="only the CPU figures")
    args = parser.parse_args()
    result = asyncio.run(profile(args.rate, args.seconds, args.out, args.format, not args.no_spy))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
