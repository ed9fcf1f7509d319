"""Pipelined JetStream publishing with lean ack handling.

nats-py's `publish_async` costs a semaphore, a NUID plus `os.urandom` token, stdlib `json` and
a dataclass per ack; on routing-svc's hot path (a dozen JetStream writes per message) that is
a large share of the CPU. This publisher sends each message with a reply subject under one
inbox (`<inbox>.<counter>`) and resolves a future per ack with orjson. An ack that never comes
(a reconnect lost it) fails its future after `timeout_s`, swept once a second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson
from nats.js.errors import APIError, NoStreamResponseError
from parley_runtime.tasks import cancel_and_wait


@dataclass(frozen=True, slots=True)
class Ack:
    """What JetStream answered: the stream, the message's sequence, and whether it was a repeat."""

    stream: str
    seq: int
    duplicate: bool = False


def _api_error(error: dict[str, Any]) -> APIError:
    """nats-py's exception for a JetStream error answer (`APIError.from_error` raises it rather
    than returning it: raised inside the ack callback it would leave the future unresolved)."""
    try:
        APIError.from_error(error)
    except APIError as exc:
        return exc
    return APIError(**error)  # not reached: from_error always raises


class JetStreamPublisher:
    """Publishes to JetStream; `publish` returns a future of the `Ack`."""

    def __init__(self, nc: Any, timeout_s: float = 10.0) -> None:
        self._nc = nc
        self._timeout = timeout_s
        self._prefix = ""
        self._waiting: dict[str, tuple[asyncio.Future[Ack], float]] = {}
        self._counter = 0
        self._sub: Any = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe to the ack inbox."""
        self._prefix = self._nc.new_inbox() + "."
        self._sub = await self._nc.subscribe(
            self._prefix + "*", cb=self._on_ack, pending_msgs_limit=1_000_000
        )
        self._sweeper = asyncio.create_task(self._sweep(), name="jetstream-ack-sweeper")

    async def stop(self) -> None:
        """Stop sweeping (pending futures are left to their callers' timeouts)."""
        await cancel_and_wait(self._sweeper)

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> asyncio.Future[Ack]:
        """Send now; the future resolves with the ack (or fails with JetStream's error)."""
        self._counter += 1
        token = str(self._counter)
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._waiting[token] = (future, time.monotonic())
        try:
            await self._nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
        except BaseException:
            self._waiting.pop(token, None)
            raise
        return future

    async def _on_ack(self, msg: Any) -> None:
        held = self._waiting.pop(msg.subject[len(self._prefix) :], None)
        if held is None or held[0].done():
            return
        future = held[0]
        if msg.headers and msg.headers.get("Status") == "503":
            future.set_exception(NoStreamResponseError())
            return
        try:
            answer = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            future.set_exception(APIError(description="unreadable JetStream ack"))
            return
        error = answer.get("error")
        if error:
            future.set_exception(_api_error(error))
        else:
            future.set_result(
                Ack(answer["stream"], int(answer["seq"]), bool(answer.get("duplicate")))
            )

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            expired = time.monotonic() - self._timeout
            stale = [token for token, (_, at) in self._waiting.items() if at < expired]
            for token in stale:
                future, _ = self._waiting.pop(token)
                if not future.done():
                    future.set_exception(TimeoutError("no JetStream ack"))
