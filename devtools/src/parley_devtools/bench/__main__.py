"""`make bench`: every benchmark (each bounded in count and time), one table, and the same
figures as a flat JSON object in bench/results/latest.json.

The machine's ceilings are measured in the same run, and each platform figure is printed beside
the ceiling it is bounded by, with the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from parley_devtools.bench import (
    ceilings,
    config_propagation,
    e2e,
    faststream_cost,
    nats_auth,
    priority,
    routing_throughput,
    smpp_e2e,
    smpp_session,
    templates,
    webhook_throughput,
)

# (figure, the ceiling it is compared with)
BESIDE = {
    "http_submit_per_s": "ceiling_aiohttp_post_per_s",
    "nats_submit_per_s": "ceiling_jetstream_publish_pipelined_per_s",
    "routing_delivered_per_s": "ceiling_jetstream_pull_ack_per_s",
    "e2e_msgs_per_s": "ceiling_jetstream_pull_ack_per_s",
    "webhook_events_per_s_batched": "ceiling_jetstream_pull_ack_per_s",
    "webhook_events_per_s_unbatched": "ceiling_aiohttp_post_per_s",
}

Suite = Callable[[], Coroutine[Any, Any, dict[str, float]]]


def suites(patches: int) -> dict[str, Suite]:
    """Every benchmark, by name, in the order they run."""
    return {
        "ceilings": ceilings.run,
        "config": lambda: config_propagation.run(patches),
        "routing": routing_throughput.run,
        "priority": priority.run,
        "webhook": webhook_throughput.run,
        "e2e": e2e.run,
        "templates": templates.run,
        "smpp_session": smpp_session.run,
        "smpp_e2e": smpp_e2e.run,
        "nats_auth": nats_auth.run,
        "faststream": faststream_cost.run,
    }


def table(results: dict[str, float]) -> str:
    """The figures, each beside its ceiling with the ratio."""
    width = max(len(k) for k in results)
    lines = [f"{'figure':<{width}}  {'value':>14}  {'ceiling':>14}  ratio"]
    for key, value in results.items():
        if key.startswith("ceiling_"):
            continue
        ceiling = results.get(BESIDE.get(key, ""), 0.0)
        extra = f"  {ceiling:>14,.1f}  {value / ceiling:5.2f}" if ceiling else ""
        lines.append(f"{key:<{width}}  {value:>14,.2f}{extra}")
    lines.append("")
    lines += [f"{k:<{width}}  {v:>14,.1f}" for k, v in results.items() if k.startswith("ceiling_")]
    return "\n".join(lines)


def main() -> None:
    """Run the chosen benchmarks and report."""
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.bench")
    parser.add_argument("--only", nargs="*", help="names of suites to run (default: all)")
    parser.add_argument("--patches", type=int, default=1000)
    parser.add_argument("--out", default="bench/results/latest.json")
    args = parser.parse_args()
    results: dict[str, float] = {}
    started = time.monotonic()
    for name, suite in suites(args.patches).items():
        if args.only and name not in args.only:
            continue
        began = time.monotonic()
        figures = asyncio.run(suite())
        results.update({k: v for k, v in figures.items() if k not in results or "ceiling" not in k})
        print(f"[bench] {name}: {time.monotonic() - began:.0f} s", flush=True)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    print(table(results))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
