"""Fixtures for webhook-svc tests: NATS clients, a scripted receiver, and webhook-svc running
in-process on a loopback port against the test's own nats-server."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest
from parley_devtools.receiver import Receiver
from parley_shared.logging import configure_logging
from parley_shared.sealing import MasterKey, generate_master_key
from parley_shared.streams import ensure_streams
from webhook_svc.bootstrap import Service
from webhook_testkit import ServiceRunner

StartService = Callable[..., Awaitable[Service]]


@pytest.fixture
def log_stream() -> io.StringIO:
    """Everything the service logs during the test, as JSON lines."""
    stream = io.StringIO()
    configure_logging("webhook-svc", "DEBUG", json_output=True, stream=stream)
    return stream


@pytest.fixture
def master_key_b64() -> str:
    """The test's PARLEY_MASTER_KEY."""
    return generate_master_key()


@pytest.fixture
def master(master_key_b64: str) -> MasterKey:
    """The test's master key, to seal account secrets with."""
    return MasterKey.from_b64(master_key_b64)


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A NATS connection for the test itself, with the streams in place."""
    conn = await nats.connect(nats_url)
    await ensure_streams(conn.jetstream())
    yield conn
    await conn.close()


@pytest.fixture
def js(nc: Any) -> Any:
    """The test's JetStream context."""
    return nc.jetstream()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A scripted webhook receiver on loopback."""
    rec = await Receiver().start()
    yield rec
    await rec.stop()


@pytest.fixture
async def start_service(
    nats_url: str, master_key_b64: str, log_stream: io.StringIO
) -> AsyncIterator[StartService]:
    """Start webhook-svc in-process (settings overridable); every one is stopped at the end."""
    runner = ServiceRunner(nats_url, master_key_b64)

    async def start(roles: tuple[str, ...] = ("worker", "api"), **overrides: Any) -> Service:
        service: Service = await runner.start(roles, **overrides)
        return service

    yield start
    await runner.close()
