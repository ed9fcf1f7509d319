"""Integrators on NATS (CONTRACT section 10): account-svc admits them and keeps their NATS side.

account-svc owns access accounts and their API keys, so it runs both halves:

- the auth callout (`parley_runtime.natsauth.callout`), which admits a connection whose user is
  an active account's id and whose password is its current API key, read from PostgreSQL at
  each connect (a replaced key or a deleted account is refused at once);
- the provisioner, which follows the ACCOUNTS stream with a durable consumer and makes each
  account's NATS side match its latest config event: its NATS account (imports of its own
  subjects only, signed for its current API key) and its two durable pull consumers; for a
  tombstone, a JWT that lets nothing connect (the server closes the account's connections at
  once), then no consumers. It acks an event only after the NATS side is done and recorded
  (`accounts.nats_key_hash`: the key hash the JWT admits), so a crash repeats the (idempotent)
  work. The callout admits a right key only once that record matches it, waiting up to 1 s:
  a connect the instant an account is created (or its key replaced) goes through as soon as
  its NATS side exists, instead of being refused by the server ~2 s later. One event at a
  time across replicas (`max_ack_pending` 1): two replicas must never push one account's JWTs
  out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog
from nats.aio.client import RawCredentials
from parley_runtime.nats import connect as nats_connect
from parley_runtime.natsauth.authority import Authority
from parley_runtime.natsauth.callout import CalloutResponder, parley_decider
from parley_runtime.natsauth.permissions import DURABLE_ACCOUNT_NATS
from parley_runtime.natsauth.tenants import apply_account
from parley_runtime.pull import Durable, Follower, PullSettings
from parley_shared import subjects
from parley_shared.accounts import parse_event
from parley_shared.events import AccountConfigData
from parley_shared.sealing import MasterKey
from prometheus_client import Counter

log = structlog.get_logger("account_svc.nats_access")

ACK_WAIT_S = 30.0
RETRY_DELAY_S = 2.0
MAX_ATTEMPTS = 30  # then the event is given up (logged): one bad event must not stop the rest
LOOKUP_TIMEOUT_S = 1.0
APPLIED = Counter("parley_account_nats_applied_total", "Account NATS sides made to match", ["kind"])
FAILED = Counter("parley_account_nats_apply_failures_total", "Failed NATS side updates")


def lookup_from(pool: asyncpg.Pool) -> Any:
    """The callout's view of an account: `(status, api_key_hash)` from PostgreSQL, or None."""

    async def lookup(account_id: str) -> tuple[str, str | None] | None:
        row = await pool.fetchrow(
            "SELECT status, secrets->>'api_key_hash' AS key_hash FROM accounts WHERE id = $1",
            account_id,
            timeout=LOOKUP_TIMEOUT_S,
        )
        return None if row is None else (str(row["status"]), row["key_hash"])

    return lookup


def ready_from(pool: asyncpg.Pool) -> Any:
    """The callout's readiness check: the provisioner has made the account's NATS side for this
    API key hash (`accounts.nats_key_hash`, written once its JWT is pushed)."""

    async def ready(account_id: str, key_hash: str) -> bool:
        made = await pool.fetchval(
            "SELECT nats_key_hash FROM accounts WHERE id = $1",
            account_id,
            timeout=LOOKUP_TIMEOUT_S,
        )
        return made is not None and made == key_hash

    return ready


def _key_hash(data: AccountConfigData) -> str | None:
    """The API key hash an account's NATS side is signed for; None for a deleted account."""
    if data.status != "active" or data.secrets is None:
        return None
    if not data.secrets.api_key_hash:
        raise ValueError("an active account without an API key hash")
    return data.secrets.api_key_hash


