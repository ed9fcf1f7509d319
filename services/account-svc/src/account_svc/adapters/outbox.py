"""The outbox relay: publishes committed config events to the ACCOUNTS stream, in order.

One relay at a time publishes (it holds a PostgreSQL advisory lock on its own connection),
so events of one account reach the stream in commit order. It wakes on NOTIFY from the
committing transaction and polls as a safety net. A row is marked published only after
JetStream acknowledged it; a crash between the two republishes it with the same
`Nats-Msg-Id`, which JetStream de-duplicates (and consumers ignore an older `version`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog
from parley_shared.subjects import HEADER_MSG_ID
from prometheus_client import Counter, Gauge

log = structlog.get_logger("account_svc.outbox")

RELAY_LOCK = 0x5041524D  # one publishing relay across replicas
BATCH = 500
ACK_TIMEOUT = 10.0
CLOSE_TIMEOUT_S = 5.0
KEEP_PUBLISHED_SECONDS = 24 * 3600

PUBLISHED = Counter("parley_account_outbox_published_total", "Config events published")
PUBLISH_ERRORS = Counter("parley_account_outbox_publish_errors_total", "Failed publish rounds")
PENDING = Gauge("parley_account_outbox_pending", "Config events waiting to be published")


class OutboxRelay:
    """Drains the outbox table into JetStream."""

    def __init__(self, database_url: str, js: Any, poll_seconds: float = 1.0) -> None:
        self.database_url = database_url
        self.js = js
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopped = False
        self._retrying = False  # the last round failed: send only each subject's newest
        self.leader = False

    def stop(self) -> None:
        """Ask the relay to end at its next wait (cancel its task too; this backs it up)."""
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        """Relay until stopped or cancelled, reconnecting after any failure."""
        while not self._stopped:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a relay must outlive any outage
                self.leader = False
                PUBLISH_ERRORS.inc()
                log.warning("outbox_relay_error", error=type(exc).__name__)
                await asyncio.sleep(self.poll_seconds)

    async def _lead(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self.database_url, server_settings={"search_path": "account_svc"}
        )
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK):
                if self._stopped:
                    return
                self.leader = False
                await asyncio.sleep(self.poll_seconds)
            self.leader = True
            await conn.add_listener("account_svc_outbox", self._notified)
            log.info("outbox_relay_leading")
            rounds = 0
            while not self._stopped:
                self._wake.clear()  # before reading, so a NOTIFY during the read is not lost
                published = await self.drain_once(conn)
                rounds += 1
                if rounds % 600 == 0:
                    await conn.execute(
                        "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
                        float(KEEP_PUBLISHED_SECONDS),
                    )
                if published == 0:
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                    # that lands as the wait ends, and the relay would then never stop.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_seconds):
                            await self._wake.wait()
        finally:
            self.leader = False
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await conn.close()
            except Exception:  # noqa: BLE001 - a connection that will not close is dropped
                conn.terminate()

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def drain_once(self, conn: asyncpg.Connection) -> int:
        """Publish one batch of pending events, in order; mark them published once all are
        acked.

        After a failed round, only the newest pending event of each subject is sent (the older
        ones are marked as superseded). ACCOUNTS and TEMPLATES keep one snapshot per subject
        and drop a message id they have seen: had an older snapshot failed while a newer one
        of its subject was stored, sending both again would store the older one and drop the
        newer one as a duplicate, leaving a stale config on the stream.
        """
        rows = await conn.fetch(
            "SELECT id, event_id, subject, payload FROM outbox"
            " WHERE published_at IS NULL ORDER BY id LIMIT $1",
            BATCH,
        )
        PENDING.set(len(rows))
        if not rows:
            return 0
        send = list({row["subject"]: row for row in rows}.values()) if self._retrying else rows
        futures: list[asyncio.Future[Any]] = []
        try:
            for row in send:
                futures.append(
                    await self.js.publish_async(
                        row["subject"],
                        bytes(row["payload"]),
                        headers={HEADER_MSG_ID: row["event_id"]},
                    )
                )
            async with asyncio.timeout(ACK_TIMEOUT):
                await asyncio.gather(*futures)
        except BaseException:
            self._retrying = True
            for future in futures:
                future.cancel()  # frees the client's pending-publish slots
            raise
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [row["id"] for row in rows],
        )
        self._retrying = False
        PUBLISHED.inc(len(send))
        log.debug("outbox_published", count=len(send), superseded=len(rows) - len(send))
        return len(rows)
