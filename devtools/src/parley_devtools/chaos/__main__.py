"""`make chaos`: the fault-tolerance scenarios on loopback, one summary table.

Exit status 1 when anything accepted was lost (or a scenario failed to run).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback

from parley_devtools.chaos.platform import Options, Platform
from parley_devtools.chaos.receiver import Receiver
from parley_devtools.chaos.scenarios import (
    cluster_node,
    kills,
    postgres_restart,
    receiver_outage,
    smsc_drops,
)
from parley_devtools.chaos.smpp import smpp_options
from parley_devtools.chaos.tally import Row, table
from parley_devtools.smsc import Smsc

ALL = ("a", "b", "c", "d", "e")


def retry_schedule(outage_s: float) -> str:
    """Three retries of a quarter of the outage each: batches sent while the receiver is down
    run out of retries before it comes back, so they are dead-lettered and must be replayed."""
    step = max(1, round(outage_s / 4))
    return f"{step},{step},{step}"


async def single_node(args: argparse.Namespace, rows: list[Row]) -> None:
    """Scenarios a, c and d on one platform with a single nats-server."""
    chosen = [s for s in ("a", "c", "d") if s in args.only]
    if not chosen:
        return
    p = Platform(Options(retry_schedule=retry_schedule(args.outage_seconds)))
    receiver = Receiver()
    await receiver.start()
    try:
        await p.start()
        if "a" in chosen:
            rows.append(await kills(p, receiver, args.messages, args.rate))
            print(table(rows[-1:]), flush=True)
        if "c" in chosen:
            rows.append(await postgres_restart(p, args.patch_seconds))
            print(table(rows[-1:]), flush=True)
        if "d" in chosen:
            count = int(min(args.outage_seconds, 10) * args.rate / 2)
            rows.append(
                await receiver_outage(p, receiver, count, args.rate / 2, args.outage_seconds)
            )
            print(table(rows[-1:]), flush=True)
    finally:
        await receiver.stop()
        p.close()


async def on_cluster(args: argparse.Namespace, rows: list[Row]) -> None:
    """Scenario b on a 3-node cluster with R3 streams."""
    if "b" not in args.only:
        return
    p = Platform(Options(cluster=True))
    receiver = Receiver()
    await receiver.start()
    try:
        await p.start()
        rows.append(await cluster_node(p, receiver, args.cluster_messages, args.rate))
        print(table(rows[-1:]), flush=True)
    finally:
        await receiver.stop()
        p.close()


async def over_smpp(args: argparse.Namespace, rows: list[Row]) -> None:
    """Scenario e on a platform whose SMS goes over SMPP to the SMSC simulator."""
    if "e" not in args.only:
        return
    smsc = Smsc(record=False, deliver_patience_s=120)
    await smsc.start()
    p = Platform(smpp_options(smsc))
    receiver = Receiver()
    await receiver.start()
    try:
        await p.start()
        rows.append(await smsc_drops(p, receiver, smsc, args.smpp_messages, args.rate))
        print(table(rows[-1:]), flush=True)
    finally:
        await receiver.stop()
        p.close()
        await smsc.close()


def main() -> None:
    """Run the chosen scenarios and print the summary table."""
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.chaos")
    parser.add_argument("--only", nargs="*", default=list(ALL), choices=ALL)
    parser.add_argument("--messages", type=int, default=10_000, help="scenario a")
    parser.add_argument("--cluster-messages", type=int, default=3_000, help="scenario b")
    parser.add_argument("--smpp-messages", type=int, default=4_000, help="scenario e")
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
    sys.exit(1 if failed or lost else 0)


if __name__ == "__main__":
    main()
