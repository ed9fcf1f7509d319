"""routing-svc's part of the trace (`parley_runtime.tracing`), wired by bootstrap: off, each
wiring function hands back what it was given (or the plain publisher), so none of this is
built and the hot path is untouched.

- `TracedPublisher`: every JetStream message routing-svc publishes (SUBMIT, STATUS, INBOUND,
  reports, timers, users' messages) carries the current span's `traceparent` in its headers;
  KV writes (the message log, the indexes) do not, they are state, not hops.
- `handlers`: a consumer span around each message taken off SUBMIT, ROUTING_REPORTS and
  ROUTING_TIMERS, a child of the span its headers name. Message schedules (a delayed report,
  a DR TTL timer) keep the headers of the message that scheduled them, so a timer's span is a
  child of the dispatch that armed it. A provider's receipt comes from its network without
  any: its span is made a child of the context the message record kept at acceptance
  (`Message.trace`), so late reports land in the message's trace too.
- `TracedProviders`: the router's providers, each `send` in a client span (route, provider,
  outcome); what the provider reports during the send is published in that span.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from opentelemetry.trace import SpanKind
from parley_runtime import tracing

from routing_svc.adapters.jetstream import Ack, JetStreamPublisher
from routing_svc.domain.channels import Channel, Outbound, Route, SendResult
from routing_svc.ports import Handovers, Messages, Provider, Providers, ProviderSink

Handler = Callable[[Any], Awaitable[None]]
KV_PREFIX = "$KV."
SPAN_NAMES = {
    "submit": "route attempt",
    "submit_otp": "route attempt",
    "submit_promotional": "route attempt",
    "report": "apply report",
    "timer": "expire attempt",
    "user": "take user message",
}


class TracedPublisher(JetStreamPublisher):
    """A `JetStreamPublisher` whose stream messages carry the current trace context."""

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> asyncio.Future[Ack]:
        """Send now with `traceparent` added (not on KV writes); the future of the ack."""
        if not subject.startswith(KV_PREFIX):
            headers = tracing.inject(headers)
        return await super().publish(subject, payload, headers)


def publisher(nc: Any) -> JetStreamPublisher:
    """The JetStream publisher of the process: a `TracedPublisher` when tracing is on."""
    return (TracedPublisher if tracing.enabled() else JetStreamPublisher)(nc)


def providers(wired: Providers) -> Providers:
    """The router's providers: `TracedProviders` when tracing is on, else `wired` itself."""
    return TracedProviders(wired) if tracing.enabled() else wired


def _ids(msg: Any) -> tracing.Attributes:
    """The message id and attempt of a SUBMIT / report / timer message, for its span."""
    with contextlib.suppress(orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
        body = orjson.loads(msg.data)
        out: tracing.Attributes = {}
        if isinstance(body.get("m"), str):
            out["parley.message_id"] = body["m"]
        if isinstance(body.get("a"), int):
            out["parley.attempt"] = int(body["a"])
        if isinstance(body.get("route"), str):
            out["parley.route"] = body["route"]
        return out
    return {}


def handlers(
    wired: dict[str, Handler], handovers: Handovers, store: Messages
) -> dict[str, Handler]:
    """The consumers' handlers with their spans (the purge consumer's, on account configs,
    without: no message's trace goes there); `wired` itself when tracing is off."""
    if not tracing.enabled():
        return wired
    out = dict(wired)
    for name, span_name in SPAN_NAMES.items():
        if name in out:
            out[name] = tracing.consumer(out[name], span_name, _ids)
    if "receipt" in out:
        out["receipt"] = _receipt(out["receipt"], handovers, store)
    return out


def _receipt(handler: Handler, handovers: Handovers, store: Messages) -> Handler:
    """A provider's receipt in a span under its message's trace (found through the record)."""

    async def traced(msg: Any) -> None:
        parent = tracing.extract(msg.headers) or await _record_context(msg, handovers, store)
        attributes = {"messaging.system": "nats", "messaging.destination.name": msg.subject}
        with tracing.span(
            "apply receipt",
            kind=SpanKind.CONSUMER,
            parent=parent,
            attributes={**attributes, **_ids(msg)},
        ):
            await handler(msg)

    return traced


async def _record_context(msg: Any, handovers: Handovers, store: Messages) -> Any:
    """The trace context kept by the record of the message a receipt is about, or None (the
    receipt's own handling decides what an unknown id or a missing record means)."""
    with contextlib.suppress(Exception):
        body = orjson.loads(msg.data)
        ref = await handovers.resolve(str(body["route"]), str(body["id"]))
        if ref is None:
            return None
        loaded = await store.load(ref.message_id)
        return tracing.context_of(loaded[0].trace) if loaded is not None else None
    return None


class TracedProvider:
    """A provider whose `send` runs in a client span; everything else as the provider's."""

    def __init__(self, provider: Provider) -> None:
        self._provider = provider
        self.kind = provider.kind
        self.profiles_cacheable = provider.profiles_cacheable
        self.needs_handover = provider.needs_handover

    def routes(self) -> list[Route]:
        """The provider's routes."""
        return self._provider.routes()

    async def start(self, sink: ProviderSink) -> None:
        """Start the provider."""
        await self._provider.start(sink)

    async def stop(self) -> None:
        """Stop the provider."""
        await self._provider.stop()

    async def send(self, message: Outbound) -> SendResult:
        """Hand the attempt to the provider inside a `provider send` client span."""
        with tracing.span(
            "provider send",
            kind=SpanKind.CLIENT,
            attributes={
                "parley.provider": self.kind,
                "parley.route": message.route,
                "parley.channel": message.channel,
                "parley.message_id": message.message_id,
                "parley.attempt": message.attempt,
            },
        ) as current:
            result = await self._provider.send(message)
            if current is not None:
                current.set_attribute("parley.send_status", result.status)
                if result.reason is not None:
                    current.set_attribute("parley.reason", result.reason)
            return result

    async def has_capability(self, to: str, channel: Channel, route: str) -> bool:
        """The provider's profile lookup."""
        return await self._provider.has_capability(to, channel, route)

    def route_up(self, route: str) -> bool:
        """Whether the provider has a live connection on `route`."""
        return self._provider.route_up(route)


class TracedProviders:
    """The router's view of the providers: each one's sends traced (one wrapper each)."""

    def __init__(self, providers: Providers) -> None:
        self._providers = providers
        self._wrapped: dict[int, TracedProvider] = {}

    def routes(self) -> list[Route]:
        """Every route, in the routes file's order."""
        return self._providers.routes()

    def for_route(self, route: str) -> Provider:
        """The traced provider carrying `route`."""
        provider = self._providers.for_route(route)
        wrapped = self._wrapped.get(id(provider))
        if wrapped is None:
            wrapped = self._wrapped[id(provider)] = TracedProvider(provider)
        return wrapped
