"""Records the use cases hand to the stores."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event to publish after commit: its id, subject and JSON payload. Written in the same
    transaction as the change it announces; the outbox relay publishes it afterwards."""

    event_id: str
    subject: str
    payload: bytes
