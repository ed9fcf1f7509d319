"""PostgreSQL side of login: attempts reserved before the password is checked, and the purge of
what expires (sessions, idle failure counts).

Lockout (CONTRACT 8: five failures in a row lock a username for 15 minutes, right password too)
is decided in one statement per attempt, before any hashing: the UPSERT counts the attempt as a
failure and is refused once the username is locked. The row lock taken by `ON CONFLICT` orders
concurrent attempts, so however many guesses arrive at once, at most `limit` are let through
(and checked) before the lock; the one that makes `limit` sets it. A success deletes the row
(the count starts over, and a lock set while that verified attempt ran is lifted: no wrong
guess got more than its share of the five). An attempt refused here is never checked, so it
answers the same whatever its password.

A count idle for the lock's length expires (treated as zero, then purged): an attacker gains
nothing, as the lock itself lets five more guesses through every 15 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# $1 username, $2 limit, $3 lock (and idle expiry) in seconds.
_RESERVE = """
WITH attempt AS (
    INSERT INTO login_failures AS f (username, failures, locked_until, last_attempt_at)
    VALUES (
        lower($1), 1,
        CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $3) END,
        now()
    )
    ON CONFLICT (username) DO UPDATE SET
        failures = CASE WHEN f.locked_until IS NOT NULL
                          OR f.last_attempt_at <= now() - make_interval(secs => $3)
                        THEN 1 ELSE f.failures + 1 END,
        locked_until = CASE WHEN (CASE WHEN f.locked_until IS NOT NULL
                                         OR f.last_attempt_at <= now() - make_interval(secs => $3)
                                       THEN 1 ELSE f.failures + 1 END) >= $2
                            THEN now() + make_interval(secs => $3) END,
        last_attempt_at = now()
    WHERE f.locked_until IS NULL OR f.locked_until <= now()
    RETURNING f.failures
)
SELECT
    (SELECT failures FROM attempt) AS failures,
    (SELECT ceil(extract(epoch FROM locked_until - now()))::int
       FROM login_failures WHERE username = lower($1)) AS locked_for
"""

_PURGE_SESSIONS = """
DELETE FROM sessions WHERE token_hash IN (
    SELECT token_hash FROM sessions WHERE expires_at < now()
    ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
"""

_PURGE_FAILURES = """
DELETE FROM login_failures WHERE username IN (
    SELECT username FROM login_failures
    WHERE (locked_until IS NULL OR locked_until < now())
      AND last_attempt_at < now() - make_interval(secs => $2)
    ORDER BY last_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
"""


@dataclass(frozen=True)
class Reservation:
    """Whether an attempt may check its password; when not, how long the lock still holds."""

    granted: bool
    attempt: int = 0
    retry_after: int = 0


class LoginStore:
    """Queries over `login_failures`, `sessions` and `users.password_hash` for login."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def reserve_attempt(self, username: str, limit: int, lock_seconds: int) -> Reservation:
        """Count an attempt for `username` before its password is checked, or refuse it."""
        row = await self.pool.fetchrow(_RESERVE, username, limit, float(lock_seconds))
        if row is not None and row["failures"] is not None:
            return Reservation(True, attempt=int(row["failures"]))
        locked_for = row["locked_for"] if row is not None else None
        # This statement's snapshot may predate the lock (set by an attempt racing this one,
        # whose clock read later): then the lock's full length, and never more than that.
        seconds = lock_seconds if locked_for is None else int(locked_for)
        return Reservation(False, retry_after=min(lock_seconds, max(1, seconds)))

    async def clear_failures(self, username: str) -> None:
        """A success: the count starts over (and a lock set meanwhile is lifted)."""
        await self.pool.execute("DELETE FROM login_failures WHERE username = lower($1)", username)

    async def replace_password_hash(self, user_id: str, old: str, new: str) -> bool:
        """Store a rehashed password unless the hash changed meanwhile; True when stored."""
        status = await self.pool.execute(
            "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
            user_id,
            old,
            new,
        )
        return bool(status == "UPDATE 1")

    async def purge_sessions(self, batch: int) -> int:
        """Delete up to `batch` expired sessions; how many went."""
        return _count(await self.pool.execute(_PURGE_SESSIONS, batch))

    async def purge_login_failures(self, batch: int, idle_seconds: int) -> int:
        """Delete up to `batch` failure counts idle for `idle_seconds` and not locked."""
        return _count(await self.pool.execute(_PURGE_FAILURES, batch, float(idle_seconds)))


def _count(status: str) -> int:
    """The row count of a command status such as `DELETE 12`."""
    return int(status.rsplit(" ", 1)[-1])
