"""SUBMIT messages, reports and timers whose message record cannot be read yet (a replica of a
replicated bucket answering a direct get before it has the write) are retried, not dropped;
those whose record never appears are terminated after a bounded number of deliveries."""

from __future__ import annotations

import io
import time
from typing import Any

import orjson
import pytest
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.ids import new_id
from parley_shared.timefmt import format_ts, now
from routing_svc import transitions
from routing_svc.adapters.kv import MESSAGES
from routing_svc.domain import records
from routing_svc.domain.lifecycle import LIVE, Attempt, Message
from routing_svc.domain.policy import Hop
from routing_testkit import NUMBER, Routing


def _logged(log: io.StringIO, event: str) -> int:
    """How many log lines name `event`."""
    lines = (orjson.loads(line) for line in log.getvalue().splitlines() if line.startswith("{"))
    return sum(1 for line in lines if line.get("event") == event)


def _record(message_id: str, account_id: str, *, sent: bool) -> bytes:
    """A stored SMS message: attempt 1 waiting for a worker, or (`sent`) waiting for its report."""
    at = format_ts(now())
    attempt = Attempt(1, "sms", at)
    if sent:
        ms = int(time.time() * 1000)
        attempt.status, attempt.route, attempt.sender = LIVE, "sms-1", "PARLEY"
        attempt.sent_ms, attempt.deadline_ms = ms, ms + 3_600_000
    msg = Message(
        id=message_id,
        account_id=account_id,
        enterprise_id=new_id("ent"),
        protection="store",
        to_masked="+91******3210",
        created_at=at,
        hops=[Hop("sms", "PARLEY", "non_strict", None, (), 86400, ())],
        attempts=[attempt],
        to=NUMBER,
        content={"text": "Your code is 4821"},
    )
    return records.dumps(msg)


async def _publish_input(routing: Routing, kind: str, message_id: str, account_id: str) -> None:
    """The SUBMIT message of attempt 1, or a `delivered` report for it."""
    if kind == "submit":
        body = {"m": message_id, "a": 1}
        await routing.js.publish(subjects.submit(account_id), orjson.dumps(body))
    else:
        body = {"m": message_id, "a": 1, "route": "sms-1", "outcome": "delivered"}
        body.update(reason=None, at=format_ts(now()))
        await routing.js.publish(subjects.report(message_id), orjson.dumps(body))


MISSING_EVENT = {"submit": "submitted_message_missing", "report": "report_for_unknown_message"}
CONSUMER = {
    "submit": (subjects.STREAM_SUBMIT, subjects.DURABLE_ROUTING_SUBMIT),
    "report": (subjects.STREAM_ROUTING_REPORTS, subjects.DURABLE_ROUTING_REPORTS),
}


@pytest.mark.parametrize("kind", ["submit", "report"])
async def test_input_whose_record_appears_late_is_processed(routing: Routing, kind: str) -> None:
    """A SUBMIT message or report delivered before its record is readable is retried, and
    takes effect once the record is there (it is not acked away)."""
    message_id, account_id = new_id("msg"), new_id("acc")
    await _publish_input(routing, kind, message_id, account_id)
    await eventually(lambda: _logged(routing.log, MISSING_EVENT[kind]) >= 1, 5)
    kv = await routing.js.key_value(MESSAGES)
    await kv.create(message_id, _record(message_id, account_id, sent=kind == "report"))
    final = await routing.events.final(message_id)
    assert (final["data"]["status"], final["data"]["attempt"]) == ("delivered", 1)
    assert _logged(routing.log, MISSING_EVENT[kind] + "_dropped") == 0


@pytest.mark.parametrize("kind", ["submit", "report"])
async def test_input_whose_record_never_appears_is_terminated(
    routing: Routing, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Without a record, the input is delivered MISSING_MAX_DELIVERIES times, then terminated
    with an error logged: nothing is left pending or redelivered."""
    monkeypatch.setattr(transitions, "MISSING_RETRY_S", 0.05)
    monkeypatch.setattr(transitions, "MISSING_MAX_DELIVERIES", 3)
    await _publish_input(routing, kind, new_id("msg"), new_id("acc"))
    dropped = MISSING_EVENT[kind] + "_dropped"
    await eventually(lambda: _logged(routing.log, dropped) == 1, 5)
    stream, durable = CONSUMER[kind]

    async def settled() -> bool:
        info: Any = await routing.js.consumer_info(stream, durable)
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    await eventually(settled, 5)
    assert _logged(routing.log, MISSING_EVENT[kind]) == 2  # deliveries 1 and 2 were naked
    assert _logged(routing.log, dropped) == 1
    state = (await routing.js.stream_info(stream)).state
    assert state.messages == 0  # a work queue: the terminated message is gone
