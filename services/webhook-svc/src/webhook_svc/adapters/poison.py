"""WEBHOOK_POISON: messages a webhook-svc consumer gave up on after `WEBHOOK_MAX_DELIVER`
deliveries (see `domain.redelivery` for why the count is kept here, not by the consumer).

Each is stored as it arrived (its bytes untouched) on `parley.webhook.v1.poison.<consumer>.
<account>`, with where it came from in headers, and only then terminated at its source: a
copy that is not confirmed leaves the source message to come back later. `Nats-Msg-Id` is the
source stream and sequence, so a worker that dies between the copy and the `term` does not
store it twice (within the stream's duplicate window). The stream is bounded in age, count and
bytes with `discard: new`: when it is full, nothing is copied and nothing is terminated.
"""

from __future__ import annotations

from typing import Any, Final

from parley_shared import subjects
from parley_shared.timefmt import now_ts

from webhook_svc import metrics
from webhook_svc.adapters.stores import describe
from webhook_svc.errors import StoreUnavailable

PUBLISH_TIMEOUT_S: Final = 5.0
UNKNOWN_ACCOUNT: Final = "_unknown"
HEADER_STREAM: Final = "Parley-Poison-Stream"
HEADER_SUBJECT: Final = "Parley-Poison-Subject"
HEADER_SEQUENCE: Final = "Parley-Poison-Sequence"
HEADER_CONSUMER: Final = "Parley-Poison-Consumer"
HEADER_DELIVERIES: Final = "Parley-Poison-Deliveries"
HEADER_AT: Final = "Parley-Poison-At"


def poison_subject(consumer: str, subject: str) -> str:
    """Where a message of `subject` taken from `consumer` is kept on WEBHOOK_POISON."""
    try:
        return subjects.webhook_poison(consumer, subjects.account_id_of(subject))
    except subjects.InvalidSubjectToken:
        return subjects.webhook_poison(consumer, UNKNOWN_ACCOUNT)


class PoisonStore:
    """Copies of given-up messages on WEBHOOK_POISON."""

    def __init__(self, js: Any) -> None:
        """Use this JetStream context."""
        self._js = js

    async def add(
        self,
        *,
        consumer: str,
        stream: str,
        subject: str,
        sequence: int,
        deliveries: int,
        data: bytes,
    ) -> None:
        """Store one message; StoreUnavailable unless JetStream confirms it."""
        headers = {
            subjects.HEADER_MSG_ID: f"{stream}.{sequence}",
            HEADER_STREAM: stream,
            HEADER_SUBJECT: subject,
            HEADER_SEQUENCE: str(sequence),
            HEADER_CONSUMER: consumer,
            HEADER_DELIVERIES: str(deliveries),
            HEADER_AT: now_ts(),
        }
        try:
            await self._js.publish(
                poison_subject(consumer, subject),
                data,
                headers=headers,
                timeout=PUBLISH_TIMEOUT_S,
            )
        except Exception as exc:
            metrics.STORE_ERRORS.labels("poison").inc()
            raise StoreUnavailable(f"poison copy not stored: {describe(exc)}") from exc
