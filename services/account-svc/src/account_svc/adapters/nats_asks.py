"""Requests to another service over NATS request/reply, and its answers read the same way.

A service answers a JSON object; one with a `status` of 404 is `NotFound` here, any other
`status` of 400 or more `TransientError` (a 503 to the caller: what it asked cannot be had now);
no reply within the timeout, or NATS's "no responders", is `TransientError` too. A request
carries the current trace context in its headers (when tracing is on).
"""

from __future__ import annotations

from typing import Any

import orjson
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from parley_runtime import tracing

from account_svc.errors import AccountSvcError, NotFound, TransientError

REQUEST_TIMEOUT_S = 5.0


def not_answering(service: str) -> TransientError:
    """The 503 for a service that does not answer."""
    return TransientError(f"{service} is not answering; retry later")


def answer_of(data: bytes, service: str) -> dict[str, Any]:
    """A service's answer, or the error it stands for."""
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise AccountSvcError(f"{service} answered something that is not JSON") from exc
    if not isinstance(answer, dict):
        raise AccountSvcError(f"{service} answered something that is not an object")
    status = answer.get("status")
    if isinstance(status, int) and status == 404:
        raise NotFound(str(answer.get("detail") or "not found"))
    if isinstance(status, int) and status >= 400:
        raise TransientError(str(answer.get("detail") or f"{service} refused the request"))
    return answer


async def ask(
    nc: Any, subject: str, body: dict[str, Any], service: str, timeout_s: float = REQUEST_TIMEOUT_S
) -> dict[str, Any]:
    """Request `subject` with a JSON body; the answer of the one replica that takes it."""
    try:
        msg = await nc.request(
            subject, orjson.dumps(body), timeout=timeout_s, headers=tracing.inject(None)
        )
    except (NoRespondersError, NatsTimeout) as exc:
        raise not_answering(service) from exc
    return answer_of(msg.data, service)
