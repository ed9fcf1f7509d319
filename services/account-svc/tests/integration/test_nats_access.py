"""account-svc admits integrators on an authenticated NATS and keeps their NATS side
(CONTRACT section 10): the account's consumers appear with it, a replaced API key or a deleted
account is refused at once and its open connections are closed within 10 s."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import nats
import pytest
from account_svc.adapters.nats_access import NatsAccess
from account_svc.bootstrap import HOLDER, create_app
from account_testkit import ADMIN_PASSWORD, ADMIN_USER, Api, make_settings, make_tenant, seed_for
from aiohttp import web
from aiohttp.test_utils import TestServer
from parley_devtools.nats_auth import AuthNatsServer
from parley_devtools.waiting import eventually
from parley_runtime.natsauth.permissions import JS_PREFIX


@pytest.fixture
async def auth_service(
    database_url: str,
    nats_auth: AuthNatsServer,
    log_stream: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Api, web.Application]]:
    """account-svc in-process on an authenticated NATS, running the callout and provisioner:
    its API client and its application."""
    for name, value in nats_auth.files.service_env("account-svc").items():
        monkeypatch.setenv(name, value)
    settings = make_settings(
        database_url,
        nats_auth.url,
        ACCOUNT_NATS_AUTHORITY_FILE=str(nats_auth.files.authority_json),
    )
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        client = Api(session, str(server.make_url("")).rstrip("/"), log=log_stream)
        client.token = await client.login(ADMIN_USER, ADMIN_PASSWORD)
        yield client, app
    await server.close()


@pytest.fixture
def auth_api(auth_service: tuple[Api, web.Application]) -> Api:
    """account-svc's API client (see `auth_service`)."""
    return auth_service[0]


async def _integrator(url: str, account_id: str, key: str, **kw: Any) -> Any:
    return await nats.connect(
        url,
        user=account_id,
        password=key,
        inbox_prefix=f"_INBOX.{account_id}",
        allow_reconnect=kw.pop("allow_reconnect", False),
        max_reconnect_attempts=0,
        **kw,
    )


async def _connect_when_ready(url: str, account_id: str, key: str) -> Any:
    """Connect as soon as the account's NATS side exists; the connection."""

    async def connected() -> Any:
        try:
            return await _integrator(url, account_id, key)
        except nats.errors.Error:
            return None

    return await eventually(connected, what=f"{account_id} to connect", step_s=0.02)


async def _refused(url: str, account_id: str, key: str) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await _integrator(url, account_id, key)


CUT_WITHIN_S = 10.0
"""CONTRACT 10: an open connection of a replaced key or a deleted account is closed within 10 s
(a bound of the contract, not a speed target: how fast it is, `make bench` nats_rotation_to_cut)."""


async def _closed(nc: Any) -> None:
    """Until the server closed the connection, failing past the contract's bound."""
    await eventually(
        lambda: not nc.is_connected, within_s=CUT_WITHIN_S, what="the connection to be closed"
    )


async def _create_account(api: Api) -> tuple[str, str]:
    tenant = await make_tenant(api)
    status, data = await api.call("POST", "/v1/accounts", seed_for(tenant))
    assert status == 201, data
    return data["account"]["id"], data["api_key"]


async def test_a_new_account_connects_and_reads_its_durable_consumers(
    auth_api: Api, nats_auth: AuthNatsServer
) -> None:
    """Created account: its id and API key connect, and its consumers answer via JS.PARLEY.API."""
    account_id, key = await _create_account(auth_api)
    nc = await _connect_when_ready(nats_auth.url, account_id, key)
    try:
        js = nc.jetstream(prefix=JS_PREFIX)
        for stream in ("STATUS", "INBOUND"):

            async def consumer(stream: str = stream) -> Any:
                try:
                    return await js.consumer_info(stream, account_id)
                except (nats.errors.TimeoutError, nats.js.errors.NotFoundError):
                    return None

            info = await eventually(consumer, what=f"the consumer on {stream}", step_s=0.05)
            assert info.config.filter_subject.endswith("." + account_id)
            assert info.config.deliver_subject is None  # pull: nothing is pushed anywhere
    finally:
        await nc.close()
    await _refused(nats_auth.url, account_id, key + "x")


