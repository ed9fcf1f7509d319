"""What the operator views answer (`/v1/traffic`, `/v1/routes`, `/v1/message-trace`): the
models `/openapi.json` documents, and the merge of routing-svc's replicas' route states."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from account_svc.domain.answers import DeliveryAttempt

PerMinute = list[int]


class RouteTraffic(BaseModel):
    """Attempts a route carried in the window and how they ended."""

    route: str | None = Field(description="null: attempts that failed before a route")
    channel: str
    sent: int
    delivered: int
    failed: int
    fallback: int
    ended: int = Field(description="delivered + failed + fallback")
    delivery_rate: float | None = Field(description="delivered / ended")


class HookOutcome(BaseModel):
    """Webhook attempts of one outcome in the window, and the events they carried."""

    attempts: int
    events: int


class WebhookTraffic(BaseModel):
    """Webhook delivery attempts by outcome (`delivered`, `failed`, `dead`)."""

    per_minute: dict[str, PerMinute]
    totals: dict[str, HookOutcome]


class ConsumerDepth(BaseModel):
    """A service's durable consumer: messages not yet delivered, and delivered but unacked."""

    name: str
    pending: int
    in_hand: int


class StreamDepth(BaseModel):
    """One stream: what it holds and its service consumers."""

    stream: str
    messages: int
    bytes: int
    consumers: list[ConsumerDepth]


class Queues(BaseModel):
    """Queue depths now."""

    submit_waiting: int = Field(description="messages of the chosen accounts waiting on SUBMIT")
    streams: list[StreamDepth] | None = Field(description="every stream (platform users only)")


class TrafficOut(BaseModel):
    """The last hour, per minute (`minutes`, oldest first, UTC `YYYY-MM-DDTHH:MM`)."""

    minutes: list[str]
    status: dict[str, PerMinute] = Field(description="status events per minute by kind")
    channels: dict[str, PerMinute] = Field(description="attempts sent per minute by channel")
    totals: dict[str, int]
    delivery_rate: float | None = Field(description="delivered / finished messages")
    fallback_rate: float | None = Field(description="finished messages that fell back / finished")
    routes: list[RouteTraffic]
    webhooks: WebhookTraffic
    truncated: bool
    loading: bool = Field(description="the replay of the past hour still runs")
    complete_from: str | None = Field(description="the first minute whose counts are whole")
    queues: Queues


class BindError(BaseModel):
    """The last failure of an SMPP bind of one replica."""

    replica: str
    error: str
    at: str | None


class RouteState(BaseModel):
    """One route over every routing-svc replica."""

    name: str
    channel: str
    provider: str
    agent_provider: str | None
    capacity_per_s: float
    up: bool = Field(description="up on every replica that answered")
    replicas: int
    replicas_up: int
    rate_per_s: float | None = Field(description="sends per second now (platform users only)")
    binds: dict[str, int] | None = Field(description="SMPP: binds up and in total")
    window_in_use: int | None = Field(description="SMPP: submits awaiting a response")
    errors: list[BindError]


class RoutesOut(BaseModel):
    """Every route, and the replicas that answered."""

    replicas: list[str]
    items: list[RouteState]


class TraceAttempt(BaseModel):
    """One channel tried, with its latest status."""

    attempt: int
    channel: str
    route: str | None
    sender: str | None
    status: str
    reason: str | None
    fallback_to: str | None
    at: str
    sent_at: str | None


class TraceEvent(BaseModel):
    """One status event of the message, as it was published."""

    id: str
    type: str
    time: str
    attempt: int
    status: str
    reason: str | None
    channel: str
    route: str | None
    fallback_to: str | None
    final: bool
    late: bool


class Trace(BaseModel):
    """A message: plan, attempts in order, status events, webhook deliveries of those events."""

    message_id: str
    account_id: str
    account_label: str | None
    enterprise_id: str
    client_ref: str | None
    to: str = Field(description="masked")
    status: str
    created_at: str
    channels: list[str]
    attempts: list[TraceAttempt]
    events: list[TraceEvent]
    webhook_deliveries: list[DeliveryAttempt] | None = Field(
        description="null when webhook-svc is not answering"
    )
    trace_id: str | None = Field(
        description="the W3C trace id the message was accepted under (its spans in every "
        "service, and its log lines, carry it); null when tracing was off"
    )


class TraceMatch(BaseModel):
    """A message found for the query."""

    message_id: str
    account_id: str
    account_label: str | None


class TraceOut(BaseModel):
    """What "Find a message" found: the matches, and the trace when exactly one."""

    query: str
    matches: list[TraceMatch]
    truncated: bool
    trace: Trace | None


def merge_routes(replies: list[dict[str, Any]], platform: bool) -> list[dict[str, Any]]:
    """One row per route from every replica's answer: up on how many, binds and window
    summed, rate summed (platform users only), each replica's bind failures listed."""
    rows: dict[str, dict[str, Any]] = {}
    for reply in sorted(replies, key=lambda r: str(r.get("replica"))):
        replica = str(reply.get("replica"))
        for route in reply.get("routes") or []:
            row = rows.setdefault(
                route["name"],
                {
                    **{k: route.get(k) for k in ("name", "channel", "provider", "agent_provider")},
                    "capacity_per_s": route.get("capacity_per_s"),
                    "replicas": 0,
                    "replicas_up": 0,
                    "rate_per_s": 0.0 if platform else None,
                    "binds": None,
                    "window_in_use": None,
                    "errors": [],
                },
            )
            row["replicas"] += 1
            row["replicas_up"] += 1 if route.get("up") else 0
            if platform:
                rate = row["rate_per_s"] + float(route.get("rate_per_s") or 0)
                row["rate_per_s"] = round(rate, 2)
                if route.get("window_in_use") is not None:
                    row["window_in_use"] = (row["window_in_use"] or 0) + route["window_in_use"]
            binds = route.get("binds")
            if binds is not None:
                counts = row["binds"] or {"up": 0, "total": 0}
                counts["up"] += sum(1 for b in binds if b.get("state") == "up")
                counts["total"] += len(binds)
                row["binds"] = counts
                row["errors"] += [
                    {"replica": replica, "error": b["last_error"], "at": b.get("last_error_at")}
                    for b in binds
                    if b.get("last_error")
                ]
    for row in rows.values():
        row["errors"].sort(key=lambda e: str(e.get("at")), reverse=True)
        row["up"] = row["replicas_up"] == row["replicas"]
    return list(rows.values())
