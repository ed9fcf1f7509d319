"""`make bench`: every benchmark (each bounded in count and time), one table, and the same
figures in bench/results/latest.json (`{"machine": {...}, "figures": {...}}`).

The machine's ceilings are measured in the same run, and each platform figure is printed beside
the ceiling it is bounded by, with the ratio; then the targets of docs/performance.md with
whether this run met them. A run of every suite also writes that table into
docs/performance.md (between its `bench:` markers; `--no-doc` does not).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parley_devtools.bench import (
    ceilings,
    config_propagation,
    e2e,
    faststream_cost,
    floor,
    nats_auth,
    priority,
    report,
    routing_throughput,
    smpp_e2e,
    smpp_session,
    templates,
    webhook_throughput,
)

Suite = Callable[[], Coroutine[Any, Any, dict[str, float]]]


def suites(patches: int) -> dict[str, Suite]:
    """Every benchmark, by name, in the order they run."""
    return {
        "ceilings": ceilings.run,
        "config": lambda: config_propagation.run(patches),
        "routing": routing_throughput.run,
        "floor": floor.run,
        "priority": priority.run,
        "webhook": webhook_throughput.run,
        "e2e": e2e.run,
        "templates": templates.run,
        "smpp_session": smpp_session.run,
        "smpp_e2e": smpp_e2e.run,
        "nats_auth": nats_auth.run,
        "faststream": faststream_cost.run,
    }


def main() -> None:
    """Run the chosen benchmarks and report."""
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.bench")
    parser.add_argument("--only", nargs="*", help="names of suites to run (default: all)")
    parser.add_argument("--patches", type=int, default=1000)
    parser.add_argument("--out", default="bench/results/latest.json")
    parser.add_argument("--doc", default="docs/performance.md", help="where the table goes")
    parser.add_argument("--no-doc", action="store_true", help="leave --doc as it is")
    args = parser.parse_args()
    host = report.machine()
    print("[bench] machine: " + ", ".join(f"{k} {v}" for k, v in host.items()), flush=True)
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
    print(report.table(results))
    print()
    print(report.verdicts(results))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": host, "figures": results}, indent=2) + "\n")
    print(f"written to {out}")
    if not args.only and not args.no_doc:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        report.write_section(Path(args.doc), report.markdown(results, host, when))
        print(f"table written to {args.doc}")


if __name__ == "__main__":
    main()
