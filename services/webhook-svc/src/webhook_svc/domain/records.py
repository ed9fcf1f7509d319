"""The durable shapes of webhook-svc: a batch on its way, a dead letter, a delivery log entry.

A batch (`Delivery`) is rendered once, when it is cut: its body (before encryption), its
`webhook-id` and its metadata headers then stay the same across retries and replays, so a
receiver can de-duplicate by `webhook-id`. Encryption and signing happen at each attempt,
with the secrets valid then. How they travel on the bus is `adapters.codec`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Delivery:
    """One body for one webhook, and the number of its next attempt."""

    batch_id: str
    account_id: str
    kind: str
    event_ids: list[str]
    body: bytes = field(repr=False)
    attempt: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    replay_of: str | None = None
    raw: bool = False
    """The body is the source event as published, not yet rendered: an event dead-lettered
    before its account's config could be used (it is rendered when it is replayed)."""
    protection: str = "store"
    """The account's data protection when the batch was made (`unknown` when its config was
    not usable): anything but `store` is kept sealed on WEBHOOK_RETRY and WEBHOOK_DEAD_LETTERS,
    and a `do_not_store` dead letter keeps no text or URL (`domain.redaction`)."""
    traffic_class: str = "transactional"
    """The account's traffic class: the WEBHOOK_RETRY lane the batch waits in."""
    traces: tuple[str, ...] = ()
    """W3C traceparents of the messages behind it (tracing on): the first is the parent of its
    attempt's span, the others are linked. Never stored: a retry's travels in the headers of
    its WEBHOOK_RETRY message."""


@dataclass(slots=True)
class DeadLetter:
    """A batch that used up its attempts (or whose webhook answered 410)."""

    id: str
    delivery: Delivery
    attempts: int
    last_error: str
    failed_at: str

    def public(self) -> dict[str, Any]:
        """The dead letter as the API answers it (CONTRACT 2)."""
        return {
            "id": self.id,
            "kind": self.delivery.kind,
            "event_ids": self.delivery.event_ids,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "failed_at": self.failed_at,
        }


def attempt_entry(
    entry_id: str,
    delivery: Delivery,
    *,
    url: str,
    outcome: str,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
    at: str,
) -> dict[str, Any]:
    """One delivery log entry (CONTRACT 8); `url` must already be redacted."""
    return {
        "id": entry_id,
        "kind": delivery.kind,
        "event_ids": delivery.event_ids,
        "url": url,
        "attempt": delivery.attempt,
        "outcome": outcome,
        "status_code": status_code,
        "error": error,
        "duration_ms": round(duration_ms, 1),
        "at": at,
    }
