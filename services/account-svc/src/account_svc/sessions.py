"""Console sessions: login (CONTRACT 2 and 8, `POST /v1/auth/login` and `POST /console/session`
alike), the caller behind a bearer token, logout.

The checks run cheapest first, and nothing costly happens for an attempt that cannot succeed:

1. the client address's rate limit (memory)  -> 429 `rate_limited` with `Retry-After`
2. the user's hash, or the dummy hash for an unknown username (same parameters, same work)
3. room in the hashing memory budget           -> 503 `overloaded` with `Retry-After`; the
   attempt is not counted, as it never ran
4. the attempt reserved in PostgreSQL           -> 429 `too_many_attempts` while locked,
   whatever the password: it is never checked
5. argon2id                                     -> 401, or a session; a success resets the
   count and replaces a hash made with older parameters
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from parley_runtime.addresses import Network, client_address
from parley_shared.timefmt import format_ts, now
from prometheus_client import Counter

from account_svc.domain import tokens
from account_svc.domain.rate_limit import RateLimiter, rate_key
from account_svc.domain.requests import LoginIn
from account_svc.domain.scope import Org, Principal
from account_svc.errors import (
    Overloaded,
    RateLimited,
    TooManyAttempts,
    Unauthorized,
    retry_after,
)
from account_svc.ports import LoginAttempts, Passwords, Users

log = structlog.get_logger("account_svc.sessions")

LOCKOUT_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60

ATTEMPTS = Counter(
    "parley_account_login_attempts_total",
    "Login attempts by outcome: succeeded, failed, locked, rate_limited, overloaded",
    ["outcome"],
)


@dataclass(frozen=True)
class LoginGuard:
    """What limits login before any password is looked at: the per-address rate limit and the
    proxies whose `X-Forwarded-For` is believed."""

    limiter: RateLimiter
    trusted_proxies: tuple[Network, ...] = ()


class Sessions:
    """Login, the principal of a token, logout."""

    def __init__(
        self,
        users: Users,
        attempts: LoginAttempts,
        passwords: Passwords,
        guard: LoginGuard,
        token_ttl: timedelta,
    ) -> None:
        self.users = users
        self.attempts = attempts
        self.passwords = passwords
        self.guard = guard
        self.token_ttl = token_ttl

    async def login(
        self, body: LoginIn, peer: str | None, forwarded_for: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Check the credentials within every limit; the token, its expiry and the user."""
        client = client_address(peer, forwarded_for, self.guard.trusted_proxies)
        wait = self.guard.limiter.take(rate_key(client))
        if wait > 0:
            ATTEMPTS.labels("rate_limited").inc()
            log.info("login_rate_limited")
            raise retry_after(RateLimited("too many logins from this address; retry later"), wait)
        user = await self.users.user_by_username(body.username)
        stored = str(user["password_hash"]) if user else None

        async def admit() -> None:
            # Runs once the hash's memory is held, right before the hash: the lockout's turn.
            seat = await self.attempts.reserve_attempt(
                body.username, LOCKOUT_FAILURES, LOCKOUT_SECONDS
            )
            if not seat.granted:
                locked = TooManyAttempts("too many failed attempts; try again later")
                raise retry_after(locked, seat.retry_after)

        try:
            ok = await self.passwords.verify(stored, body.password, admit=admit)
        except TooManyAttempts:
            ATTEMPTS.labels("locked").inc()
            log.info("login_locked")
            raise
        except Overloaded:
            ATTEMPTS.labels("overloaded").inc()
            log.warning("login_overloaded")
            raise
        if not ok or user is None or stored is None:
            ATTEMPTS.labels("failed").inc()
            log.info("login_failed")
            raise Unauthorized("invalid username or password")
        await self.attempts.clear_failures(body.username)
        await self._rehash(user["id"], stored, body.password)
        token = tokens.new_token()
        expires = now() + self.token_ttl
        await self.users.insert_session(tokens.token_hash(token), user["id"], expires)
        ATTEMPTS.labels("succeeded").inc()
        log.info("login_succeeded", user_id=user["id"])
        return {
            "token": token,
            "expires_at": format_ts(expires),
            "user": {
                "id": user["id"],
                "username": user["username"],
                "role": user["role"],
                "organization_id": user["organization_id"],
            },
        }

    async def _rehash(self, user_id: str, stored: str, password: str) -> None:
        """Replace a hash made with other parameters than today's; skipped when overloaded
        (the next login tries again)."""
        if not self.passwords.needs_rehash(stored):
            return
        try:
            fresh = await self.passwords.hash(password)
        except Overloaded:
            log.info("password_rehash_deferred", user_id=user_id)
            return
        if await self.attempts.replace_password_hash(user_id, stored, fresh):
            log.info("password_rehashed", user_id=user_id)

    async def authenticate(self, token: str | None) -> Principal:
        """The principal of a bearer token, or Unauthorized."""
        if not token:
            raise Unauthorized("missing bearer token")
        row = await self.users.session_user(tokens.token_hash(token))
        if row is None:
            raise Unauthorized("invalid or expired token")
        org = None
        if row["organization_id"] is not None:
            org = Org(row["organization_id"], row["org_kind"], row["org_aggregator_id"])
        return Principal(row["id"], row["username"], row["role"], org)

    async def logout(self, token: str) -> None:
        """Forget the token."""
        await self.users.delete_session(tokens.token_hash(token))
