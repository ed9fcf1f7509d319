"""routing-svc's part of a message's trace, in-process on a real NATS: every hop is parent and
child (HTTP -> SUBMIT -> DR TTL timer schedule -> the fallback's SUBMIT; an SMPP receipt under
the context the record kept; the NATS send API), STATUS events carry the context in their
headers, the operator's trace answers the trace id; and with tracing off nothing of it exists."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from parley_devtools.smsc import Smsc
from parley_runtime import tracing
from parley_shared import subjects
from routing_testkit import NUMBER, Routing, eventually, fallback

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PASSWORD_ENV = "PARLEY_TEST_TRACE_SMSC_PASSWORD"


@pytest.fixture
def traced(log_stream: io.StringIO) -> Iterator[InMemorySpanExporter]:
    """Tracing on (spans kept in memory) for a routing-svc started after it; off afterwards."""
    exporter = InMemorySpanExporter()
    tracing.configure("routing-svc", exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


def spans_of(exporter: InMemorySpanExporter, message_id: str) -> list[ReadableSpan]:
    """The finished spans that name the message, after a flush."""
    tracing.flush()
    return [
        span
        for span in exporter.get_finished_spans()
        if (span.attributes or {}).get("parley.message_id") == message_id
    ]


def ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    """(trace id, span id, parent span id) in hex."""
    parent = format(span.parent.span_id, "016x") if span.parent is not None else None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x"), parent


class Published:
    """Every message on the STATUS and SUBMIT subjects, with its headers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    async def start(self, nc: Any) -> Published:
        async def keep(msg: Any) -> None:
            self.seen.append((msg.subject, dict(msg.headers or {}), orjson.loads(msg.data)))

        for subject in (subjects.STATUS_ALL, f"{subjects.SUBMIT_PREFIX}.>"):
            await nc.subscribe(subject, cb=keep)
        await nc.flush()
        return self

    def status(self, message_id: str) -> list[tuple[str, dict[str, str]]]:
        """(event type, headers) of the message's status events."""
        return [
            (data["type"], headers)
            for subject, headers, data in self.seen
            if subject.startswith(subjects.STATUS_PREFIX) and data.get("subject") == message_id
        ]


async def ask_trace(routing: Routing, message_id: str) -> dict[str, Any]:
    """The operator API's trace of a message."""
    body = orjson.dumps({"message_id": message_id})
    reply = await routing.nc.request(subjects.ROUTING_MESSAGES_TRACE, body, timeout=5)
    answer: dict[str, Any] = orjson.loads(reply.data)["message"]
    return answer


@pytest.mark.parametrize("routing_settings", [{"timer_grace_seconds": 0.2}])
async def test_a_fallback_after_a_dr_ttl_is_one_chain_of_spans(
    traced: InMemorySpanExporter, routing: Routing, sandbox: Callable[..., Any]
) -> None:
    """HTTP (continuing the caller's traceparent) -> route attempt 1 -> its DR TTL timer (a
    message schedule) -> route attempt 2 (SUBMIT from the timer's step) -> provider send: each
    the child of the one before, one trace; STATUS events carry it; the trace answer names it."""
    published = await Published().start(routing.nc)
    await sandbox(NUMBER, outcomes={"rcs": "no_report"})
    account = await routing.account(
        ["rcs", "sms"], {"rcs": {"fallback": fallback("sms", 1, "dr_ttl_expired")}}
    )
    status, answer = await routing.api.call(
        "POST",
        "/v1/messages",
        {"to": NUMBER, "channel": "rcs", "content": {"text": "hi"}},
        key=account.api_key,
        headers={"traceparent": PARENT},
    )
    assert status == 202, answer
    message_id = answer["message_id"]
    await routing.events.final(message_id, within_s=15)

    def chain() -> list[ReadableSpan]:
        names = [s.name for s in spans_of(traced, message_id)]
        return spans_of(traced, message_id) if names.count("provider send") == 2 else []

    await eventually(chain, 10)
    spans = chain()
    by_id = {ids(span)[1]: span for span in spans}
    server = next(s for s in traced.get_finished_spans() if s.name == "POST /v1/messages")
    assert ids(server)[0] == TRACE_ID
    assert ids(server)[2] == "00f067aa0ba902b7"

    def parent(span: ReadableSpan) -> tuple[str, Any]:
        above = by_id[ids(span)[2] or ""]
        return above.name, (above.attributes or {}).get("parley.attempt")

    for sent in (s for s in spans if s.name == "provider send"):
        assert parent(sent) == ("route attempt", (sent.attributes or {})["parley.attempt"])
    attempts = [s for s in spans if s.name == "route attempt"]
    (second,) = [s for s in attempts if (s.attributes or {})["parley.attempt"] == 2]
    assert parent(second) == ("expire attempt", 1)  # the fallback's SUBMIT, from the timer's step
    timer = by_id[ids(second)[2] or ""]
    assert parent(timer) == ("route attempt", 1)  # ROUTING_TIMERS, through the schedule
    first = by_id[ids(timer)[2] or ""]
    assert ids(first)[2] == ids(server)[1]  # SUBMIT, from the HTTP request
    assert {ids(s)[0] for s in spans} == {TRACE_ID}
    events = published.status(message_id)
    assert [kind.rsplit(".", 1)[-1] for kind, _ in events] == [
        "sent",
        "fallback",
        "sent",
        "delivered",
    ]
    assert {tracing.trace_id_of(headers["traceparent"]) for _, headers in events} == {TRACE_ID}
    assert (await ask_trace(routing, message_id))["trace_id"] == TRACE_ID