async def test_a_connect_racing_the_accounts_nats_side_waits_for_it(
    auth_service: tuple[Api, web.Application], nats_auth: AuthNatsServer
) -> None:
    """A connect made before the provisioner has made the account's NATS side is held by the
    callout until it exists, and goes through on that first attempt (the server alone would
    refuse a user of an account it does not know yet, ~2 s later)."""
    api, app = auth_service
    access: NatsAccess = app[HOLDER]["nats_access"]
    assert access.provisioner is not None
    # The NATS side of what is created now waits; at once: a stopped provisioner leaves no
    # pull request open on the server that the event could be handed to.
    await access.provisioner.stop()
    account_id, key = await _create_account(api)
    connecting = asyncio.create_task(_integrator(nats_auth.url, account_id, key))
    await asyncio.sleep(0.3)
    assert not connecting.done()  # held by the callout, not refused
    await access.provisioner.start()
    nc = await connecting
    try:
        assert nc.is_connected
    finally:
        await nc.close()


async def test_a_replaced_key_is_refused_at_once_and_its_connections_closed(
    auth_api: Api, nats_auth: AuthNatsServer
) -> None:
    """After POST /api-keys the old key connects no more and its connection is closed; the new
    key connects."""
    account_id, old = await _create_account(auth_api)
    nc = await _connect_when_ready(nats_auth.url, account_id, old)
    status, body = await auth_api.call("POST", f"/v1/accounts/{account_id}/api-keys")
    assert status == 201, body
    await _refused(nats_auth.url, account_id, old)
    await _closed(nc)
    fresh = await _connect_when_ready(nats_auth.url, account_id, body["api_key"])
    assert fresh.is_connected
    await fresh.close()


async def test_a_deleted_account_is_refused_and_its_connections_closed(
    auth_api: Api, nats_auth: AuthNatsServer
) -> None:
    """After DELETE the key connects no more, its connection is closed and its consumers are
    gone."""
    account_id, key = await _create_account(auth_api)
    nc = await _connect_when_ready(nats_auth.url, account_id, key)
    status, _ = await auth_api.call("DELETE", f"/v1/accounts/{account_id}")
    assert status == 204
    await _refused(nats_auth.url, account_id, key)
    await _closed(nc)
    admin = await nats.connect(nats_auth.url, user_credentials=str(nats_auth.files.creds("admin")))
    try:
        js = admin.jetstream()

        async def consumers_gone() -> bool:
            names = [c.name for s in ("STATUS", "INBOUND") for c in await js.consumers_info(s)]
            return account_id not in names

        await eventually(consumers_gone, what="the deleted account's consumers to go")
    finally:
        await admin.close()


async def test_an_unreadable_event_does_not_hold_up_the_others(
    auth_api: Api, nats_auth: AuthNatsServer
) -> None:
    """A config event the provisioner cannot read is set aside; accounts created after it
    still get their NATS side (one event at a time would otherwise wait on it forever)."""
    owner = await nats.connect(
        nats_auth.url,
        user_credentials=str(nats_auth.files.creds("account-svc")),
        inbox_prefix="_INBOX.account-svc",
    )
    try:
        await owner.jetstream().publish("parley.account.v1.config.acc_broken", b"{not json")
    finally:
        await owner.close()
    account_id, key = await _create_account(auth_api)
    nc = await _connect_when_ready(nats_auth.url, account_id, key)
    await nc.close()


async def test_a_stop_does_not_wait_out_the_connections_drain(
    database_url: str, nats_auth: AuthNatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its provisioner has polled a while, account-svc stops without waiting out the
    drain's 5 s timeout: nothing is left on its connection for the drain to wait on. (nats-py's
    `fetch` took messages off its queue without marking them done, and a stop then took 5.0 s;
    a close takes ~0.01 s, so the 4 s bound leaves room for a loaded machine.)"""
    for name, value in nats_auth.files.service_env("account-svc").items():
        monkeypatch.setenv(name, value)
    settings = make_settings(
        database_url, nats_auth.url, ACCOUNT_NATS_AUTHORITY_FILE=str(nats_auth.files.authority_json)
    )
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        await asyncio.sleep(3)  # pull requests expire and are asked again meanwhile
    finally:
        began = time.monotonic()
        await server.close()  # (a timeout around it would not tell: nats-py swallows the cancel)
    assert time.monotonic() - began < 4.0  # a drain that times out takes 5 s (CLOSE_TIMEOUT_S)
