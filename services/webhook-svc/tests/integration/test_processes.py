"""Real worker processes: SIGKILL in the middle of a batch, a waiting retry across a SIGKILL,
and two workers sharing one durable consumer."""

from __future__ import annotations

import collections
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from parley_devtools.account_events import status_hook
from parley_devtools.processes import Child
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from webhook_testkit import Account, metric, publish_events, status_event, worker_process

MakeWorker = Callable[..., Child]


@pytest.fixture
async def make_worker(
    nats_url: str, master_key_b64: str, tmp_path: Path
) -> AsyncIterator[MakeWorker]:
    """Worker processes for this test, all stopped at the end."""
    workers: list[Child] = []

    def make(**env: str) -> Child:
        worker = worker_process(nats_url, master_key_b64, tmp_path, **env)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


def _report_duplicates(ids: list[str]) -> int:
    duplicates = {i: n for i, n in collections.Counter(ids).items() if n > 1}
    print(
        f"received {len(ids)} events, {len(set(ids))} distinct, {len(duplicates)} duplicated",
        file=sys.stderr,
    )
    return len(duplicates)


async def test_sigkill_mid_batch_then_restart_delivers_every_event(
    js: Any, master: Any, receiver: Receiver, make_worker: MakeWorker
) -> None:
    """A worker SIGKILLed with batches in flight loses nothing once a new one runs."""
    hook = status_hook(receiver.url("/k"), batch={"enabled": True, "max_events": 50})
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    receiver.delays["/k"] = 0.1
    events = [status_event(account.account_id) for _ in range(3000)]
    await publish_events(js, events)
    first = await make_worker(WEBHOOK_ENDPOINT_CONCURRENCY="2").started()
    await eventually(lambda: len(receiver.event_ids("/k")) >= 500, 20, "500 delivered")
    await eventually(lambda: receiver.in_flight > 0, 5, "a batch in flight")
    first.kill()
    in_flight_at_kill = receiver.in_flight
    assert in_flight_at_kill > 0
    await make_worker().started()
    expected = {e["id"] for e in events}
    await eventually(lambda: set(receiver.event_ids("/k")) == expected, 40, "every event")
    duplicates = _report_duplicates(receiver.event_ids("/k"))
    assert duplicates <= len(events) - 500  # only what the dead worker had not acknowledged


async def test_waiting_retry_survives_sigkill(
    js: Any, master: Any, receiver: Receiver, make_worker: MakeWorker
) -> None:
    """A retry scheduled before a SIGKILL is still attempted, by the next worker, same id."""
    account = Account(master, status_webhook=status_hook(receiver.url("/s")))
    await account.publish(js)
    receiver.script("/s", [500])
    worker = await make_worker(WEBHOOK_RETRY_SCHEDULE="1.5").started()
    event = status_event(account.account_id)
    await publish_events(js, [event])

    async def scheduled_and_acked() -> bool:
        retry = await js.stream_info(subjects.STREAM_WEBHOOK_RETRY)
        status = await js.consumer_info(subjects.STREAM_STATUS, subjects.DURABLE_WEBHOOK_STATUS)
        return bool(retry.state.messages == 1 and status.num_ack_pending == 0)

    await eventually(lambda: len(receiver.on("/s")) == 1, 10, "first try")
    await eventually(scheduled_and_acked, 5, "retry scheduled, event acknowledged")
    worker.kill()
    await make_worker(WEBHOOK_RETRY_SCHEDULE="1.5").started()
    await eventually(lambda: len(receiver.on("/s")) == 2, 10, "retry after the crash")
    first, retried = receiver.on("/s")
    assert retried.headers["webhook-id"] == first.headers["webhook-id"] == event["id"]
    assert retried.body == first.body


async def test_two_workers_share_the_load(
    js: Any, master: Any, receiver: Receiver, make_worker: MakeWorker
) -> None:
    """Two worker processes on one durable consumer each deliver part, together all of it."""
    accounts = [
        Account(
            master,
            status_webhook=status_hook(
                receiver.url(f"/w{i}"), batch={"enabled": True, "max_events": 10}
            ),
        )
        for i in range(4)
    ]
    for account in accounts:
        await account.publish(js)
        receiver.delays[f"/w{accounts.index(account)}"] = 0.01
    workers = [await make_worker(WEBHOOK_FETCH_BATCH="50").started() for _ in range(2)]
    events = [status_event(a.account_id) for _ in range(500) for a in accounts]
    await publish_events(js, events)
    paths = [f"/w{i}" for i in range(4)]
    await eventually(
        lambda: sum(len(receiver.event_ids(p)) for p in paths) >= len(events), 30, "every event"
    )
    delivered = [await metric(w, "parley_webhook_events_delivered_total") for w in workers]
    print(f"events delivered per worker: {delivered}", file=sys.stderr)
    assert all(count > 0 for count in delivered)
    assert sum(delivered) >= len(events)
    ids = [i for p in paths for i in receiver.event_ids(p)]
    assert set(ids) == {e["id"] for e in events}