@pytest.fixture
def smpp_route(
    smsc: Smsc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, routing_settings: dict[str, Any]
) -> None:
    """A routes file with one SMPP route at the simulator (before `routing` starts)."""
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    route = {
        "name": "sms-smsc",
        "channel": "sms",
        "capacity_per_s": 200,
        "provider": "smpp",
        "smpp": {"host": smsc.host, "port": smsc.port, "system_id": "parley"}
        | {"password_env": PASSWORD_ENV},
    }
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"routes": [route]}), "utf-8")
    routing_settings["routes_file"] = path


async def test_an_smpp_receipt_joins_the_trace_the_record_kept(
    traced: InMemorySpanExporter, smpp_route: None, routing: Routing
) -> None:
    """A receipt comes from the SMSC without any trace context: its `apply receipt` span is
    put under the span that accepted the message (kept in the record), and the `delivered`
    event it causes carries that trace."""
    published = await Published().start(routing.nc)
    account = await routing.account(["sms"])
    status, answer = await routing.api.call(
        "POST",
        "/v1/messages",
        {"to": NUMBER, "channel": "sms", "content": {"text": "hi"}},
        key=account.api_key,
        headers={"traceparent": PARENT},
    )
    assert status == 202, answer
    message_id = answer["message_id"]
    await routing.events.final(message_id, within_s=15)
    tracing.flush()
    server = next(s for s in traced.get_finished_spans() if s.name == "POST /v1/messages")

    def receipt() -> list[ReadableSpan]:
        tracing.flush()
        return [s for s in traced.get_finished_spans() if s.name == "apply receipt"]

    await eventually(receipt, 10)
    (applied,) = receipt()
    assert ids(applied)[0] == TRACE_ID
    assert ids(applied)[2] == ids(server)[1]
    (delivered,) = [h for kind, h in published.status(message_id) if kind.endswith("delivered")]
    assert delivered["traceparent"].split("-")[1:3] == [TRACE_ID, ids(applied)[1]]


async def test_the_nats_send_continues_the_callers_trace(
    traced: InMemorySpanExporter, routing: Routing
) -> None:
    """A send over NATS with a `traceparent` header is a `send over NATS` span in the caller's
    trace, and the message's route attempt its child through SUBMIT."""
    account = await routing.account(["sms"])
    body = {"to": NUMBER, "channel": "sms", "content": {"text": "hi"}}
    nc = await nats.connect(routing.nats_url, inbox_prefix=f"_INBOX.{account.account_id}")
    try:
        reply = await nc.request(
            subjects.API_MESSAGES_SEND,
            orjson.dumps(body),
            timeout=5,
            headers={"Authorization": f"Bearer {account.api_key}", "traceparent": PARENT},
        )
    finally:
        await nc.close()
    message_id = orjson.loads(reply.data)["message_id"]
    await routing.events.final(message_id)

    def routed() -> list[ReadableSpan]:
        return [s for s in spans_of(traced, message_id) if s.name == "route attempt"]

    await eventually(routed, 10)
    (route,) = routed()
    (sent,) = [s for s in traced.get_finished_spans() if s.name == "send over NATS"]
    assert ids(sent)[0] == TRACE_ID
    assert ids(sent)[2] == "00f067aa0ba902b7"
    assert ids(route)[2] == ids(sent)[1]


async def test_with_tracing_off_nothing_is_added(routing: Routing) -> None:
    """Off (no exporter configured): no SUBMIT or STATUS message carries a traceparent, even
    when the caller sent one, and the record keeps no trace."""
    assert not tracing.enabled()
    published = await Published().start(routing.nc)
    account = await routing.account(["sms"])
    status, answer = await routing.api.call(
        "POST",
        "/v1/messages",
        {"to": NUMBER, "channel": "sms", "content": {"text": "hi"}},
        key=account.api_key,
        headers={"traceparent": PARENT},
    )
    assert status == 202, answer
    message_id = answer["message_id"]
    await routing.events.final(message_id)
    mine = [h for s, h, d in published.seen if d.get("m") == message_id]
    mine += [h for _, h in published.status(message_id)]
    assert len(mine) == 3  # SUBMIT, sent, delivered
    assert all("traceparent" not in headers for headers in mine)
    assert (await ask_trace(routing, message_id))["trace_id"] is None
