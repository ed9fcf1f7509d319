"""FastStream's NATS broker for a service's request/reply handlers off the hot path.

The services answer a few operator requests over NATS (webhook-svc's delivery log, dead
letters and replay; routing-svc's console queries). Those handlers are FastStream subscribers:
declared with their subject and queue group, tested in memory with `TestNatsBroker`, and
described by FastStream's AsyncAPI generation. The hot paths (submit, dispatch, webhook
intake) stay on nats-py: FastStream costs them throughput (each service's README says how
much, measured by `parley_devtools.bench.faststream_cost`).

`service_broker` builds the broker so that it connects exactly as `parley_runtime.nats.connect`
connects the service: its credentials from the environment (`NATS_CREDS`, else `NATS_USER` /
`NATS_PASSWORD`), inbox prefix `_INBOX.<name>` (the only inboxes its NATS user may use),
reconnecting forever, connection changes logged through structlog without secrets. The broker
holds a connection of its own (FastStream takes no connection made elsewhere). FastStream's
per-message logging is off: it logs subjects (which may carry ids), and cost about 30% per
message when measured (PERFORMANCE.md); the handlers log what matters themselves. With
tracing on (`parley_runtime.tracing`), FastStream's own telemetry middleware makes a consumer
span of each request, a child of the `traceparent` its headers carry, with Parley's tracer
provider; off, the broker has no middleware at all.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faststream.nats import NatsBroker, NatsMessage
from faststream.nats.security import NatsCredentials, NatsToken, NatsUserPassword
from faststream.security import BaseSecurity
from parley_shared.environment import nats_servers

from parley_runtime import tracing
from parley_runtime.nats import Callback, settings


async def raw_body(msg: NatsMessage) -> bytes:
    """A request's body as it came (a subscriber's `decoder`): FastStream would parse JSON
    itself, and the handlers answer a body that is not JSON with their own 400 problem."""
    return bytes(msg.body)


def _middlewares() -> tuple[Any, ...]:
    """FastStream's telemetry middleware on Parley's tracer provider, when tracing is on."""
    provider = tracing.provider()
    if provider is None:
        return ()
    from faststream.nats.opentelemetry import NatsTelemetryMiddleware

    return (NatsTelemetryMiddleware(tracer_provider=provider, include_messages_counters=False),)


def _security(options: dict[str, Any]) -> BaseSecurity | None:
    """FastStream's form of the credentials among `nats.connect` options (popped from them)."""
    if creds := options.pop("user_credentials", None):
        return NatsCredentials(creds)
    if user := options.pop("user", None):
        return NatsUserPassword(user, options.pop("password", ""))
    if token := options.pop("token", None):
        return NatsToken(token)
    return None


def service_broker(
    url: str,
    name: str,
    *,
    on_reconnect: Callback | None = None,
    closing: asyncio.Event | None = None,
    **options: Any,
) -> NatsBroker:
    """A FastStream NATS broker that connects as the service `name` does (not yet connected).

    `options` are `nats.connect` options, as for `parley_runtime.nats.connect`.
    """
    connect = settings(name, on_reconnect=on_reconnect, closing=closing, **options)
    security = _security(connect)
    return NatsBroker(
        nats_servers(url),
        security=security,
        middlewares=_middlewares(),
        logger=None,
        graceful_timeout=5.0,
        **connect,
    )


async def start(broker: NatsBroker) -> None:
    """Connect and subscribe; return once the server holds every subscription (a flush), so
    that a request sent the moment after is answered, and /readyz tells the truth."""
    await broker.start()
    await broker.connection.flush()
