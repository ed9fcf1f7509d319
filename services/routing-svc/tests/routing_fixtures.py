"""routing-svc's pytest fixtures, importable by any test module (`from routing_fixtures import
routing`): the service in-process on a loopback port against a real NATS (from
parley_devtools.pytest_plugin), an account publisher, an API client and an event collector.
routing-svc's own conftest.py imports them all; cross-service suites (tests/abuse) import the
ones they use."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import nats
import pytest
from aiohttp.test_utils import TestServer
from parley_shared.logging import configure_logging
from parley_shared.sealing import MasterKey, generate_master_key
from routing_svc.bootstrap import create_app
from routing_testkit import AccountPublisher, Api, Events, Routing, make_settings


@pytest.fixture
def log_stream() -> io.StringIO:
    """Everything the service logs during the test, as JSON lines."""
    stream = io.StringIO()
    configure_logging("routing-svc", "DEBUG", json_output=True, stream=stream)
    return stream


@pytest.fixture
def master_key() -> str:
    """A fresh PARLEY_MASTER_KEY."""
    return generate_master_key()


@pytest.fixture
def routing_settings() -> dict[str, Any]:
    """Setting overrides a test may fill in before `routing` starts the service."""
    return {}


@pytest.fixture
async def routing(
    nats_url: str, master_key: str, log_stream: io.StringIO, routing_settings: dict[str, Any]
) -> AsyncIterator[Routing]:
    """routing-svc running in-process (sandbox provider), ready, with a NATS client beside it."""
    settings = make_settings(nats_url, master_key, **routing_settings)
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    events = await Events().start(nc)
    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"))
        publisher = AccountPublisher(js, MasterKey.from_b64(master_key))
        yield Routing(api, publisher, events, nc, js, master_key, nats_url, log_stream)
    await nc.close()
    await server.close()


@pytest.fixture
def sandbox(routing: Routing) -> Callable[..., Any]:
    """PUT a sandbox recipient: `await sandbox(number, capabilities=[...], outcomes={...})`."""

    async def put(number: str, **recipient: Any) -> dict[str, Any]:
        status, body = await routing.api.call("PUT", f"/v1/sandbox/recipients/{number}", recipient)
        assert status == 200, body
        result: dict[str, Any] = body
        return result

    return put
