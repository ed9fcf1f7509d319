"""The request/reply API account-svc calls on behalf of admins (queue group `webhook-svc`).

- `parley.webhook.v1.deliveries.query` `{"account_id", "limit"?: 1..200, default 50,
  "event_ids"?: [1..200 ids]}` -> `{"items": [attempt, ...]}`, newest first; with `event_ids`,
  only the attempts that carried one of those events, among every attempt the log keeps for
  the account (its last 200): the operator console's message trace;
- `parley.webhook.v1.dead_letters.query` `{"account_id", "limit"?: 1..500}`
  -> `{"items": [dead letter, ...]}`, newest first: every one of the account's dead letters
  unless `limit` is given (CONTRACT 2 lists them all, without paging);
- `parley.webhook.v1.dead_letters.replay` `{"account_id", "dead_letter_id"}`
  -> `{"status": 202}`, or the problem 404 `not_found`.

Errors are problem documents with `status` (400 `malformed_request`, 422 `validation_error`,
404 `not_found`, 503 `service_unavailable`). A replay puts the dead letter's batch (same body
and `webhook-id`) on WEBHOOK_RETRY as attempt 1; the dead letter stays listed until that
replay is delivered, and a replay that fails again replaces it with a new dead letter.

The handlers are FastStream subscribers (`Api.register` puts them on the service's broker,
`parley_runtime.broker`): off the hot path, so FastStream's cost per message does not matter
here, and its test broker and AsyncAPI description come with it. A request is read as raw
bytes (so that a body that is not JSON gets our 400, not FastStream's decoding) and answered
with the JSON bytes below, exactly as before FastStream.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from faststream.nats.broker.registrator import NatsRegistrator
from parley_runtime.broker import raw_body
from parley_shared import subjects

from webhook_svc import metrics
from webhook_svc.errors import (
    MalformedRequest,
    NotFound,
    TransientError,
    ValidationFailed,
    WebhookSvcError,
)
from webhook_svc.ports import AttemptLog, DeadLetters, RetryQueue

log = structlog.get_logger("webhook_svc.rpc")

_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
Operation = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def _account_id(request: dict[str, Any]) -> str:
    value = request.get("account_id")
    if not isinstance(value, str) or not _ID.match(value):
        raise ValidationFailed.at(["account_id"], "must be an account id")
    return value


def _request(data: bytes) -> dict[str, Any]:
    try:
        request = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest("the request is not JSON") from exc
    if not isinstance(request, dict):
        raise MalformedRequest("the request must be a JSON object")
    return request


def fitted(reply: dict[str, Any], max_bytes: int) -> bytes:
    """The reply's JSON, within the server's max_payload: a list that would not fit keeps its
    first (newest) items and says `"truncated": true`, rather than the reply failing to send."""
    body = orjson.dumps(reply)
    items = reply.get("items")
    if len(body) <= max_bytes or not isinstance(items, list):
        return body
    low, high = 0, len(items)  # the most items that fit lies in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if len(orjson.dumps({**reply, "items": items[:middle], "truncated": True})) <= max_bytes:
            low = middle
        else:
            high = middle
    return orjson.dumps({**reply, "items": items[:low], "truncated": True})


def _limit(request: dict[str, Any], high: int) -> int | None:
    """The request's `limit` (1..high), or None when it gives none."""
    value = request.get("limit")
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= high:
        raise ValidationFailed.at(["limit"], f"must be an integer between 1 and {high}")
    return value


LOG_KEPT = 200  # WEBHOOK_DELIVERIES keeps the last 200 attempts per account


def _event_ids(request: dict[str, Any]) -> set[str] | None:
    """The request's `event_ids` (1..200 ids), or None when it gives none."""
    value = request.get("event_ids")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= 200
        or not all(isinstance(v, str) and _ID.match(v) for v in value)
    ):
        raise ValidationFailed.at(["event_ids"], "must be a list of 1 to 200 event ids")
    return set(value)