class Provisioner(Follower):
    """Follows ACCOUNTS and makes each account's NATS side match its latest event, one event
    held at a time (`parley_runtime.pull.Follower`: it stops after the event in hand and gives
    back one not done, for another replica or the next start)."""

    def __init__(self, nc: Any, system_nc: Any, authority: Authority, pool: asyncpg.Pool) -> None:
        durable = Durable(
            subjects.STREAM_ACCOUNTS, DURABLE_ACCOUNT_NATS, subjects.ACCOUNT_CONFIG_ALL
        )
        super().__init__(
            nc,
            durable,
            PullSettings(
                batch=1,
                max_in_flight=1,
                ack_wait_seconds=ACK_WAIT_S,
                max_ack_pending=1,
                redelivery_delay_seconds=RETRY_DELAY_S,
                redelivery_delay_max_seconds=RETRY_DELAY_S,
            ),
        )
        self._js, self._system, self._authority = nc.jetstream(), system_nc, authority
        self._pool = pool
        self.applied = 0

    async def handle(self, msg: Any) -> None:
        """Make the event's account's NATS side match it and record it, then ack; an unreadable
        event is termed, a failure comes back after RETRY_DELAY_S (given up after
        MAX_ATTEMPTS)."""
        try:
            data = parse_event(msg.data)
            key_hash = _key_hash(data)
        except (ValueError, KeyError, TypeError) as exc:  # pydantic's errors are ValueErrors
            # Not an account event this code can read: retrying cannot help, and with one
            # event in flight at a time it would hold up every other account.
            FAILED.inc()
            # No traceback: a validation error quotes the event's content.
            log.error("nats_provision_event_unreadable", error=type(exc).__name__)  # noqa: TRY400
            await msg.term()
            return
        try:
            await apply_account(self._system, self._js, self._authority, data.account_id, key_hash)
            await self._pool.execute(  # what the callout waits for (`ready_from`)
                "UPDATE accounts SET nats_key_hash = $2 WHERE id = $1", data.account_id, key_hash
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried after a delay (NATS may be away)
            FAILED.inc()
            attempts = int(getattr(msg.metadata, "num_delivered", 1) or 1)
            if attempts >= MAX_ATTEMPTS:
                log.error(  # noqa: TRY400 - the type is enough, and no secret gets quoted
                    "nats_provision_given_up", account_id=data.account_id, error=type(exc).__name__
                )
                await msg.term()
                return
            log.warning(
                "nats_provision_failed", account_id=data.account_id, error=type(exc).__name__
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=RETRY_DELAY_S)
            return
        await msg.ack()
        self.applied += 1
        APPLIED.labels("active" if key_hash else "deleted").inc()
        log.info("account_nats_applied", account_id=data.account_id, deleted=key_hash is None)


class NatsAccess:
    """The callout and the provisioner, with their own NATS connections (AUTH and SYS)."""

    def __init__(self, nats_url: str, authority: Authority, pool: asyncpg.Pool) -> None:
        self._url, self.authority, self._pool = nats_url, authority, pool
        self._callout_nc: Any = None
        self._system_nc: Any = None
        self._callout: CalloutResponder | None = None
        self.provisioner: Provisioner | None = None

    @property
    def ready(self) -> bool:
        """Whether both halves run on live connections."""
        return bool(
            self._callout is not None
            and self._callout_nc is not None
            and self._callout_nc.is_connected
            and self._system_nc is not None
            and self._system_nc.is_connected
        )

    def reset(self) -> None:
        """After the main connection reconnected: the provisioner asks again at once."""
        if self.provisioner is not None:
            self.provisioner.reset()

    async def start(self, nc: Any, master: MasterKey) -> None:
        """Connect as the callout and system users, answer auth requests, provision accounts."""
        self._callout_nc = await nats_connect(
            self._url,
            "account-svc-callout",
            user_credentials=RawCredentials(self.authority.callout_creds),
        )
        self._system_nc = await nats_connect(
            self._url,
            "account-svc-system",
            user_credentials=RawCredentials(self.authority.system_creds),
        )
        decide = parley_decider(
            self.authority,
            lookup_from(self._pool),
            master.api_key_matches,
            ready=ready_from(self._pool),
        )
        self._callout = CalloutResponder(self._callout_nc, self.authority.auth, decide)
        await self._callout.start()
        self.provisioner = Provisioner(nc, self._system_nc, self.authority, self._pool)
        await self.provisioner.start()
        log.info("nats_access_started")

    async def stop(self) -> None:
        """Stop answering and provisioning; close the two connections."""
        if self.provisioner is not None:
            await self.provisioner.stop()
        if self._callout is not None:
            await self._callout.stop()
        for nc in (self._callout_nc, self._system_nc):
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()
