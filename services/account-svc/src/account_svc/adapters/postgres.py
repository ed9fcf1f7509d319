"""PostgreSQL connection pool and versioned SQL migrations (applied at start, under a lock)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import asyncpg
import orjson
import structlog

SCHEMA = "account_svc"
_MIGRATION_LOCK = 0x5041524C  # "PARL": one migrator at a time across replicas

log = structlog.get_logger("account_svc.postgres")


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(
            typ,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def create_pool(url: str, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections use schema account_svc and decode JSON with orjson."""
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": SCHEMA, "application_name": "account-svc"},
        command_timeout=30,
    )
    if pool is None:  # pragma: no cover - asyncpg returns a pool or raises
        raise RuntimeError("no pool")
    return pool


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("account_svc").joinpath("migrations")
    found: list[tuple[int, str, str]] = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql"):
            found.append((int(name.split("_", 1)[0]), name, entry.read_text("utf-8")))
    return sorted(found)


async def apply_migrations(pool: asyncpg.Pool) -> list[str]:
    """Apply every migration not yet applied, in order, each in its own transaction."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, name, sql in _migrations():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        name,
                    )
                applied.append(name)
                log.info("migration_applied", migration=name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


def row_dict(row: Any) -> dict[str, Any]:
    """An asyncpg Record as a plain dict."""
    return dict(row.items())
