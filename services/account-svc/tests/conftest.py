"""Fixtures for account-svc tests: the service in-process on a loopback port, against real
NATS and PostgreSQL (from parley_devtools.pytest_plugin), and a logged-in API client."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from account_svc.bootstrap import create_app
from account_testkit import ADMIN_PASSWORD, ADMIN_USER, Api, make_settings
from aiohttp.test_utils import TestServer
from parley_shared.logging import configure_logging


@pytest.fixture
def log_stream() -> io.StringIO:
    """Everything the service logs during the test, as JSON lines."""
    stream = io.StringIO()
    configure_logging("account-svc", "DEBUG", json_output=True, stream=stream)
    return stream


@pytest.fixture
def account_settings() -> dict[str, Any]:
    """Setting overrides a test module may give before `api` starts the service."""
    return {}


@pytest.fixture
async def api(
    database_url: str, nats_url: str, log_stream: io.StringIO, account_settings: dict[str, Any]
) -> AsyncIterator[Api]:
    """account-svc running in-process, and a client logged in as the bootstrap admin."""
    settings = make_settings(database_url, nats_url, **account_settings)
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        client = Api(session, str(server.make_url("")).rstrip("/"), log=log_stream)
        client.token = await client.login(ADMIN_USER, ADMIN_PASSWORD)
        client.settings = settings  # type: ignore[attr-defined]
        client.app = server.app  # type: ignore[attr-defined]
        yield client
    await server.close()
