"""Micro-benchmark: `submit_sm` per second over one SMPP bind (window 10) of routing-svc's
session (`routing_svc.adapters.providers.smpp`), against the SMSC simulator answering at once
and sending a receipt (by TLV) for every message.

The simulator runs in its own process (`--smsc PORT`), so the figure is our session's, not
the simulator's and ours sharing one event loop. Figures:

- `smpp_session_submit_per_s`: single-part submits accepted per second (`COUNT` of them,
  `CONCURRENCY` callers so the window of 10 stays full), the ESME straight on smpp34's server;
- `smpp_session_receipts_per_s`: from the first submit to the last receipt handed to
  `on_deliver` (and acknowledged);
- `smpp_session_lost`: submits not accepted or receipts not received (must be 0);
- the same three with `_relayed`: through the simulator's recording relay (as the tests run),
  which adds two Python hops per PDU.

Bounded in count and time; loopback only. `python -m parley_devtools.bench.smpp_session`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time

from parley_devtools.embedded import free_port, stop_process

COUNT = 5_000
CONCURRENCY = 20
WINDOW = 10
BUDGET_S = 60.0


async def _serve_smsc(port: int, relay: bool) -> None:
    """The simulator's process: serve on `port` until killed."""
    from parley_devtools.smsc import Smsc

    smsc = Smsc(record=False, port=port, relay=relay)
    await smsc.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


def wait_listening(port: int, proc: subprocess.Popen[bytes], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the SMSC simulator exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the SMSC simulator did not start")


async def _measure(port: int, suffix: str) -> dict[str, float]:
    from routing_svc.adapters.providers.smpp import (
        BindConfig,
        Delivery,
        SmppBind,
        submit_parts,
    )

    receipts = 0
    all_in = asyncio.Event()

    async def on_deliver(delivery: Delivery) -> None:
        nonlocal receipts
        receipts += 1
        if receipts >= COUNT:
            all_in.set()

    bind = SmppBind(
        BindConfig("127.0.0.1", port, "parley", "secret", window=WINDOW), on_deliver, name="bench"
    )
    bind.start()
    if not await bind.wait_up(10.0):
        raise RuntimeError(f"no bind: {bind.last_error}")
    parts = submit_parts(
        "Parley", "+919800000001", "Your code is 4821", ref=1, validity_seconds=300
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUDGET_S
    issued = accepted = 0

    async def caller() -> None:
        nonlocal issued, accepted
        while issued < COUNT and loop.time() < deadline:
            issued += 1
            [outcome] = await bind.submit(parts, wait_s=10.0)
            accepted += outcome.accepted

    began = loop.time()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    submitted_in = loop.time() - began
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_in.wait(), max(0.1, deadline - loop.time()))
    receipts_in = loop.time() - began
    await bind.close()
    return {
        f"smpp_session_submit_per_s{suffix}": round(accepted / submitted_in, 1),
        f"smpp_session_receipts_per_s{suffix}": round(receipts / receipts_in, 1),
        f"smpp_session_lost{suffix}": float(COUNT - min(accepted, receipts)),
    }


async def _run_against(relay: bool) -> dict[str, float]:
    port = free_port()
    command = [sys.executable, "-m", "parley_devtools.bench.smpp_session", "--smsc", str(port)]
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
        [*command, *([] if relay else ["--direct"])], stdout=subprocess.DEVNULL
    )
    try:
        await asyncio.to_thread(wait_listening, port, proc)
        return await _measure(port, "_relayed" if relay else "")
    finally:
        stop_process(proc)


async def run() -> dict[str, float]:
    """Both figures: straight to smpp34's server, and through the test relay."""
    return await _run_against(relay=False) | await _run_against(relay=True)


def main() -> None:
    """Print the figures as JSON (or, with --smsc PORT, be the simulator's process)."""
    parser = argparse.ArgumentParser(prog="python -m parley_devtools.bench.smpp_session")
    parser.add_argument("--smsc", type=int, help="serve the SMSC simulator on this port")
    parser.add_argument("--direct", action="store_true", help="the simulator without its relay")
    args = parser.parse_args()
    if args.smsc:
        asyncio.run(_serve_smsc(args.smsc, relay=not args.direct))
        return
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
