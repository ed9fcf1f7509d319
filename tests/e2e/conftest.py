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
from parley_devtools.platform import Platform

sys.path.insert(0, str(Path(__file__).parent))

from e2e_parley_kit import options


async def _database(admin_url: str, name: str, drop: bool = False) -> None:
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
    an embedded nats-server and PostgreSQL of their own (or a fresh database on the server
    DATABASE_URL names, as the plugin does); stopped (by pid) after the module."""
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
    root = Path(tempfile.mkdtemp(prefix="parley-e2e-"))
    admin_url = os.environ.get("DATABASE_URL")
    name = "e2e_" + uuid.uuid4().hex[:12]
    url = None
    if admin_url:
        parts = urlsplit(admin_url)
        url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
        asyncio.run(_database(admin_url, name))
    stack = Platform(options(root, url, env))
    try:
        yield stack.start()
    finally:
        stack.stop()
        if admin_url:
            asyncio.run(_database(admin_url, name, drop=True))
        shutil.rmtree(root, ignore_errors=True)
