"""webhook-svc's part of a message's trace, in-process on a real NATS: a batch's attempt is
the child of its first event's `traceparent` header and linked to the others', its retry (a
WEBHOOK_RETRY schedule) the child of the failed attempt, a dead letter's replay the child of
(FastStream's span of) the request that asked for it; an attempt's log lines carry its trace."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_runtime import tracing
from parley_shared import subjects
from webhook_testkit import (
    Account,
    dead_letters,
    log_lines,
    status_event,
)

FIRST = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SECOND = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass
class Traced:
    """What a tracing test reads: the spans, the service's log lines, a NATS client."""

    spans: InMemorySpanExporter
    log: io.StringIO
    nc: Any

    def finished(self) -> tuple[ReadableSpan, ...]:
        """The spans finished so far (flushed)."""
        tracing.flush()
        return self.spans.get_finished_spans()


@pytest.fixture
def traced(log_stream: io.StringIO, nc: Any) -> Iterator[Traced]:
    """Tracing on (spans kept in memory) for a webhook-svc started after it; off afterwards."""
    exporter = InMemorySpanExporter()
    tracing.configure("webhook-svc", exporter=exporter)
    try:
        yield Traced(exporter, log_stream, nc)
    finally:
        tracing.shutdown()


def deliveries(traced: Traced) -> list[ReadableSpan]:
    """The `deliver webhook` spans finished so far, by attempt."""
    found = [s for s in traced.finished() if s.name == "deliver webhook"]
    return sorted(found, key=lambda s: (s.attributes or {}).get("parley.attempt", 0))


def hexes(span: ReadableSpan) -> tuple[str, str, str | None]:
    """(trace id, span id, parent span id) in hex."""
    parent = format(span.parent.span_id, "016x") if span.parent is not None else None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x"), parent


async def publish(js: Any, event: dict[str, Any], traceparent: str) -> None:
    """A status event on STATUS with its `traceparent` header, as routing-svc publishes it."""
    headers = {subjects.HEADER_MSG_ID: event["id"], "traceparent": traceparent}
    subject = subjects.status(event["data"]["account_id"])
    await js.publish(subject, orjson.dumps(event), headers=headers)


async def test_a_batch_follows_its_first_event_and_its_retry_follows_the_failed_attempt(
    traced: Traced, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Two events of two traces in one batch: the attempt's parent is the first's span, the
    second is linked; the receiver's 503 makes a retry whose attempt is the failed one's
    child; the failure's log line names the first trace."""
    receiver.script("/t", [503])
    hook = status_hook(receiver.url("/t"), batch={"enabled": True, "max_events": 2})
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    await start_service(batch_eager=False)
    await publish(js, status_event(account.account_id, "sent"), FIRST)
    await publish(js, status_event(account.account_id, "delivered"), SECOND)
    await eventually(lambda: len(deliveries(traced)) == 2, 10, "an attempt and its retry")
    failed, retry = deliveries(traced)
    assert (failed.attributes or {})["parley.events"] == 2
    assert (failed.attributes or {})["http.response.status_code"] == 503
    assert hexes(failed)[0] == FIRST.split("-")[1]
    assert hexes(failed)[2] == FIRST.split("-")[2]
    (link,) = failed.links
    assert format(link.context.trace_id, "032x") == SECOND.split("-")[1]
    assert format(link.context.span_id, "016x") == SECOND.split("-")[2]
    assert hexes(retry)[0] == hexes(failed)[0]
    assert hexes(retry)[2] == hexes(failed)[1]  # through WEBHOOK_RETRY's schedule headers
    assert (retry.attributes or {})["parley.attempt"] == 2
    assert (retry.attributes or {})["parley.delivered"] is True
    (line,) = log_lines(traced.log, "webhook_attempt_failed")
    assert line["trace_id"] == FIRST.split("-")[1]
    assert line["span_id"] == hexes(failed)[1]


async def test_a_replay_is_the_child_of_the_request_that_asked_for_it(
    traced: Traced, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """A dead letter replayed by a request carrying a `traceparent` (account-svc's) is
    delivered in a span under FastStream's span of that request, in the caller's trace."""
    receiver.script("/d", [500])
    account = Account(master, status_webhook=status_hook(receiver.url("/d"), retries=0))
    await account.publish(js)
    await start_service()
    await publish(js, status_event(account.account_id, "sent"), FIRST)
    letters: list[dict[str, Any]] = []

    async def dead() -> bool:
        letters[:] = await dead_letters(traced.nc, account.account_id)
        return len(letters) == 1

    await eventually(dead, 10, "a dead letter")
    body = {"account_id": account.account_id, "dead_letter_id": letters[0]["id"]}
    reply = await traced.nc.request(
        subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
        orjson.dumps(body),
        timeout=5,
        headers={"traceparent": SECOND},
    )
    assert orjson.loads(reply.data) == {"status": 202}
    await eventually(lambda: len(deliveries(traced)) == 2, 10, "the replay's attempt")
    replay = "parley.webhook.v1.dead_letters.replay process"  # FastStream's telemetry span
    (asked,) = [s for s in traced.finished() if s.name == replay]
    assert hexes(asked)[0] == SECOND.split("-")[1]
    assert hexes(asked)[2] == SECOND.split("-")[2]
    replayed = deliveries(traced)[-1]
    assert hexes(replayed)[2] == hexes(asked)[1]
    assert (replayed.attributes or {})["parley.delivered"] is True
