"""The short version of `make chaos`, run by `make test`: the whole platform as real processes
on loopback (embedded NATS and PostgreSQL), each scenario counting every message and event by id
and asserting that nothing accepted is lost (duplicates are allowed, and printed)."""

from __future__ import annotations

import pytest
from parley_devtools.chaos.options import options
from parley_devtools.chaos.scenarios import (
    kills,
    postgres_restart,
    receiver_outage,
    restarts,
    running,
    running_over_smpp,
    smsc_drops,
)
from parley_devtools.chaos.tally import Row, table
from parley_devtools.platform import Platform

pytestmark = pytest.mark.slow


def check(row: Row, p: Platform | None = None) -> None:
    """Print the row and assert zero loss; on a loss, with the last lines of every service's
    log (ids only: no log line holds a number or a message's content)."""
    print(table([row]))
    assert row.accepted > 0, row
    logs = f"\n{p.tails(80)}" if p is not None and row.lost else ""
    assert row.lost == 0, table([row]) + logs
    assert row.final == row.accepted, table([row])


@pytest.mark.timeout(150)
async def test_each_service_killed_under_load_loses_nothing() -> None:
    """600 messages at 60/s while account-svc, routing-svc and webhook-svc are each SIGKILLed and
    restarted: every accepted message has one final event and every subscribed event arrives."""
    async with running(options()) as (p, receiver):
        check(await kills(p, receiver, 600, 60), p)


@pytest.mark.timeout(150)
async def test_each_service_restarted_by_sigterm_under_load_gives_up_on_nothing() -> None:
    """600 messages at 60/s while each service is stopped with SIGTERM (a deploy) and started
    again: nothing lost, each exits by itself, and no message ends in a poison stream (a
    stopping consumer's given-back messages once went round to itself, past `max_deliver`)."""
    async with running(options()) as (p, receiver):
        row = await restarts(p, receiver, 600, 60)
        check(row, p)
        assert not row.failed_checks, table([row])


@pytest.mark.timeout(120)
async def test_postgres_restart_loses_no_config_change() -> None:
    """PATCHes in a loop across a PostgreSQL stop/start: every version answered 200 reaches
    ACCOUNTS and the outbox drains."""
    async with running(options()) as (p, _receiver):
        row = await postgres_restart(p, seconds=6.0)
        check(row)
        assert row.delivered == row.accepted


@pytest.mark.timeout(150)
async def test_receiver_outage_events_delivered_or_replayed() -> None:
    """The receiver down 5 s with retries of 1 s: every event is delivered, or dead-lettered and
    replayed through account-svc, and nothing is silently dropped."""
    async with running(options("1,1,1")) as (p, receiver):
        check(await receiver_outage(p, receiver, 500, 100, 5.0), p)


@pytest.mark.timeout(150)
async def test_smsc_dropping_every_connection_twice_loses_nothing() -> None:
    """SMS over SMPP to the SMSC simulator: 600 messages at 60/s while the SMSC drops every
    connection twice; every accepted message still reaches one final status."""
    async with running_over_smpp() as (p, receiver, smsc):
        check(await smsc_drops(p, receiver, smsc, 600, 60), p)


@pytest.mark.timeout(150)
async def test_each_service_restarted_by_sigterm_over_smpp_sends_nothing_twice() -> None:
    """Scenario g over SMPP: 600 messages at 60/s while each service is stopped with SIGTERM
    and started again; nothing lost, each exits by itself, and the SMSC simulator is sent no
    message twice (routing-svc unbinds cleanly, leaving no send in doubt)."""
    async with running_over_smpp() as (p, receiver, smsc):
        row = await restarts(p, receiver, 600, 60, smsc)
        check(row, p)
        assert not row.failed_checks, table([row])
