"""Fixtures of the end-to-end tests: the whole platform as real processes per test module."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from parley_devtools.fakes.otlp import OtlpReceiver

sys.path.insert(0, str(Path(__file__).parent))

from e2e_parley_kit import Platform


async def _create_database(admin_url: str, name: str, drop: bool = False) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        if drop:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    """account-svc (bootstrapped), routing-svc (sandbox) and webhook-svc as child processes on
    an embedded nats-server and PostgreSQL of their own; stopped (by pid) after the module."""
    with running_platform() as stack:
        yield stack


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    """A local OTLP/HTTP trace receiver for the module's platform to export to."""
    receiver = OtlpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def traced_platform(otlp: OtlpReceiver) -> Iterator[Platform]:
    """The platform with tracing on: every service exports its spans to `otlp` (batches
    flushed every 100 ms)."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    with running_platform(env) as stack:
        yield stack


@contextmanager
def running_platform(env: dict[str, str] | None = None) -> Iterator[Platform]:
    """The platform of the `platform` fixture, each service also given `env`.

    Everything lives in a temporary directory outside pytest's basetemp: pytest removes old
    basetemp directories, and another pytest run of the same user may do it while this runs.
    """
    from parley_devtools.embedded import Postgres

    root = Path(tempfile.mkdtemp(prefix="parley-e2e-"))
    pg: Postgres | None = None
    name = "e2e_" + uuid.uuid4().hex[:12]
    if os.environ.get("DATABASE_URL"):  # a server named by the environment, as the plugin does
        admin_url = os.environ["DATABASE_URL"]
        parts = urlsplit(admin_url)
        url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    else:
        pg = Postgres(data_dir=root / "pg").start()
        admin_url, url = pg.url, pg.url_for(name)
    stack = Platform(root, url, env=dict(env or {}))
    try:
        asyncio.run(_create_database(admin_url, name))
        stack.start()
        yield stack
    finally:
        stack.stop()
        if pg is not None:
            pg.stop(remove_data=True)
        else:
            asyncio.run(_create_database(admin_url, name, drop=True))
        shutil.rmtree(root, ignore_errors=True)
