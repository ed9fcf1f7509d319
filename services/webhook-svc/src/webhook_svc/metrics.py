"""Prometheus metrics of webhook-svc (each is described in the service README).

No label carries an account id, URL or host: cardinality stays fixed however many accounts
and endpoints there are.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

EVENTS_RECEIVED = Counter(
    "parley_webhook_events_received_total",
    "Events taken from STATUS / INBOUND",
    ["kind"],
)
EVENTS_SKIPPED = Counter(
    "parley_webhook_events_skipped_total",
    "Events acknowledged without delivery, by reason",
    ["kind", "reason"],
)
EVENTS_DELIVERED = Counter(
    "parley_webhook_events_delivered_total",
    "Events in bodies a receiver accepted (2xx, or NATS publish confirmed)",
    ["kind"],
)
ATTEMPTS = Counter(
    "parley_webhook_attempts_total",
    "Delivery attempts by outcome (delivered, failed, dead)",
    ["kind", "outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "parley_webhook_attempt_seconds",
    "Duration of one delivery attempt",
    ["transport"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
BATCH_EVENTS = Histogram(
    "parley_webhook_batch_events",
    "Events per body when a batch is cut",
    buckets=(1, 2, 5, 10, 20, 30, 40, 50),
)
RETRIES_SCHEDULED = Counter(
    "parley_webhook_retries_scheduled_total",
    "Batches handed to WEBHOOK_RETRY for a later attempt",
    ["kind"],
)
DEFERRED = Counter(
    "parley_webhook_deferred_total",
    "Batches handed to WEBHOOK_RETRY unattempted because their endpoint's queue was full",
    ["kind"],
)
DEAD_LETTERS = Counter(
    "parley_webhook_dead_letters_total",
    "Batches stored as dead letters",
    ["kind"],
)
DISABLED = Counter(
    "parley_webhook_disabled_total",
    "Webhooks disabled by an HTTP 410 (until the account's config changes)",
    ["kind"],
)
SSRF_REFUSED = Counter(
    "parley_webhook_ssrf_refused_total",
    "Attempts refused by the SSRF guard (target resolves to a forbidden address)",
)
REPLAYS = Counter(
    "parley_webhook_replays_total",
    "Dead letters sent for replay",
)
STORE_ERRORS = Counter(
    "parley_webhook_store_errors_total",
    "JetStream writes that failed (the events stay unacknowledged and come back)",
    ["store"],
)
INVALID_MESSAGES = Counter(
    "parley_webhook_invalid_messages_total",
    "Messages terminated at once because they cannot be decoded or validated",
    ["consumer"],
)
FAILED_MESSAGES = Counter(
    "parley_webhook_failed_messages_total",
    "Messages given back after a failure, to come back after a growing delay",
    ["consumer"],
)
POISON_MESSAGES = Counter(
    "parley_webhook_poison_messages_total",
    "Messages moved to WEBHOOK_POISON after WEBHOOK_MAX_DELIVER deliveries",
    ["consumer"],
)
YIELDED = Counter(
    "parley_webhook_yielded_total",
    "Promotional batches handed to their WEBHOOK_RETRY lane unattempted because a backlog "
    "waited behind them (the backlog, OTP included, goes first)",
    ["kind"],
)
ERASED = Counter(
    "parley_webhook_erased_total",
    "do_not_store events (texts, clicked URLs) deleted from STATUS / INBOUND once handled",
    ["consumer"],
)
PURGED_ACCOUNTS = Counter(
    "parley_webhook_purged_accounts_total",
    "Deleted accounts whose webhook-svc data was purged",
)
PARKED_DEAD_LETTERED = Counter(
    "parley_webhook_parked_dead_lettered_total",
    "Events dead-lettered instead of waiting for their account's config, by reason",
    ["reason"],
)
INBOUND_NOT_EXPRESSIBLE = Counter(
    "parley_webhook_inbound_not_expressible_total",
    "Inbound events dead-lettered unsent because the user_initiated webhook's format cannot "
    "express them, by format",
    ["format"],
)
ACCOUNTS_UNUSABLE = Gauge(
    "parley_webhook_accounts_unusable",
    "Accounts whose latest config cannot be used (sealed secrets the master key cannot open)",
)
NATS_TARGET_CONNECTIONS = Gauge(
    "parley_webhook_nats_target_connections",
    "Pooled connections to customers' NATS servers",
)
NATS_TARGET_EVICTIONS = Counter(
    "parley_webhook_nats_target_evictions_total",
    "Pooled NATS target connections closed, by reason",
    ["reason"],
)
WAITING = Gauge(
    "parley_webhook_events_waiting_for_account",
    "Events held until their account's config arrives",
)
HELD = Gauge(
    "parley_webhook_held_messages",
    "JetStream messages this process holds unacknowledged",
    ["consumer"],
)
ACCOUNTS = Gauge(
    "parley_webhook_accounts",
    "Accounts in this process's view",
)
API_REQUESTS = Counter(
    "parley_webhook_api_requests_total",
    "Request/reply API requests by operation and answered status",
    ["operation", "status"],
)


@cache
def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, looked up once (label values here come from a small fixed set)."""
    return metric.labels(*labels)
