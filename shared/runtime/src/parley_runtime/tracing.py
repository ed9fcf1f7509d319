"""W3C trace context across Parley's NATS hops, with the OpenTelemetry SDK; off by default.

A message's trace starts at its submit (HTTP or NATS; a caller's own `traceparent` is
continued) and follows it through every hop as `traceparent` / `tracestate` NATS headers
(never in a payload: CONTRACT 4 fixes those): SUBMIT, the status events on STATUS, the
provider's reports, DR TTL timers, webhook retries. Each service starts a consumer span per
message it takes, a child of the context its headers carry, so one trace shows the message
across routing-svc and webhook-svc; account-svc's operator requests carry theirs to the
services they ask. While a span is current, every structlog line carries its `trace_id` and
`span_id` (`add_trace_ids`), so the logs of the three services can be grepped for one trace.

Off unless an exporter is configured: `configure` turns tracing on when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, and neither
`OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` says otherwise; spans then go out over
OTLP/HTTP (protobuf) from a background thread (`BatchSpanProcessor`), and the other standard
`OTEL_*` variables apply as the SDK reads them (headers, timeout, compression, sampler, batch
delays, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`). Off, nothing here makes a span or a
header: `inject` hands back its argument, `span` a shared no-op context manager, `traceparent`
None, and the services wrap their handlers (`consumer`, `http_middleware`) only when
`enabled()`, so the hot path runs exactly as without tracing.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any, Protocol, TypeVar

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = structlog.get_logger("parley_runtime.tracing")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_W3C = TraceContextTextMapPropagator()
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_NOOP: contextlib.nullcontext[None] = contextlib.nullcontext()

_tracer: Tracer | None = None
_provider: Any = None  # the SDK's TracerProvider while on


class Message(Protocol):
    """What a consumer span needs of a NATS message (nats-py's `Msg`)."""

    subject: str
    headers: dict[str, str] | None


M = TypeVar("M", bound=Message)
Attributes = dict[str, str | int | bool]


def enabled() -> bool:
    """Whether tracing is on in this process (an exporter is configured)."""
    return _tracer is not None


def wanted(env: Mapping[str, str]) -> bool:
    """Whether the environment asks for trace export (see the module docstring)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


def configure(service: str, env: Mapping[str, str] | None = None, exporter: Any = None) -> bool:
    """Turn tracing on for `service` when the environment configures an exporter (or when
    `exporter`, a SDK `SpanExporter`, is given: tests); answers whether it is on. The SDK is
    imported only then."""
    global _tracer, _provider
    env = os.environ if env is None else env
    if exporter is None and not wanted(env):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
        )
        if protocol != "http/protobuf":
            log.warning("otlp_protocol_unsupported", protocol=protocol, using="http/protobuf")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _provider, _tracer = provider, provider.get_tracer("parley", schema_url=None)
    _log_trace_ids()
    log.info("tracing_enabled", exporter=type(exporter).__name__)
    return True


def provider() -> Any:
    """The SDK's tracer provider while tracing is on (for FastStream's middleware), else None."""
    return _provider


def flush() -> None:
    """Export the spans ended so far now (tests; nothing when off)."""
    if _provider is not None:
        _provider.force_flush()


def shutdown() -> None:
    """Export what is still queued and turn tracing off (at process exit; tests)."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


# ---------------------------------------------------------------------------- propagation
def extract(headers: Mapping[str, str] | None) -> Context | None:
    """The trace context W3C headers carry (None: none, or tracing is off)."""
    if _tracer is None or not headers:
        return None
    return _W3C.extract(headers)


def inject(headers: dict[str, str] | None, fallback: str | None = None) -> dict[str, str] | None:
    """`headers` with the current trace context added (`traceparent`, `tracestate`), or the
    `fallback` traceparent when no span is current; the same object, untouched, when tracing
    is off or there is neither."""
    if _tracer is None:
        return headers
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    if not carrier and fallback is not None:
        carrier[TRACEPARENT] = fallback
    if not carrier:
        return headers
    if headers is None:
        return carrier
    headers.update(carrier)
    return headers


