"""The purge of expired sessions and idle login-failure counts, on the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from account_svc.adapters.login_store import LoginStore
from account_svc.adapters.postgres import apply_migrations, create_pool
from account_svc.adapters.purge import BACKLOG_PAUSE_S, Purger
from account_svc.sessions import LOCKOUT_SECONDS
from login_kit import serving
from parley_devtools.waiting import eventually

IDLE = LOCKOUT_SECONDS


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A migrated database with one user, `usr_1`."""
    made = await create_pool(database_url, 4)
    await apply_migrations(made)
    await made.execute(
        "INSERT INTO users (id, username, password_hash, role) VALUES"
        " ('usr_1', 'someone', 'x', 'super_admin')"
    )
    yield made
    await made.close()


async def add_sessions(pool: asyncpg.Pool, prefix: str, count: int, offset: timedelta) -> None:
    """`count` sessions of usr_1 expiring at now() + `offset`."""
    await pool.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at)"
        " SELECT $1 || g, 'usr_1', now() + $3 FROM generate_series(1, $2) g",
        prefix,
        count,
        offset,
    )


async def test_expired_sessions_go_a_batch_at_a_time(pool: asyncpg.Pool) -> None:
    """Each round deletes at most a batch of expired sessions, comes back soon while batches are
    full, and never touches a live session."""
    await add_sessions(pool, "old", 5, -timedelta(minutes=1))
    await add_sessions(pool, "live", 2, timedelta(hours=1))
    purger = Purger(LoginStore(pool), interval_s=300, batch=2, failure_idle_s=IDLE)
    done = await purger.run_once()
    assert done["sessions"] == 2
    assert purger.next_pause(done) == BACKLOG_PAUSE_S
    assert (await purger.run_once())["sessions"] == 2
    done = await purger.run_once()
    assert done["sessions"] == 1
    assert purger.next_pause(done) == 300
    left = await pool.fetch("SELECT token_hash FROM sessions ORDER BY 1")
    assert [r["token_hash"] for r in left] == ["live1", "live2"]


async def test_only_idle_unlocked_failure_counts_go(pool: asyncpg.Pool) -> None:
    """A count idle past the lock's length and a lock that ran out go; a recent count and a
    lock still holding stay."""
    await pool.execute(
        "INSERT INTO login_failures (username, failures, locked_until, last_attempt_at) VALUES"
        " ('idle', 3, NULL, now() - interval '16 minutes'),"
        " ('expired-lock', 5, now() - interval '1 minute', now() - interval '16 minutes'),"
        " ('recent', 2, NULL, now() - interval '1 minute'),"
        " ('locked', 5, now() + interval '10 minutes', now() - interval '20 minutes')"
    )
    purger = Purger(LoginStore(pool), interval_s=300, batch=100, failure_idle_s=IDLE)
    assert (await purger.run_once())["login_failures"] == 2
    left = await pool.fetch("SELECT username FROM login_failures ORDER BY 1")
    assert [r["username"] for r in left] == ["locked", "recent"]


async def test_replicas_purging_at_once_share_the_work(pool: asyncpg.Pool) -> None:
    """Three purgers at once delete each expired session exactly once, without error."""
    await add_sessions(pool, "old", 300, -timedelta(minutes=1))
    purgers = [Purger(LoginStore(pool), 300, 100, IDLE) for _ in range(3)]
    rounds = await asyncio.gather(*(p.run_once() for p in purgers))
    total = sum(done["sessions"] for done in rounds)
    while True:
        more = (await purgers[0].run_once())["sessions"]
        if not more:
            break
        total += more
    assert total == 300
    assert await pool.fetchval("SELECT count(*) FROM sessions") == 0


async def test_the_service_purges_on_its_own(database_url: str, nats_url: str) -> None:
    """A running account-svc deletes an expired session within its purge interval."""
    async with serving(database_url, nats_url, purge_interval_seconds=1) as _:
        conn = await asyncpg.connect(database_url, server_settings={"search_path": "account_svc"})
        try:
            user_id = await conn.fetchval("SELECT id FROM users LIMIT 1")
            await conn.execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at)"
                " VALUES ('gone', $1, now() - interval '1 second')",
                user_id,
            )

            async def purged() -> bool:
                sql = "SELECT count(*) FROM sessions WHERE token_hash = 'gone'"
                return bool(await conn.fetchval(sql) == 0)

            await eventually(purged)
        finally:
            await conn.close()
