"""Stopping a background task without waiting on it forever.

`task.cancel(); await task` hangs when the task does not end on that cancel. On Python 3.11 a
cancel can be swallowed (`asyncio.wait_for`, used throughout nats-py, may return the inner
result when it completes at the same moment as the cancel), and a `while True` fetch loop that
missed it simply goes on: a service's shutdown then waits forever on an idle event loop.
`cancel_and_wait` cancels again every `RECANCEL_SECONDS` until the task ends, and gives up
(logged) after a bound, so a shutdown always finishes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger("parley_runtime.tasks")

STOP_WAIT_SECONDS = 5.0
RECANCEL_SECONDS = 0.5


async def cancel_and_wait(
    task: asyncio.Task[Any] | None,
    within: float = STOP_WAIT_SECONDS,
    *,
    recancel: float = RECANCEL_SECONDS,
) -> bool:
    """Cancel `task` (again while it runs) and wait up to `within` s; whether it ended.

    Its outcome (a cancel, an error) is consumed, never raised here. A task still running at
    the bound is logged (`task_did_not_stop`, with its name) and left to end with the process.
    """
    if task is None:
        return True
    deadline = asyncio.get_running_loop().time() + within
    while not task.done():
        task.cancel()
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            log.warning("task_did_not_stop", task=task.get_name())
            return False
        await asyncio.wait({task}, timeout=min(recancel, left))
    if not task.cancelled():
        task.exception()  # retrieved: an error at shutdown is not re-raised or reported twice
    return True