class Api:
    """Answers delivery-log, dead-letter and replay requests."""

    def __init__(
        self, nc: Any, dead_letters: DeadLetters, attempt_log: AttemptLog, retries: RetryQueue
    ) -> None:
        """Use these stores (`nc`: the service's connection, for its `max_payload`)."""
        self._nc = nc
        self._dead_letters = dead_letters
        self._log = attempt_log
        self._retries = retries

    def register(self, broker: NatsRegistrator) -> None:
        """Subscribe the three subjects on `broker`, in the `webhook-svc` queue group."""
        operations: dict[str, tuple[str, Operation, str]] = {
            subjects.WEBHOOK_DELIVERIES_QUERY: (
                "deliveries",
                self.deliveries,
                "An account's recent delivery attempts, newest first.",
            ),
            subjects.WEBHOOK_DEAD_LETTERS_QUERY: (
                "dead_letters",
                self.dead_letters,
                "An account's dead letters, newest first.",
            ),
            subjects.WEBHOOK_DEAD_LETTERS_REPLAY: (
                "replay",
                self.replay,
                "Deliver a dead letter again from attempt 1.",
            ),
        }
        for subject, (name, operation, description) in operations.items():
            broker.subscriber(
                subject,
                queue=subjects.QUEUE_WEBHOOK_API,
                decoder=raw_body,
                title=f"webhook-svc {name}",
                description=description,
            )(self._handler(name, operation))

    def _handler(self, name: str, operation: Operation) -> Callable[[bytes], Awaitable[bytes]]:
        async def handle(body: bytes) -> bytes:
            return fitted(await self.answer(name, operation, body), self._nc.max_payload)

        handle.__name__ = name
        return handle

    async def answer(self, name: str, operation: Operation, data: bytes) -> dict[str, Any]:
        """The reply to one request (a problem document for any error)."""
        failure = None
        try:
            reply = await operation(_request(data))
            status = int(reply.get("status", 200))
        except WebhookSvcError as exc:
            reply, status = exc.problem(), exc.status
        except Exception as exc:  # noqa: BLE001 - every failure is answered, none crashes
            failure = type(exc).__name__
            error = TransientError("the request could not be served; retry later")
            reply, status = error.problem(), error.status
        if failure is not None:
            log.error("api_request_failed", operation=name, error=failure)
        metrics.API_REQUESTS.labels(name, str(status)).inc()
        return reply

    async def deliveries(self, request: dict[str, Any]) -> dict[str, Any]:
        """An account's recent delivery attempts, newest first (those of some events only,
        when `event_ids` is given)."""
        account_id = _account_id(request)
        limit = 50 if (given := _limit(request, 200)) is None else given
        wanted = _event_ids(request)
        if wanted is None:
            return {"items": await self._log.recent(account_id, limit)}
        entries = await self._log.recent(account_id, LOG_KEPT)
        found = [e for e in entries if wanted.intersection(e.get("event_ids") or ())]
        return {"items": found[:limit]}

    async def dead_letters(self, request: dict[str, Any]) -> dict[str, Any]:
        """An account's dead letters, newest first: all of them unless `limit` is given."""
        account_id = _account_id(request)
        return {"items": await self._dead_letters.list(account_id, _limit(request, 500))}

    async def replay(self, request: dict[str, Any]) -> dict[str, Any]:
        """Deliver a dead letter again from attempt 1."""
        account_id = _account_id(request)
        dead_letter_id = request.get("dead_letter_id")
        if not isinstance(dead_letter_id, str) or not dead_letter_id:
            raise ValidationFailed.at(["dead_letter_id"], "must be a dead letter id")
        letter = None
        if _ID.match(dead_letter_id):
            letter = await self._dead_letters.get(account_id, dead_letter_id)
        if letter is None:
            raise NotFound(f"no dead letter {dead_letter_id[:64]} for this account")
        delivery = dataclasses.replace(letter.delivery, attempt=1, replay_of=letter.id)
        await self._retries.schedule(delivery, 0.0)
        metrics.REPLAYS.inc()
        log.info("dead_letter_replayed", account_id=account_id, dead_letter_id=letter.id)
        return {"status": 202}
