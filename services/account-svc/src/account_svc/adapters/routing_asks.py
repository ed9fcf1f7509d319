"""What the console asks routing-svc over NATS request/reply (routing-svc's README, "Operator
API"): every replica's routes, a message's trace, messages by `client_ref`.

The routes query is a scatter: routing-svc's replicas subscribe without a queue group, so one
publish with one reply inbox reaches all of them, and the replies are gathered for `gather_s`
after the first (each replica answers from memory, within a few milliseconds of the others on
one network). Nobody knows how many replicas run, so the count seen by the last full gather is
remembered: once that many have answered, the answer goes back at once while the gather runs
on in the background and updates the count (a replica that joined is in the next answer, one
that left costs one full `gather_s` wait). No reply within `timeout_s`, or NATS's "no
responders" status, is a 503. The other two go to one replica (queue group), like any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from parley_runtime import tracing
from parley_shared import subjects

from account_svc.adapters.nats_asks import REQUEST_TIMEOUT_S, answer_of, ask, not_answering
from account_svc.errors import AccountSvcError, NotFound

SERVICE = "routing-svc"


def _no_responders(msg: Any) -> bool:
    headers = getattr(msg, "headers", None) or {}
    return not msg.data and str(headers.get("Status", "")) == "503"


class RoutingAsks:
    """Requests to routing-svc's operator API."""

    def __init__(
        self, nc: Any, gather_s: float = 0.25, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> None:
        self._nc, self._gather_s, self._timeout_s = nc, gather_s, timeout_s
        self._replicas = 0  # how many answered the last full gather
        self._gathers: set[asyncio.Task[None]] = set()

    async def _ask(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        return await ask(self._nc, subject, body, SERVICE, self._timeout_s)

    async def routes(self) -> list[dict[str, Any]]:
        """Every replica's answer to the routes query (at least one, else 503)."""
        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(inbox)
        replies: list[dict[str, Any]] = []
        enough = asyncio.Event()
        await self._nc.publish(
            subjects.ROUTING_ROUTES_QUERY, b"{}", reply=inbox, headers=tracing.inject(None)
        )
        gathering = asyncio.create_task(self._gather(sub, replies, enough))
        self._gathers.add(gathering)
        gathering.add_done_callback(self._gathers.discard)
        waiting = asyncio.create_task(enough.wait())
        await asyncio.wait({gathering, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if not replies:
            raise not_answering(SERVICE)
        return list(replies)

    async def _gather(self, sub: Any, replies: list[dict[str, Any]], enough: asyncio.Event) -> None:
        """Collect replies until `gather_s` after the first; set `enough` once as many as the
        last full gather saw have come; remember how many came."""
        deadline = time.monotonic() + self._timeout_s
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await sub.next_msg(timeout=left)
                except (TimeoutError, NatsTimeout):
                    break
                if _no_responders(msg):
                    break
                try:
                    replies.append(answer_of(msg.data, SERVICE))
                except AccountSvcError:
                    continue  # one replica's bad answer must not hide the others
                if len(replies) == 1:
                    deadline = min(deadline, time.monotonic() + self._gather_s)
                if self._replicas and len(replies) >= self._replicas:
                    enough.set()
            if replies:
                self._replicas = len(replies)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def trace(self, message_id: str) -> dict[str, Any] | None:
        """A message's trace, or None when routing-svc's log does not hold it."""
        try:
            answer = await self._ask(subjects.ROUTING_MESSAGES_TRACE, {"message_id": message_id})
        except NotFound:
            return None
        message = answer.get("message")
        return message if isinstance(message, dict) else None

    async def find(self, query: str, accounts: list[str] | None, limit: int) -> dict[str, Any]:
        """The newest messages sent with the `client_ref` `query` by `accounts` (None: any)."""
        body: dict[str, Any] = {"client_ref": query, "limit": limit}
        if accounts is not None:
            body["account_ids"] = accounts
        return await self._ask(subjects.ROUTING_MESSAGES_FIND, body)
