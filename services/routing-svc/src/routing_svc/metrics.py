"""Prometheus metrics of routing-svc (served on `/metrics`)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def inc(counter: Counter, *labels: str) -> None:
    """Count one, the labelled child looked up once (`labels()` costs on a hot path)."""
    key = (id(counter), labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = counter.labels(*labels)
    child.inc()


def observe(histogram: Histogram, value: float, *labels: str) -> None:
    """Observe one value, the labelled child looked up once."""
    key = (id(histogram), labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = histogram.labels(*labels)
    child.observe(value)


REQUESTS = Counter(
    "parley_routing_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
LATENCY = Histogram(
    "parley_routing_http_request_seconds", "HTTP request duration", ["method", "route"]
)
ACCEPTED = Counter(
    "parley_routing_messages_accepted_total", "Messages accepted", ["channel", "via"]
)
REFUSED = Counter("parley_routing_sends_refused_total", "Sends refused", ["type", "via"])
ATTEMPTS = Counter(
    "parley_routing_attempts_total", "Attempts handled by the workers", ["channel", "result"]
)
EVENTS = Counter("parley_routing_status_events_total", "Status events published", ["kind", "flag"])
REPORTS = Counter("parley_routing_reports_total", "Delivery reports handled", ["result"])
TIMERS = Counter("parley_routing_timers_fired_total", "DR TTL timers fired", ["result"])
INBOUND = Counter("parley_routing_inbound_total", "Sandbox inbound messages", ["kind"])
SUBMITS = Counter("parley_route_submits_total", "Sends handed to each route's provider", ["route"])
SEND_ANSWERS = Counter(
    "parley_route_send_answers_total",
    "Providers' answers to sends, per route: accepted, failed, retry",
    ["route", "answer"],
)
ROUTE_UP = Gauge("parley_route_up", "1 when the route has a live connection", ["route"])
PROVIDER_REPORTS = Counter(
    "parley_route_reports_total", "Reports heard per route, by state", ["route", "state"]
)
UNKNOWN_REPORTS = Counter(
    "parley_route_unknown_reports_total",
    "Reports for a provider id no attempt is known under",
    ["route"],
)
USER_MESSAGES = Counter(
    "parley_route_user_messages_total", "Users' messages heard per route", ["route", "kind"]
)
SMPP_BINDS_UP = Gauge("parley_smpp_binds_up", "SMPP binds bound, per route", ["route"])
SMPP_WINDOW = Gauge(
    "parley_smpp_window_in_use", "SMPP submits awaiting their response, per route", ["route"]
)
SMPP_RESPONSES = Counter(
    "parley_smpp_responses_total",
    "submit_sm answers per route: command_status (0x..), connection_lost, no_response",
    ["route", "status"],
)
SMPP_RECEIPTS = Counter(
    "parley_smpp_receipts_total", "SMPP delivery receipts per route, by state", ["route", "state"]
)
CALLBACKS = Counter(
    "parley_route_callbacks_total",
    "Providers' HTTP callbacks per route, by outcome: verified, refused, handshake, failed",
    ["route", "outcome"],
)
CALLBACK_ITEMS = Counter(
    "parley_route_callback_items_total",
    "What verified callbacks carried, per route: report, message, typing, ignored",
    ["route", "kind"],
)
POISONED = Counter(
    "parley_routing_poison_messages_total",
    "Stream messages a consumer gave up on: invalid (terminated), exhausted (parked in "
    "ROUTING_POISON), not_stored (the copy failed; the message comes back)",
    ["consumer", "reason"],
)
OVERLOADED = Counter(
    "parley_routing_overloaded_total", "Requests refused 503 overloaded, by why", ["why"]
)
RATE_LIMITED = Counter("parley_routing_rate_limited_total", "Sends refused 429 rate_limited")
