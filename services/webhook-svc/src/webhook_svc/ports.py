"""The ports handlers work over; adapters implement them against NATS, JetStream and HTTP,
tests against fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from webhook_svc.domain.records import DeadLetter, Delivery
from webhook_svc.domain.targets import Target
from webhook_svc.domain.webhooks import AccountHooks


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after: str | None = None
    duration_ms: float = 0.0


class Source(Protocol):
    """A JetStream consumer's side of the messages it handed out (replies = ack subjects)."""

    name: str

    async def ack(self, replies: Sequence[str]) -> None:
        """The messages are done with: delivered, skipped, or durable elsewhere."""

    async def nak(self, replies: Sequence[str], delay_s: float | None = None) -> None:
        """Give the messages back unhandled (at shutdown); deliver them again (after `delay_s`)."""

    async def fail(self, replies: Sequence[str]) -> None:
        """The messages could not be handled now: deliver them again after a delay that grows
        with each delivery (until they go to the poison stream)."""

    async def term(self, reply: str, reason: str, account_id: str | None = None) -> None:
        """The message can never be handled (undecodable or invalid): never deliver it again;
        logged once with `reason` (never the body) and counted."""

    def backlog(self, reply: str) -> int:
        """How many messages wait in the stream behind this one (for this consumer)."""

    def erase_on_ack(self, reply: str) -> None:
        """Remove the message from its stream once it is acknowledged (a `do_not_store`
        account's text or URL: nothing of it stays once it is delivered or kept redacted)."""


class Sender(Protocol):
    """Sends one body to one target."""

    async def send(self, target: Target, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST (or publish) and report; never raises for the target's own failures."""


class Accounts(Protocol):
    """The account view."""

    def get(self, account_id: str) -> AccountHooks | None:
        """The account's webhooks, or None when the view does not hold it."""

    def is_deleted(self, account_id: str) -> bool:
        """Whether the account was deleted (its events are skipped, not held)."""

    def problem(self, account_id: str) -> str | None:
        """Why the account's latest config cannot be used (its events are dead-lettered, not
        held), or None."""


class DisabledHooks(Protocol):
    """Webhooks disabled by HTTP 410, until their account's config changes."""

    def is_disabled(self, account_id: str, kind: str, version: int) -> bool:
        """Whether that webhook at that config version is disabled."""

    async def disable(self, account_id: str, kind: str, version: int) -> None:
        """Disable it (durably) until a newer config version arrives."""


class RetryQueue(Protocol):
    """Batches waiting for their next attempt."""

    async def schedule(self, delivery: Delivery, delay_s: float) -> None:
        """Durably hold `delivery` and hand it to a worker after `delay_s`."""


class DeadLetters(Protocol):
    """Batches that used up their attempts."""

    async def add(self, letter: DeadLetter) -> None:
        """Store a dead letter durably."""

    async def remove(self, account_id: str, dead_letter_id: str) -> None:
        """Remove a dead letter (its replay was delivered, or it was replaced)."""

    async def get(self, account_id: str, dead_letter_id: str) -> DeadLetter | None:
        """One dead letter of an account, or None."""

    async def list(self, account_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """An account's dead letters as the API shows them, newest first (all, or `limit`)."""


class AttemptLog(Protocol):
    """The delivery log."""

    async def append(self, account_id: str, entry: Mapping[str, Any]) -> None:
        """Record one attempt (best effort: never blocks a delivery)."""

    async def recent(self, account_id: str, limit: int) -> list[dict[str, Any]]:
        """An account's most recent attempts, newest first."""
