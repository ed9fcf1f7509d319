"""`make chaos`: the fault-tolerance scenarios on loopback, one summary table.

Exit status 1 when anything accepted was lost (or a scenario failed to run).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback

from parley_devtools.chaos.options import options
from parley_devtools.chaos.scenarios import (
    cluster_node,
    kills,
    overload,
    postgres_restart,
    receiver_outage,
    restarts,
    running,
    running_over_smpp,
    smsc_drops,
)
from parley_devtools.chaos.tally import Row, table

ALL = ("a", "b", "c", "d", "e", "f", "g")


def retry_schedule(outage_s: float) -> str:
    """Three retries of a quarter of the outage each: batches sent while the receiver is down
    run out of retries before it comes back, so they are dead-lettered and must be replayed."""
    step = max(1, round(outage_s / 4))
    return f"{step},{step},{step}"


def report(rows: list[Row], row: Row) -> None:
    """Keep a scenario's row and print it at once."""
    rows.append(row)
    print(table([row]), flush=True)


async def single_node(args: argparse.Namespace, rows: list[Row]) -> None:
    """Scenarios a, c, d, f and g on one platform with a single nats-server."""
    chosen = [s for s in ("a", "c", "d", "f", "g") if s in args.only]
    if not chosen:
        return
    async with running(options(retry_schedule(args.outage_seconds))) as (p, receiver):
        if "a" in chosen:
            report(rows, await kills(p, receiver, args.messages, args.rate))
        if "c" in chosen:
            report(rows, await postgres_restart(p, args.patch_seconds))
        if "d" in chosen:
            count = int(min(args.outage_seconds, 10) * args.rate / 2)
            outage = await receiver_outage(p, receiver, count, args.rate / 2, args.outage_seconds)
            report(rows, outage)
        if "f" in chosen:
            flood = await overload(p, receiver, rate=args.flood_rate, seconds=args.flood_seconds)
            report(rows, flood)
        if "g" in chosen:
            report(rows, await restarts(p, receiver, args.messages, args.rate))


async def on_cluster(args: argparse.Namespace, rows: list[Row]) -> None:
    """Scenario b on a 3-node cluster with R3 streams."""
    if "b" in args.only:
        async with running(options(cluster=True)) as (p, receiver):
            report(rows, await cluster_node(p, receiver, args.cluster_messages, args.rate))


async def over_smpp(args: argparse.Namespace, rows: list[Row]) -> None:
    """Scenarios e and g on a platform whose SMS goes over SMPP to the SMSC simulator."""
    if "e" in args.only or "g" in args.only:
        async with running_over_smpp() as (p, receiver, smsc):
            if "e" in args.only:
                report(rows, await smsc_drops(p, receiver, smsc, args.smpp_messages, args.rate))
            if "g" in args.only:
                report(rows, await restarts(p, receiver, args.smpp_messages, args.rate, smsc))


def main() -> None:
    """Run the chosen scenarios and print the summary table."""
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.chaos")
    parser.add_argument("--only", nargs="*", default=list(ALL), choices=ALL)
    parser.add_argument("--messages", type=int, default=10_000, help="scenarios a and g")
    parser.add_argument("--cluster-messages", type=int, default=3_000, help="scenario b")
    parser.add_argument("--smpp-messages", type=int, default=4_000, help="e; g over SMPP")
    parser.add_argument(
        "--flood-rate", type=float, default=6_000.0, help="scenario f: ~3x the sustainable rate"
    )
    parser.add_argument("--flood-seconds", type=float, default=30.0, help="scenario f")
    parser.add_argument("--rate", type=float, default=400.0, help="offered msg/s")
    parser.add_argument("--outage-seconds", type=float, default=60.0, help="scenario d")
    parser.add_argument("--patch-seconds", type=float, default=15.0, help="scenario c")
    args = parser.parse_args()
    rows: list[Row] = []
    started = time.monotonic()
    failed = False
    for part in (single_node, on_cluster, over_smpp):
        try:
            asyncio.run(part(args, rows))
        except Exception:  # noqa: BLE001 - reported; the next part runs; the exit status says it
            traceback.print_exc()
            failed = True
    print(f"\nchaos summary ({time.monotonic() - started:.0f} s)")
    print(table(rows))
    lost = sum(r.lost for r in rows)
    checks = any(r.failed_checks for r in rows)
    sys.exit(1 if failed or lost or checks else 0)


if __name__ == "__main__":
    main()
