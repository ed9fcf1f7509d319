"""WEBHOOK_POISON: messages a webhook-svc consumer gave up on after `WEBHOOK_MAX_DELIVER`
deliveries (see `parley_runtime.redelivery` for why the count is kept here, not by the consumer).

Each is stored as it arrived (its bytes untouched) on `parley.webhook.v1.poison.<consumer>.
<account>`, with where it came from in headers, and only then terminated at its source: a
copy that is not confirmed leaves the source message to come back later. `Nats-Msg-Id` is the
source stream and sequence, so a worker that dies between the copy and the `term` does not
store it twice (within the stream's duplicate window). The stream is bounded in age, count and
bytes with `discard: new`: when it is full, nothing is copied and nothing is terminated.

A STATUS or INBOUND event of an account whose data protection is not `store` (or not known)
is copied sealed (`codec.BodySeal` of the bytes in base64, header `Parley-Poison-Sealed:
base64`): an operator opens it with the master key; WEBHOOK_RETRY records carry their own
sealing already.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Final

from parley_runtime.pull import Poisoned
from parley_shared import subjects
from parley_shared.timefmt import now_ts

from webhook_svc import metrics
from webhook_svc.adapters.codec import BodySeal
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
HEADER_SEALED: Final = "Parley-Poison-Sealed"
EVENT_STREAMS: Final = frozenset({subjects.STREAM_STATUS, subjects.STREAM_INBOUND})


def poison_subject(consumer: str, subject: str) -> str:
    """Where a message of `subject` taken from `consumer` is kept on WEBHOOK_POISON."""
    try:
        return subjects.webhook_poison(consumer, subjects.account_id_of(subject))
    except subjects.InvalidSubjectToken:
        return subjects.webhook_poison(consumer, UNKNOWN_ACCOUNT)


class PoisonStore:
    """Copies of given-up messages on WEBHOOK_POISON."""

    def __init__(
        self,
        js: Any,
        seal: BodySeal | None = None,
        protection_of: Callable[[str], str] | None = None,
    ) -> None:
        """Use this JetStream context; `protection_of(account_id)` says an account's data
        protection, and `seal` seals the copies of protected accounts' events."""
        self._js = js
        self._seal = seal
        self._protection_of = protection_of

    async def add(self, copy: Poisoned) -> None:
        """Store one message; StoreUnavailable unless JetStream confirms it."""
        stream, subject, data = copy.stream, copy.subject, copy.data
        headers = {
            subjects.HEADER_MSG_ID: f"{stream}.{copy.sequence}",
            HEADER_STREAM: stream,
            HEADER_SUBJECT: subject,
            HEADER_SEQUENCE: str(copy.sequence),
            HEADER_CONSUMER: copy.consumer,
            HEADER_DELIVERIES: str(copy.deliveries),
            HEADER_AT: now_ts(),
        }
        account_id = subjects.account_id_of(subject)
        protection_of = self._protection_of
        if (
            self._seal is not None
            and protection_of is not None
            and stream in EVENT_STREAMS
            and protection_of(account_id) != "store"
        ):
            data = self._seal.seal(account_id, base64.b64encode(data))
            headers[HEADER_SEALED] = "base64"
        try:
            await self._js.publish(
                poison_subject(copy.consumer, subject),
                data,
                headers=headers,
                timeout=PUBLISH_TIMEOUT_S,
            )
        except Exception as exc:
            metrics.STORE_ERRORS.labels("poison").inc()
            raise StoreUnavailable(f"poison copy not stored: {describe(exc)}") from exc