def traceparent_of(headers: Mapping[str, str] | None) -> str | None:
    """The `traceparent` header of a message (None: none, or tracing is off)."""
    if _tracer is None or not headers:
        return None
    return headers.get(TRACEPARENT)


def traceparent() -> str | None:
    """The current span's context as a W3C `traceparent` (None: off, or no span)."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(TRACEPARENT)


def trace_id_of(value: str | None) -> str | None:
    """The trace id (32 hex digits) of a W3C `traceparent`, or None."""
    match = _TRACEPARENT.match(value or "")
    return match.group(1) if match else None


def context_of(value: str | None) -> Context | None:
    """The context a stored `traceparent` names (None: none, or tracing is off)."""
    if _tracer is None or trace_id_of(value) is None:
        return None
    return _W3C.extract({TRACEPARENT: str(value)})


def _span_context(value: str) -> SpanContext | None:
    context = context_of(value)
    if context is None:
        return None
    found = trace.get_current_span(context).get_span_context()
    return found if found.is_valid else None


# ---------------------------------------------------------------------------- spans
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
    links: Sequence[str] = (),
    attributes: Attributes | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A span made current for the `with` block (a child of `parent`, else of the current
    span), linked to the spans of the `links` traceparents; a no-op when tracing is off."""
    if _tracer is None:
        return _NOOP
    linked = [Link(ctx) for value in links if (ctx := _span_context(value)) is not None]
    return _tracer.start_as_current_span(
        name, context=parent, kind=kind, links=linked, attributes=attributes
    )


def set_attributes(attributes: Attributes) -> None:
    """Add attributes to the current span (nothing when off or none is current)."""
    if _tracer is not None:
        trace.get_current_span().set_attributes(attributes)


def link(value: str | None) -> None:
    """Link the current span to the span a stored `traceparent` names (an operator's lookup
    of a message, to the message's own trace)."""
    if _tracer is None or value is None:
        return
    target = _span_context(value)
    if target is not None:
        trace.get_current_span().add_link(target)


def consumer(
    handler: Callable[[M], Awaitable[None]],
    name: str,
    attributes: Callable[[M], Attributes] | None = None,
) -> Callable[[M], Awaitable[None]]:
    """`handler` with a consumer span around each message, a child of the context the
    message's headers carry; `handler` itself when tracing is off."""
    tracer = _tracer
    if tracer is None:
        return handler

    async def traced(msg: M) -> None:
        extra = attributes(msg) if attributes is not None else {}
        with tracer.start_as_current_span(
            name,
            context=extract(msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": msg.subject,
                **extra,
            },
        ):
            await handler(msg)

    return traced


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_middleware() -> Middleware:
    """An aiohttp middleware making a server span of each request (health and metrics
    excepted), continuing the caller's `traceparent`; add it only when `enabled()`."""

    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        tracer = _tracer
        if tracer is None or request.path in _UNTRACED_PATHS:
            return await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        with tracer.start_as_current_span(
            f"{request.method} {route}",
            context=extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "http.route": route},
        ) as current:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                current.set_attribute("http.response.status_code", exc.status)
                raise
            current.set_attribute("http.response.status_code", response.status)
            return response

    return traced


# ---------------------------------------------------------------------------- logs
def add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current span's `trace_id` and `span_id`, when one is."""
    found = trace.get_current_span().get_span_context()
    if found.is_valid:
        event_dict.setdefault("trace_id", format(found.trace_id, "032x"))
        event_dict.setdefault("span_id", format(found.span_id, "016x"))
    return event_dict


def _log_trace_ids() -> None:
    """Put `add_trace_ids` into structlog's chain, after the bound context is merged."""
    processors = list(structlog.get_config()["processors"])
    if add_trace_ids in processors:
        return
    merge = structlog.contextvars.merge_contextvars
    at = processors.index(merge) + 1 if merge in processors else 0
    processors.insert(at, add_trace_ids)
    structlog.configure(processors=processors)
