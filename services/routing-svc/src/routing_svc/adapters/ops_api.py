"""routing-svc's operator API over NATS request/reply: what account-svc's console asks.

- `parley.routing.v1.routes.query` `{}`, answered by every replica (no queue group)
  -> `{"replica", "role", "at", "routes": [...]}`: this replica's view of each route;
- `parley.routing.v1.messages.trace` `{"message_id"}`, queue group `routing-svc-ops`
  -> `{"message": {...}}`: the record, its attempts, every status event it caused and the
  trace it was accepted under (`trace_id`, `traceparent`; null when tracing was off), or the
  problem 404 when the message log does not hold it;
- `parley.routing.v1.messages.find` `{"client_ref", "account_ids"?, "limit"?: 1..100}`, queue
  group `routing-svc-ops` -> `{"items": [{"account_id", "message_id"}], "truncated"}`, newest
  first.

Each replica owns its own connections (SMPP binds, HTTP sessions) and counts its own sends, so
the routes query has no queue group: the asker publishes once and gathers every replica's
reply for a short while. The other two read shared state (the message log and the client_ref
index on KV), so any one replica answers.

A trace rebuilds the status events from the record: `applied` holds the `EventSpec`s of every
input the message took, and `domain.events` makes each event from its spec deterministically
(same id, type, time and data as when it was published). The recipient is only ever the
masked number; content is never read. Errors are problem documents with `status` (400
`malformed_request`, 422 `validation_error`, 404 `not_found`, 503 `service_unavailable`).

The handlers are FastStream subscribers (`OpsApi.register` puts them on the service's broker,
`parley_runtime.broker`), each answering up to `MAX_WORKERS` requests at once: off the hot
path, so FastStream's cost per message does not matter here, and its test broker and AsyncAPI
description come with it. Requests are read as raw bytes and answered with the same JSON as
before FastStream.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from faststream.nats.broker.registrator import NatsRegistrator
from parley_runtime import tracing
from parley_runtime.broker import raw_body
from parley_runtime.tasks import cancel_and_wait
from parley_shared import subjects
from parley_shared.timefmt import now_ts, ts_of_ms

from routing_svc.adapters.client_refs import ClientRefIndex
from routing_svc.adapters.providers.registry import ProviderSet
from routing_svc.adapters.providers.smpp.provider import SmppProvider
from routing_svc.domain import events
from routing_svc.domain.lifecycle import EventSpec, Message
from routing_svc.errors import (
    MalformedRequest,
    NotFound,
    RoutingSvcError,
    TransientError,
    ValidationFailed,
)
from routing_svc.metrics import SUBMITS
from routing_svc.ports import Messages

log = structlog.get_logger("routing_svc.ops_api")

Operation = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
RATE_WINDOW_S = 10  # a route's current rate: its sends over the last ten one-second samples
MAX_ACCOUNT_IDS = 10_000
MAX_WORKERS = 16  # requests one subscriber answers at once (a trace reads the message log)
KIND_ORDER = {"sent": 0, "fallback": 1, "failed": 1, "delivered": 1, "read": 2}


def replica_name() -> str:
    """This replica among the others: host name (the pod's, on Kubernetes), pid and a random
    suffix (two services in one process stay apart)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def _ts_ms(epoch_ms: int | None) -> str | None:
    return None if epoch_ms is None else ts_of_ms(epoch_ms)


# ---------------------------------------------------------------------------- routes
class RouteRates:
    """Each route's sends per second in this replica, from `parley_route_submits_total`
    sampled once a second (so the hot path pays nothing for it)."""

    def __init__(self, window_s: int = RATE_WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self._samples: deque[tuple[float, dict[str, float]]] = deque(maxlen=window_s + 1)
        self._clock = clock

    def sample(self) -> None:
        """Read the counter of every route now."""
        counts: dict[str, float] = {}
        for family in SUBMITS.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["route"]] = sample.value
        self._samples.append((self._clock(), counts))

    def rate(self, route: str) -> float:
        """Sends per second on `route` over the samples held (0 before two samples)."""
        if len(self._samples) < 2:
            return 0.0
        (t0, first), (t1, last) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return 0.0
        return max(0.0, (last.get(route, 0.0) - first.get(route, 0.0)) / (t1 - t0))

    async def run(self) -> None:
        """Sample every second until cancelled."""
        while True:
            self.sample()
            await asyncio.sleep(1.0)


def route_states(providers: ProviderSet, rates: RouteRates) -> list[dict[str, Any]]:
    """This replica's view of every route, in the routes file's order."""
    out = []
    for route in providers.routes():
        provider = providers.for_route(route.name)
        item: dict[str, Any] = {
            "name": route.name,
            "channel": route.channel,
            "provider": route.provider,
            "agent_provider": route.agent_provider,
            "capacity_per_s": route.capacity_per_s,
            "up": providers.route_up(route.name),
            "rate_per_s": round(rates.rate(route.name), 2),
            "binds": None,
            "window_in_use": None,
        }
        if isinstance(provider, SmppProvider):
            item["binds"] = [
                {
                    "state": state,
                    "last_error": failure[0] if failure else None,
                    "last_error_at": _ts_ms(int(failure[1] * 1000)) if failure else None,
                }
                for state, failure in provider.bind_states(route.name)
            ]
            item["window_in_use"] = provider.window_in_use(route.name)
        out.append(item)
    return out


# ---------------------------------------------------------------------------- trace
def status_events(msg: Message) -> list[dict[str, Any]]:
    """Every status event the message caused, rebuilt from its record, in the order they
    happened: by attempt (each starts once the one before ended), then sent, its outcome, read,
    then late reports. Not by `time` alone: a provider's report can carry a time a moment
    before the `sent` that was recorded after the provider answered."""
    specs: dict[str, EventSpec] = {}
    for recorded in msg.applied.values():
        for raw in recorded:
            spec = EventSpec.from_json(raw)
            specs.setdefault(events.event_id(msg.id, spec), spec)
    out = []
    for spec in specs.values():
        event = events.status_event(msg, spec, msg.to_masked)
        data = event["data"]
        out.append(
            {
                "id": event["id"],
                "type": event["type"],
                "time": event["time"],
                "attempt": spec.attempt,
                "status": data["status"],
                "reason": data["reason"],
                "channel": data["channel"],
                "route": data["route"],
                "fallback_to": data["fallback_to"],
                "final": spec.final,
                "late": spec.late,
            }
        )
    out.sort(key=lambda e: (e["attempt"], e["late"], KIND_ORDER.get(e["status"], 1), e["time"]))
    return out


def trace(msg: Message) -> dict[str, Any]:
    """The operator's view of a message: plan, attempts in order, status events."""
    return {
        "message_id": msg.id,
        "account_id": msg.account_id,
        "enterprise_id": msg.enterprise_id,
        "client_ref": msg.client_ref,
        "to": msg.to_masked,
        "status": msg.status,
        "created_at": msg.created_at,
        "channels": [hop.channel for hop in msg.hops],
        "attempts": [
            {
                "attempt": attempt.n,
                "channel": attempt.channel,
                "route": attempt.route,
                "sender": attempt.sender,
                "status": attempt.status,
                "reason": attempt.reason,
                "fallback_to": attempt.fallback_to,
                "at": attempt.at,
                "sent_at": _ts_ms(attempt.sent_ms),
            }
            for attempt in msg.attempts
        ],
        "events": status_events(msg),
        "trace_id": tracing.trace_id_of(msg.trace),
        "traceparent": msg.trace,
    }


# ---------------------------------------------------------------------------- requests
def _request(data: bytes) -> dict[str, Any]:
    try:
        request = orjson.loads(data or b"{}")
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest("the request is not JSON") from exc
    if not isinstance(request, dict):
        raise MalformedRequest("the request must be a JSON object")
    return request


def _invalid(loc: str, msg: str) -> RoutingSvcError:
    return ValidationFailed.at([loc], msg)


class OpsApi:
    """Answers the operator's requests (up to `MAX_WORKERS` at once per subject)."""

    def __init__(
        self,
        providers: ProviderSet,
        store: Messages,
        client_refs: ClientRefIndex,
        *,
        role: str,
        replica: str | None = None,
    ) -> None:
        self._providers, self._store, self._refs = providers, store, client_refs
        self._role = role
        self.replica = replica or replica_name()
        self.rates = RouteRates()
        self._sampler: asyncio.Task[None] | None = None

    def register(self, broker: NatsRegistrator) -> None:
        """Subscribe on `broker` (routes: alone; trace and find: in the `routing-svc-ops`
        queue group)."""
        wiring: tuple[tuple[str, str, str, Operation, str], ...] = (
            (
                subjects.ROUTING_ROUTES_QUERY,
                "",
                "routes",
                self.routes,
                "This replica's view of each route; every replica answers.",
            ),
            (
                subjects.ROUTING_MESSAGES_TRACE,
                subjects.QUEUE_ROUTING_OPS,
                "trace",
                self.trace,
                "One message's record, attempts and status events.",
            ),
            (
                subjects.ROUTING_MESSAGES_FIND,
                subjects.QUEUE_ROUTING_OPS,
                "find",
                self.find,
                "The newest messages sent with a client_ref.",
            ),
        )
        for subject, queue, name, operation, description in wiring:
            broker.subscriber(
                subject,
                queue=queue,
                decoder=raw_body,
                max_workers=MAX_WORKERS,
                title=f"routing-svc {name}",
                description=description,
            )(self._handler(name, operation))

    async def start(self) -> None:
        """Sample the routes' rates each second (the subscriptions are the broker's)."""
        self._sampler = asyncio.create_task(self.rates.run(), name="route-rates")

    async def stop(self) -> None:
        """Stop sampling."""
        await cancel_and_wait(self._sampler)
        self._sampler = None

    def _handler(self, name: str, operation: Operation) -> Callable[[bytes], Awaitable[bytes]]:
        async def handle(body: bytes) -> bytes:
            return orjson.dumps(await self.answer(name, operation, body))

        handle.__name__ = name
        return handle

    async def answer(self, name: str, operation: Operation, data: bytes) -> dict[str, Any]:
        """The reply to one request (a problem document for any error)."""
        failure = None
        try:
            return await operation(_request(data))
        except RoutingSvcError as exc:
            return exc.problem()
        except Exception as exc:  # noqa: BLE001 - every request is answered, none crashes
            failure = type(exc).__name__
        log.error("ops_request_failed", operation=name, error=failure)
        return TransientError("the request could not be served; retry later").problem()

    async def routes(self, _: dict[str, Any]) -> dict[str, Any]:
        """This replica's routes: provider, capacity, current rate, connection state."""
        return {
            "replica": self.replica,
            "role": self._role,
            "at": now_ts(),
            "routes": route_states(self._providers, self.rates),
        }

    async def trace(self, request: dict[str, Any]) -> dict[str, Any]:
        """One message's trace, or 404 when the log does not hold it (never was, or expired)."""
        message_id = request.get("message_id")
        if not isinstance(message_id, str) or not _ID.match(message_id):
            raise _invalid("message_id", "must be a message id")
        msg = await self._store.read(message_id)
        if msg is None:
            raise NotFound("the message log holds no such message")
        return {"message": trace(msg)}

    async def find(self, request: dict[str, Any]) -> dict[str, Any]:
        """The newest messages sent with a `client_ref` (by the given accounts only)."""
        client_ref = request.get("client_ref")
        if not isinstance(client_ref, str) or not 1 <= len(client_ref) <= 256:
            raise _invalid("client_ref", "must be a string of 1 to 256 characters")
        limit = request.get("limit", 20)
        if type(limit) is not int or not 1 <= limit <= 100:
            raise _invalid("limit", "must be an integer between 1 and 100")
        account_ids = request.get("account_ids")
        if account_ids is not None and (
            not isinstance(account_ids, list)
            or len(account_ids) > MAX_ACCOUNT_IDS
            or not all(isinstance(a, str) and _ID.match(a) for a in account_ids)
        ):
            raise _invalid("account_ids", f"must be a list of at most {MAX_ACCOUNT_IDS} ids")
        found = await self._refs.find(client_ref, account_ids, limit)
        return {
            "items": [{"account_id": a, "message_id": m} for a, m in found.items],
            "truncated": found.truncated,
        }
