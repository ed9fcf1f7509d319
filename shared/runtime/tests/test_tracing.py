"""Tracing: off by default (nothing made), W3C context across a real NATS hop and a real HTTP
request, exported over OTLP/HTTP to a local receiver, trace ids in log lines."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import nats
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from parley_devtools.fakes.otlp import OtlpReceiver
from parley_runtime import tracing

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(autouse=True)
def _tracing_off_after() -> Iterator[None]:
    """Every test leaves tracing off and structlog as it found them."""
    saved = structlog.get_config()
    tracing.shutdown()
    try:
        yield
    finally:
        tracing.shutdown()
        structlog.configure(**saved)


def _log_to(buffer: io.StringIO) -> None:
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
        cache_logger_on_first_use=False,
    )


def test_off_without_an_endpoint_makes_no_span_and_no_header() -> None:
    """With no OTLP endpoint configured nothing is on and every helper hands back its input."""
    assert tracing.configure("svc", env={}) is False
    assert not tracing.enabled()
    headers = {"Nats-Msg-Id": "x"}
    assert tracing.inject(headers) is headers
    assert headers == {"Nats-Msg-Id": "x"}
    assert tracing.inject(None) is None
    assert tracing.traceparent() is None
    assert tracing.extract({"traceparent": PARENT}) is None

    async def handler(msg: Any) -> None:
        return None

    assert tracing.consumer(handler, "x") is handler
    with tracing.span("nothing") as current:
        assert current is None


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
    ],
)
def test_export_is_wanted_only_when_the_standard_variables_say_so(
    env: dict[str, str], wanted: bool
) -> None:
    """The standard OTEL_* variables decide: an endpoint turns it on, the SDK switches off."""
    assert tracing.wanted(env) is wanted


async def test_a_nats_hop_is_one_trace_exported_over_otlp_with_ids_in_logs(
    nats_url: str, otlp_receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish made in a span carries `traceparent`; the consumer's span is its child, both
    reach the OTLP receiver under the service's name, and the handler's log line has the id."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    buffer = io.StringIO()
    _log_to(buffer)
    assert tracing.configure("trace-test-svc") is True
    log = structlog.get_logger("test")
    got: asyncio.Queue[dict[str, str] | None] = asyncio.Queue()

    async def handle(msg: Any) -> None:
        log.info("message_handled")
        await got.put(msg.headers)

    nc = await nats.connect(nats_url)
    try:
        await nc.subscribe("trace.test", cb=tracing.consumer(handle, "take test message"))
        with tracing.span("send test message", kind=SpanKind.PRODUCER) as sending:
            assert sending is not None
            sent_id = format(sending.get_span_context().span_id, "016x")
            await nc.publish("trace.test", b"{}", headers=tracing.inject({"Nats-Msg-Id": "1"}))
        async with asyncio.timeout(10):
            headers = await got.get()
    finally:
        await nc.close()
    assert headers is not None
    assert headers["Nats-Msg-Id"] == "1"
    trace_id = tracing.trace_id_of(headers["traceparent"])
    assert trace_id is not None
    spans = await asyncio.to_thread(
        otlp_receiver.wait_for, lambda r: len(r.of_trace(trace_id)) == 2 and r.of_trace(trace_id)
    )
    by_name = {span.name: span for span in spans}
    consumer = by_name["take test message"]
    assert consumer.kind == "consumer"
    assert consumer.parent_span_id == sent_id
    assert consumer.attributes["messaging.destination.name"] == "trace.test"
    assert {span.service for span in spans} == {"trace-test-svc"}
    line = next(json.loads(x) for x in buffer.getvalue().splitlines() if "message_handled" in x)
    assert line["trace_id"] == trace_id
    assert line["span_id"] == consumer.span_id


async def test_the_http_middleware_continues_the_callers_trace() -> None:
    """A request with a `traceparent` gets a server span in the caller's trace, its parent
    the caller's span, named by its route, with the answer's status."""
    exporter = InMemorySpanExporter()
    assert tracing.configure("svc", exporter=exporter) is True

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"traceparent": tracing.traceparent()})

    app = web.Application(middlewares=[tracing.http_middleware()])
    app.router.add_get("/v1/things/{id}", hello)
    app.router.add_get("/healthz", hello)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        answer = await (await client.get("/v1/things/7", headers={"traceparent": PARENT})).json()
        health = await (await client.get("/healthz")).json()
    tracing.shutdown()  # flushes
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /v1/things/{id}"
    assert span.kind == SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert tracing.trace_id_of(answer["traceparent"]) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert health["traceparent"] is None  # health and metrics are not traced


async def test_a_stored_traceparent_parents_and_links_later_spans() -> None:
    """A traceparent kept with a record parents a later span (a receipt's) and can be linked
    from another trace (an operator's lookup)."""
    exporter = InMemorySpanExporter()
    tracing.configure("svc", exporter=exporter)
    with tracing.span("later", parent=tracing.context_of(PARENT)):
        pass
    with tracing.span("lookup"):
        tracing.link(PARENT)
    with tracing.span("batch", links=[PARENT, "not a traceparent"]):
        pass
    tracing.shutdown()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    later = spans["later"]
    assert format(later.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert later.parent is not None
    assert format(later.parent.span_id, "016x") == "00f067aa0ba902b7"
    for name in ("lookup", "batch"):
        (link,) = spans[name].links
        assert format(link.context.span_id, "016x") == "00f067aa0ba902b7"
        assert spans[name].context.trace_id != later.context.trace_id


def test_inject_falls_back_to_a_stored_traceparent_outside_any_span() -> None:
    """Outside any span `inject` writes the given fallback (a batch's first message's)."""
    tracing.configure("svc", exporter=InMemorySpanExporter())
    assert tracing.inject(None, PARENT) == {"traceparent": PARENT}
    assert tracing.inject(None) is None
    assert tracing.trace_id_of("garbage") is None
