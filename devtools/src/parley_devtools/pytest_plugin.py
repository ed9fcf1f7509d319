"""pytest fixtures: real NATS and PostgreSQL for every test that asks for them, and an SMSC
simulator (`smsc`, `parley_devtools.smsc`) for SMPP tests.

`NATS_URL` / `DATABASE_URL`, when set, name servers to use; otherwise the embedded servers are
started on free loopback ports. Each test gets a fresh nats-server (they start in ~20 ms, and
a fresh server isolates streams completely) and a fresh database on a session-wide PostgreSQL.
`graph_api` and `rbm_api` start local fakes of the WhatsApp Cloud API and RBM networks;
`otlp_receiver` a local OTLP/HTTP trace receiver (`parley_devtools.fakes.otlp`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest

from parley_devtools.embedded import NatsServer, Postgres
from parley_devtools.fakes.graph_api import GraphApi
from parley_devtools.fakes.otlp import OtlpReceiver
from parley_devtools.fakes.rbm_api import RbmApi
from parley_devtools.nats_auth import AuthNatsServer, prepare

if TYPE_CHECKING:
    from parley_devtools.smsc import Smsc


def _replace_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@pytest.fixture
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer | None]:
    """A fresh embedded nats-server with JetStream, or None when NATS_URL names a server."""
    if os.environ.get("NATS_URL"):
        yield None
        return
    server = NatsServer(store_dir=tmp_path_factory.mktemp("nats")).start()
    try:
        yield server
    finally:
        server.stop(remove_store=True)


async def _delete_parley_streams(url: str) -> None:
    import nats
    from parley_shared.streams import load_definitions

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for definition in load_definitions():
            try:
                await js.delete_stream(definition["name"])
            except nats.js.errors.NotFoundError:
                continue
    finally:
        await nc.close()


@pytest.fixture
def nats_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthNatsServer]:
    """A fresh embedded nats-server with Parley's authentication on (operator mode, callout).

    Nothing connects without credentials: services use `server.files.creds(name)`; plain
    user/password connections go to the callout, which the test (or account-svc) must run.
    Always embedded: NATS_URL names a server whose auth this fixture cannot set up.
    """
    files = prepare(tmp_path_factory.mktemp("nats-auth"))
    server = AuthNatsServer(files, store_dir=files.directory / "store").start()
    try:
        yield server
    finally:
        server.stop(remove_store=True)


@pytest.fixture
def nats_url(nats_server: NatsServer | None) -> str:
    """URL of a NATS server with no Parley streams on it."""
    if nats_server is not None:
        return nats_server.url
    url = os.environ["NATS_URL"]
    asyncio.run(_delete_parley_streams(url))
    return url


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres | None]:
    """The session's embedded PostgreSQL, or None when DATABASE_URL names a server."""
    if os.environ.get("DATABASE_URL"):
        yield None
        return
    server = Postgres(data_dir=tmp_path_factory.mktemp("pg")).start()
    try:
        yield server
    finally:
        server.stop(remove_data=True)


@pytest.fixture
async def database_url(pg_server: Postgres | None) -> AsyncIterator[str]:
    """URL of a fresh, empty database, dropped after the test."""
    import asyncpg

    admin_url = pg_server.url if pg_server is not None else os.environ["DATABASE_URL"]
    name = "t_" + uuid.uuid4().hex[:16]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = pg_server.url_for(name) if pg_server is not None else _replace_database(admin_url, name)
    try:
        yield url
    finally:
        await _drop_database(admin_url, name)


async def _drop_database(admin_url: str, name: str) -> None:
    """Drop a test database, retrying when the server cuts the admin connection meanwhile.

    `WITH (FORCE)` terminates the database's remaining sessions; under load the admin session
    has been seen to be cut too ("connection was closed in the middle of operation"), although
    the drop went through. Cleanup is retried on a new connection rather than failing the test.
    """
    import asyncpg

    for attempt in range(3):
        try:
            conn = await asyncpg.connect(admin_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()
            return
        except (asyncpg.exceptions.ConnectionDoesNotExistError, OSError):
            if attempt == 2:
                raise
            await asyncio.sleep(0.5)


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    """A started SMSC simulator on a free loopback port (system_id `parley`, password
    `secret`), stopped after the test."""
    from parley_devtools.smsc import Smsc

    simulator = Smsc(system_id="parley", password="secret")  # noqa: S106 - a test SMSC
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.close()


@pytest.fixture
async def graph_api() -> AsyncIterator[GraphApi]:
    """A fake of Meta's Graph API (WhatsApp Cloud API) on a free loopback port."""
    fake: GraphApi = await GraphApi().start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def rbm_api() -> AsyncIterator[RbmApi]:
    """A fake of Google's RBM API and OAuth token endpoint on a free loopback port."""
    fake: RbmApi = await RbmApi().start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A local OTLP/HTTP trace receiver on a free loopback port, stopped after the test."""
    receiver = OtlpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
