"""The short version of `make chaos`, run by `make test`: the whole platform as real processes
on loopback (embedded NATS and PostgreSQL), each scenario counting every message and event by id
and asserting that nothing accepted is lost (duplicates are allowed, and printed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from parley_devtools.chaos.platform import Options, Platform
from parley_devtools.chaos.receiver import Receiver
from parley_devtools.chaos.scenarios import kills, postgres_restart, receiver_outage, smsc_drops
from parley_devtools.chaos.smpp import smpp_options
from parley_devtools.chaos.tally import Row, table
from parley_devtools.smsc import Smsc

pytestmark = pytest.mark.slow


@asynccontextmanager
async def platform(retry_schedule: str = "1,2,4") -> AsyncIterator[tuple[Platform, Receiver]]:
    """A running platform and a listening receiver, both stopped on exit."""
    p = Platform(Options(retry_schedule=retry_schedule))
    receiver = Receiver()
    await receiver.start()
    try:
        await p.start()
        yield p, receiver
    finally:
        await receiver.stop()
        p.close()


def check(row: Row) -> None:
    """Print the row and assert zero loss."""
    print(table([row]))
    assert row.accepted > 0, row
    assert row.lost == 0, table([row])
    assert row.final == row.accepted, table([row])


@pytest.mark.timeout(150)
async def test_each_service_killed_under_load_loses_nothing() -> None:
    """600 messages at 60/s while account-svc, routing-svc and webhook-svc are each SIGKILLed and
    restarted: every accepted message has one final event and every subscribed event arrives."""
    async with platform() as (p, receiver):
        check(await kills(p, receiver, 600, 60))


@pytest.mark.timeout(120)
async def test_postgres_restart_loses_no_config_change() -> None:
    """PATCHes in a loop across a PostgreSQL stop/start: every version answered 200 reaches
    ACCOUNTS and the outbox drains."""
    async with platform() as (p, _receiver):
        row = await postgres_restart(p, seconds=6.0)
        check(row)
        assert row.delivered == row.accepted


@pytest.mark.timeout(150)
async def test_receiver_outage_events_delivered_or_replayed() -> None:
    """The receiver down 5 s with retries of 1 s: every event is delivered, or dead-lettered and
    replayed through account-svc, and nothing is silently dropped."""
    async with platform(retry_schedule="1,1,1") as (p, receiver):
        check(await receiver_outage(p, receiver, 500, 100, 5.0))


@pytest.mark.timeout(150)
async def test_smsc_dropping_every_connection_twice_loses_nothing() -> None:
    """SMS over SMPP to the SMSC simulator: 600 messages at 60/s while the SMSC drops every
    connection twice; every accepted message still reaches one final status."""
    smsc = Smsc(record=False, deliver_patience_s=120)
    await smsc.start()
    p = Platform(smpp_options(smsc))
    receiver = Receiver()
    await receiver.start()
    try:
        await p.start()
        check(await smsc_drops(p, receiver, smsc, 600, 60))
    finally:
        await receiver.stop()
        p.close()
        await smsc.close()
