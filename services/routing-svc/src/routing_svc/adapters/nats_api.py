"""The send over NATS request/reply (`parley.api.v1.messages.send`, queue group `routing-svc`).

Header `Authorization: Bearer <api_key>` (or `X-API-Key`), the body as over HTTP. The reply is
the JSON the HTTP API answers (an envelope for an encrypting account), or problem JSON with
its `status`; header `Parley-Status` repeats the HTTP status. No IP restriction here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import structlog
from nats.errors import Error as NatsError
from parley_shared import subjects

from routing_svc.access import Gate, refused, validated
from routing_svc.domain.policy import PolicyRefusal
from routing_svc.domain.requests import MessageIn
from routing_svc.errors import RoutingError, TransientError
from routing_svc.metrics import ACCEPTED, REFUSED, inc
from routing_svc.submissions import Submissions

log = structlog.get_logger("routing_svc.nats_api")

STATUS_HEADER = "Parley-Status"


def header(headers: dict[str, str] | None, name: str) -> str | None:
    """A header of a NATS message, by case-insensitive name."""
    if not headers:
        return None
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def error_for(exc: Exception) -> RoutingError:
    """The problem an exception is answered with."""
    if isinstance(exc, RoutingError):
        return exc
    if isinstance(exc, OSError | TimeoutError | NatsError):
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return TransientError("a dependency is unavailable; retry later")
    log.error("nats_send_failed", error=type(exc).__name__, exc_info=exc)
    return RoutingError("an unexpected error occurred")


class NatsApi:
    """Answers sends over NATS, each request in its own task."""

    def __init__(self, nc: Any, gate: Gate, submissions: Submissions) -> None:
        self._nc, self._gate, self._submissions = nc, gate, submissions
        self._sub: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Join the queue group."""
        self._sub = await self._nc.subscribe(
            subjects.API_MESSAGES_SEND,
            queue=subjects.QUEUE_ROUTING_API,
            cb=self._on_request,
            pending_msgs_limit=100_000,
        )

    async def stop(self) -> None:
        """Leave the queue group and let the requests in hand finish (briefly)."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def _on_request(self, msg: Any) -> None:
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Any) -> None:
        status, body = await self.send(msg.headers, msg.data)
        if msg.reply:
            await self._nc.publish(msg.reply, body, headers={STATUS_HEADER: str(status)})

    async def send(self, headers: dict[str, str] | None, data: bytes) -> tuple[int, bytes]:
        """(status, reply body) of one send request."""
        try:
            account = self._gate.authenticate(
                header(headers, "Authorization"), header(headers, "X-API-Key")
            )
            body = validated(MessageIn, self._gate.open_body(account, data))
            key = self._gate.answer_key(account)  # 503 before storing, not after
            try:
                answer = await self._submissions.send(account, body)
            except PolicyRefusal as exc:
                inc(REFUSED, exc.code, "nats")
                raise refused(exc) from exc
            inc(ACCEPTED, body.channel, "nats")
            return 202, self._gate.seal_answer(account, answer, key)
        except Exception as exc:  # noqa: BLE001 - every failure is answered
            error = error_for(exc)
            return error.status, orjson.dumps(error.problem())
