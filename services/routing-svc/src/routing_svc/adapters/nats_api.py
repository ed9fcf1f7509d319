"""The send over NATS request/reply (`parley.api.v1.messages.send`, queue group `routing-svc`).

Header `Authorization: Bearer <api_key>` (or `X-API-Key`), the body as over HTTP. The reply is
the JSON the HTTP API answers (an envelope for an encrypting account), or problem JSON with
its `status`; header `Parley-Status` repeats the HTTP status. No IP restriction here.

Who calls, and where the answer may go (CONTRACT section 10):
- An integrator's `parley.api.v1.messages.send` arrives on `parley.api.v1.messages.send.<id>`
  through its NATS account's import: the server, not a header, names the account. The key
  must still be that account's (else 401), and the reply is the server's response subject
  (`_R_.`), which leads back into the caller's own account only.
- The plain subject (inside the services' account, or a server without accounts) is answered
  only on the caller's inbox, `_INBOX.<account_id>.` (`_INBOX.` while no account is known).
A request whose reply subject breaks this is neither processed nor answered: publish
permissions do not cover reply subjects, so a spoofed reply would otherwise make routing-svc
publish into another account's subjects or streams.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import structlog
from nats.errors import Error as NatsError
from opentelemetry.trace import SpanKind
from parley_runtime import tracing
from parley_shared import subjects

from routing_svc.access import Gate, refused, validated
from routing_svc.domain.accounts import AccountView
from routing_svc.domain.policy import PolicyRefusal
from routing_svc.domain.requests import MessageIn
from routing_svc.errors import Overloaded, RoutingSvcError, TransientError, Unauthorized
from routing_svc.metrics import ACCEPTED, OVERLOADED, REFUSED, inc
from routing_svc.submissions import Submissions

log = structlog.get_logger("routing_svc.nats_api")

STATUS_HEADER = "Parley-Status"
SERVER_RESPONSE_PREFIX = "_R_."  # reply subjects the server makes for a service import


def reply_allowed(reply: str, caller: str | None, account_id: str | None) -> bool:
    """Whether a request's answer may go to `reply` (`caller`: the account named by the
    subject; `account_id`: the account of the presented key, once known)."""
    if caller is not None:
        return reply.startswith(SERVER_RESPONSE_PREFIX)
    if account_id is not None:
        return reply.startswith(f"_INBOX.{account_id}.")
    return reply.startswith("_INBOX.")


def _caller_of(subject: str) -> str | None:
    """The account a per-account send subject names (None on the plain subject)."""
    prefix = subjects.API_MESSAGES_SEND + "."
    return subject[len(prefix) :] if subject.startswith(prefix) else None


def header(headers: dict[str, str] | None, name: str) -> str | None:
    """A header of a NATS message, by case-insensitive name."""
    if not headers:
        return None
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def error_for(exc: Exception) -> RoutingSvcError:
    """The problem an exception is answered with."""
    if isinstance(exc, RoutingSvcError):
        return exc
    if isinstance(exc, OSError | TimeoutError | NatsError):
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return TransientError("a dependency is unavailable; retry later")
    log.error("nats_send_failed", error=type(exc).__name__, exc_info=exc)
    return RoutingSvcError("an unexpected error occurred")


# nats-py, not FastStream, on this hot path: measured on a request/reply responder in a queue
# group, a FastStream subscriber answered 0.35-0.38x the requests per second of a nats-py
# subscription (6,700-7,900 against 18,000-21,100/s with 100 in flight, `python -m
# parley_devtools.bench.faststream_cost`, docs/performance.md "FastStream on a hot path").
class NatsApi:
    """Answers sends over NATS, each request in its own task."""

    def __init__(
        self, nc: Any, gate: Gate, submissions: Submissions, max_in_flight: int = 4096
    ) -> None:
        self._nc, self._gate, self._submissions = nc, gate, submissions
        self._max_in_flight = max_in_flight
        self._subs: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Join the queue group, on the plain subject and on every integrator's."""
        self._subs = [
            await self._nc.subscribe(
                subject,
                queue=subjects.QUEUE_ROUTING_API,
                cb=self._on_request,
                pending_msgs_limit=100_000,
            )
            for subject in (subjects.API_MESSAGES_SEND, subjects.API_MESSAGES_SEND_ALL)
        ]

    async def stop(self) -> None:
        """Leave the queue group and let the requests in hand finish (briefly)."""
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs = []
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def _on_request(self, msg: Any) -> None:
        if len(self._tasks) >= self._max_in_flight:
            # Too many requests in hand: answer at once, hold nothing (no body read, no task).
            inc(OVERLOADED, "nats_in_flight")
            if msg.reply and reply_allowed(msg.reply, _caller_of(msg.subject), None):
                error = Overloaded("too many requests in hand; retry shortly")
                await self._nc.publish(
                    msg.reply, orjson.dumps(error.problem()), headers={STATUS_HEADER: "503"}
                )
            return
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Any) -> None:
        caller = _caller_of(msg.subject)
        with tracing.span(  # a no-op unless tracing is on; continues the caller's traceparent
            "send over NATS", kind=SpanKind.SERVER, parent=tracing.extract(msg.headers)
        ):
            answer = await self.send(msg.headers, msg.data, caller=caller, reply=msg.reply or None)
        if answer is not None and msg.reply:
            status, body = answer
            await self._nc.publish(msg.reply, body, headers={STATUS_HEADER: str(status)})

    def _authenticate(self, headers: dict[str, str] | None, caller: str | None) -> AccountView:
        """The account of the presented key, which must be `caller`'s when a subject names one."""
        account = self._gate.authenticate(
            header(headers, "Authorization"), header(headers, "X-API-Key")
        )
        if caller is not None and account.account_id != caller:
            raise Unauthorized("the API key is not valid")
        return account

    async def send(
        self,
        headers: dict[str, str] | None,
        data: bytes,
        *,
        caller: str | None = None,
        reply: str | None = None,
    ) -> tuple[int, bytes] | None:
        """(status, reply body) of one send request; None when `reply` lies outside the
        caller's inbox (then nothing was done). `caller` is the account the subject names."""
        account_id: str | None = None
        try:
            account = self._authenticate(headers, caller)
            account_id = account.account_id
            if reply is not None and not reply_allowed(reply, caller, account_id):
                log.warning("nats_send_reply_refused", account_id=account_id)
                return None
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
            if reply is not None and not reply_allowed(reply, caller, account_id):
                log.warning("nats_send_reply_refused", account_id=account_id)
                return None
            error = error_for(exc)
            return error.status, orjson.dumps(error.problem())
