"""Run every benchmark, print one table, write bench/results/latest.json (a flat object)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from parley_devtools.bench import config_propagation


def main() -> None:
    """Run the benchmarks (each bounded in count and time)."""
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.bench")
    parser.add_argument("--patches", type=int, default=1000)
    parser.add_argument("--out", default="bench/results/latest.json")
    args = parser.parse_args()
    results: dict[str, float] = {}
    results.update(asyncio.run(config_propagation.run(args.patches)))
    width = max(len(k) for k in results)
    print(f"{'figure':<{width}}  value")
    for key, value in results.items():
        print(f"{key:<{width}}  {value:,.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
