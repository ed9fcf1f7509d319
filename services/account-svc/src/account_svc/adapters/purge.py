"""The purge of what login leaves behind: expired sessions and idle failure counts.

Every `ACCOUNT_PURGE_INTERVAL_SECONDS` each replica deletes at most `ACCOUNT_PURGE_BATCH` rows
of each table, one bounded statement each, so a backlog never turns into one long lock. A full
batch means more is waiting: the next run comes after a second instead of the interval.
Several replicas purging at once need no leader: the deletes are idempotent and skip rows
another replica has locked (`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from prometheus_client import Counter

from account_svc.adapters.login_store import LoginStore

log = structlog.get_logger("account_svc.purge")

BACKLOG_PAUSE_S = 1.0
PURGED = Counter(
    "parley_account_purged_rows_total", "Rows deleted by the purge, by table", ["table"]
)
_FAILURES = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class Purger:
    """Deletes expired sessions and idle login-failure counts, a batch at a time."""

    def __init__(
        self, store: LoginStore, interval_s: float, batch: int, failure_idle_s: int
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.batch = batch
        self.failure_idle_s = failure_idle_s
        self._stopping = asyncio.Event()

    async def run_once(self) -> dict[str, int]:
        """One bounded round; how many rows went from each table."""
        done = {
            "sessions": await self.store.purge_sessions(self.batch),
            "login_failures": await self.store.purge_login_failures(
                self.batch, self.failure_idle_s
            ),
        }
        for table, count in done.items():
            PURGED.labels(table).inc(count)
        if any(done.values()):
            log.info("purge_done", **done)
        return done

    def next_pause(self, done: dict[str, int]) -> float:
        """How long until the next round: soon while a batch came back full."""
        if any(count >= self.batch for count in done.values()):
            return min(BACKLOG_PAUSE_S, self.interval_s)
        return self.interval_s

    async def run(self) -> None:
        """Purge until `stop`; a database outage is logged and the next round tries again."""
        while not self._stopping.is_set():
            pause = self.interval_s
            try:
                pause = self.next_pause(await self.run_once())
            except _FAILURES as exc:
                log.warning("purge_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)

    def stop(self) -> None:
        """Ask `run` to return after the current round."""
        self._stopping.set()
