"""Wires account-svc: settings -> PostgreSQL, NATS, use cases, outbox relay, purge, HTTP app.

Nothing connects at import time; `create_app(settings)` builds the service and its
aiohttp lifecycle hooks connect and disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web
from parley_runtime import metrics_http, tracing
from parley_runtime.nats import connect as nats_connect
from parley_runtime.tasks import cancel_and_wait
from parley_shared.sealing import MasterKey
from parley_shared.streams import ensure_streams

from account_svc.accounts import AccountAdmin
from account_svc.adapters.account_ids import AccountIds
from account_svc.adapters.http_api import build_app
from account_svc.adapters.login_store import LoginStore
from account_svc.adapters.memory_budget import MemoryBudget
from account_svc.adapters.nats_access import NatsAccess
from account_svc.adapters.outbox import OutboxRelay
from account_svc.adapters.passwords import Passwords
from account_svc.adapters.postgres import apply_migrations, create_pool
from account_svc.adapters.purge import Purger
from account_svc.adapters.registry_store import RegistryStore
from account_svc.adapters.repository import Repository
from account_svc.adapters.routing_asks import RoutingAsks
from account_svc.adapters.traffic_feed import TrafficFeed
from account_svc.adapters.webhook_asks import WebhookAsks
from account_svc.deliveries import Deliveries
from account_svc.domain.rate_limit import RateLimiter
from account_svc.domain.tokens import generate_password
from account_svc.domain.traffic import TrafficTally
from account_svc.operations import Operations
from account_svc.senders import SenderAdmin
from account_svc.sessions import LOCKOUT_SECONDS, LoginGuard, Sessions
from account_svc.settings import Settings
from account_svc.subscriptions import Subscriptions
from account_svc.templates import TemplateAdmin
from account_svc.tenancy import Tenancy

log = structlog.get_logger("account_svc.bootstrap")

HOLDER = web.AppKey("holder", dict)
CLOSE_TIMEOUT_S = 5.0  # each shutdown step: relay, NATS drain, database pool


def master_key(settings: Settings) -> MasterKey:
    """The master key (and the previous one during a rotation) from the settings."""
    previous = (
        [settings.master_key_previous.get_secret_value()] if settings.master_key_previous else []
    )
    return MasterKey.from_b64(settings.master_key.get_secret_value(), previous=previous)


async def bootstrap_admin(settings: Settings, tenancy: Tenancy) -> dict[str, Any]:
    """Create the platform super admin when no user exists; report what happened."""
    given = settings.bootstrap_admin_password
    password = given.get_secret_value() if given else generate_password()
    created = await tenancy.ensure_bootstrap_admin(settings.bootstrap_admin_username, password)
    report: dict[str, Any] = {
        "created": created,
        "username": settings.bootstrap_admin_username,
        "password_generated": created and given is None,
    }
    if report["password_generated"]:
        report["password"] = password
    return report


def passwords_of(settings: Settings) -> Passwords:
    """argon2id within the memory budget of the settings."""
    budget = MemoryBudget(
        settings.password_hash_memory_mib * 1024,
        max_waiters=settings.password_hash_queue,
        wait_seconds=settings.password_hash_wait_seconds,
    )
    return Passwords(budget)


def sessions_of(settings: Settings, repo: Repository, passwords: Passwords) -> Sessions:
    """Login, authentication and logout with the login limits of the settings."""
    guard = LoginGuard(
        RateLimiter(
            settings.login_rate_per_minute, settings.login_rate_burst, clock=time.monotonic
        ),
        settings.trusted_networks,
    )
    ttl = timedelta(seconds=settings.token_ttl_seconds)
    return Sessions(repo, LoginStore(repo.pool), passwords, guard, ttl)


def use_cases_of(
    settings: Settings, key: MasterKey, pool: Any, passwords: Passwords
) -> dict[type[Any], Any]:
    """The use cases over PostgreSQL (those needing NATS are added once it is connected)."""
    repo, registry = Repository(pool), RegistryStore(pool)
    tenancy = Tenancy(repo, repo, passwords)
    accounts = AccountAdmin(
        repo, tenancy, key, allow_private_targets=settings.allow_private_targets
    )
    found: list[Any] = [
        tenancy,
        accounts,
        sessions_of(settings, repo, passwords),
        TemplateAdmin(repo, tenancy),
        SenderAdmin(registry, tenancy),
        Subscriptions(registry, tenancy, accounts),
    ]
    return {type(use): use for use in found}


def _observability(app: web.Application, settings: Settings) -> None:
    """A server span per request when tracing is on; `/metrics` on its own port when set."""
    if tracing.enabled():
        app.middlewares.insert(0, tracing.http_middleware())
    metrics_http.serve_apart(app, settings.http_host, settings.metrics_port, "account-svc")


def create_app(settings: Settings) -> web.Application:
    """The account-svc application; connections open on startup, close on cleanup."""
    key = master_key(settings)
    state: dict[str, Any] = {"streams": False}
    holder: dict[str, Any] = {}
    use_cases: dict[type[Any], Any] = {}

    async def ready() -> tuple[bool, dict[str, Any]]:
        repo: Repository | None = holder.get("repo")
        nc = holder.get("nc")
        db_ok = bool(repo and await repo.ping())
        nats_ok = bool(nc and nc.is_connected)
        access: NatsAccess | None = holder.get("nats_access")
        access_ok = (
            access is None
            if settings.nats_authority_file is None
            else bool(access and access.ready)
        )
        ok = db_ok and nats_ok and state["streams"] and access_ok
        checks = {"database": db_ok, "nats": nats_ok, "streams": state["streams"]}
        return ok, checks | ({"nats_access": access_ok} if settings.nats_authority_file else {})

    app = build_app(use_cases, ready)
    _observability(app, settings)

    async def startup(_: web.Application) -> None:
        pool = await create_pool(settings.database_url.get_secret_value(), settings.db_pool_max)
        await apply_migrations(pool)
        holder["pool"], holder["repo"] = pool, Repository(pool)
        holder["passwords"] = passwords = passwords_of(settings)
        found = use_cases_of(settings, key, pool, passwords)
        report = await bootstrap_admin(settings, found[Tenancy])
        if report.get("password_generated"):
            # CONTRACT: a generated bootstrap password is printed once (never logged).
            print(f"bootstrap admin created: {report['username']} / {report['password']}")

        async def on_reconnect() -> None:
            access = holder.get("nats_access")
            if access is not None:  # its pull requests went with the old connection
                access.reset()

        nc = await nats_connect(settings.nats_url, "account-svc", on_reconnect=on_reconnect)
        holder["nc"] = nc
        js = nc.jetstream()
        await ensure_streams(
            js, settings.stream_replicas, settings.stream_retention, owner="account-svc"
        )
        state["streams"] = True
        if settings.nats_authority_file is not None:
            from parley_runtime.natsauth.authority import Authority

            access = NatsAccess(
                settings.nats_url, Authority.load(settings.nats_authority_file), pool
            )
            holder["nats_access"] = access
            await access.start(nc, key)
        asks = WebhookAsks(nc)
        found[Deliveries] = Deliveries(found[AccountAdmin], asks)
        found[Operations] = operations(
            settings, holder, js=js, nc=nc, pool=pool, tenancy=found[Tenancy], asks=asks
        )
        use_cases.update(found)
        start_background(settings, holder, js)
        log.info("account_svc_started", port=settings.http_port)

    async def cleanup(_: web.Application) -> None:
        await close_connections(holder)

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app[HOLDER] = holder
    return app


def operations(
    settings: Settings,
    holder: dict[str, Any],
    *,
    js: Any,
    nc: Any,
    pool: Any,
    tenancy: Tenancy,
    asks: WebhookAsks,
) -> Operations:
    """The operator console's read side: the traffic feed (kept in `holder` to stop it) and
    the asks of routing-svc and webhook-svc."""
    holder["traffic"] = feed = TrafficFeed(
        js,
        TrafficTally(max_keys=settings.traffic_max_keys, clock=time.time),
        idle_s=settings.traffic_idle_seconds,
        replay_max=settings.traffic_replay_max,
    )
    routing = RoutingAsks(nc, settings.routes_gather_seconds)
    return Operations(tenancy, AccountIds(pool), feed, routing, asks)


def start_background(settings: Settings, holder: dict[str, Any], js: Any) -> None:
    """The outbox relay (when enabled) and the periodic purge of sessions and login rows."""
    if settings.outbox_relay_enabled:
        relay = OutboxRelay(
            settings.database_url.get_secret_value(), js, settings.outbox_poll_seconds
        )
        holder["relay"] = relay
        holder["relay_task"] = asyncio.create_task(relay.run(), name="outbox-relay")
    purger = Purger(
        LoginStore(holder["pool"]),
        settings.purge_interval_seconds,
        settings.purge_batch,
        LOCKOUT_SECONDS,
    )
    holder["purger"] = purger
    holder["purge_task"] = asyncio.create_task(purger.run(), name="purge")


async def close_connections(holder: dict[str, Any]) -> None:
    """Stop the outbox relay, the purge and the NATS access (callout, provisioner), drain
    NATS, close the pool and the hashing threads.

    Each step is bounded: a shutdown that hangs on one part would leave the rest running.
    """
    for name, task_key, event in (
        ("relay", "relay_task", "outbox_relay_did_not_stop"),
        ("purger", "purge_task", "purge_did_not_stop"),
    ):
        task = holder.get(task_key)
        if task is None:
            continue
        holder[name].stop()
        if not await cancel_and_wait(task, CLOSE_TIMEOUT_S):
            log.warning(event)
    access = holder.get("nats_access")
    if access is not None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await access.stop()
        except Exception:  # noqa: BLE001 - its connections go with the process
            log.warning("nats_access_stop_failed")
    traffic = holder.get("traffic")
    if traffic is not None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await traffic.stop()
    nc = holder.get("nc")
    if nc is not None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await nc.drain()
        except Exception:  # noqa: BLE001 - undrained, the connection is closed outright
            log.warning("nats_drain_failed")
            with contextlib.suppress(Exception):
                await nc.close()
    pool = holder.get("pool")
    if pool is not None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await pool.close()
        except Exception:  # noqa: BLE001 - asyncpg terminates the pool when close() fails
            log.warning("database_pool_close_timed_out")
            pool.terminate()
    passwords = holder.get("passwords")
    if passwords is not None:
        passwords.close()


async def run_bootstrap(settings: Settings) -> dict[str, Any]:
    """Apply migrations and create the bootstrap admin, then exit (the `bootstrap` command)."""
    pool = await create_pool(settings.database_url.get_secret_value(), 2)
    passwords = passwords_of(settings)
    try:
        applied = await apply_migrations(pool)
        repo = Repository(pool)
        report = await bootstrap_admin(settings, Tenancy(repo, repo, passwords))
    finally:
        await pool.close()
        passwords.close()
    return {"migrations_applied": applied, **report}
