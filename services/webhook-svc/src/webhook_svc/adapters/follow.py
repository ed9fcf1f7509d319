"""Following a stream of snapshots: the last message per subject at start, then every change.

An ordered push consumer (ephemeral, in memory, recreated by nats-py after a gap) delivers
the last message of each subject, then follows. `caught_up` is set once the messages that
were there at start are handled (at once for an empty stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.js.api import DeliverPolicy

log = structlog.get_logger("webhook_svc.follow")

Apply = Callable[[Any], Awaitable[None]]


class Follower:
    """Hands every message of `subject` on `stream` to `apply`, in stream order."""

    def __init__(self, js: Any, stream: str, subject: str, apply: Apply) -> None:
        """Describe what to follow; nothing happens until `start`."""
        self._js = js
        self._stream = stream
        self._subject = subject
        self._apply = apply
        self._sub: Any = None
        self.caught_up = asyncio.Event()

    async def start(self) -> None:
        """Subscribe; `caught_up` is set once the snapshot at start is applied."""
        info = await self._js.stream_info(self._stream)
        if not info.state.messages:
            self.caught_up.set()
        self._sub = await self._js.subscribe(
            self._subject,
            stream=self._stream,
            cb=self._on_msg,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        )

    async def _on_msg(self, msg: Any) -> None:
        failure = None
        try:
            await self._apply(msg)
        except Exception as exc:  # noqa: BLE001 - one bad snapshot must not stop the follower
            failure = type(exc).__name__
        if failure is not None:
            log.error("snapshot_not_applied", stream=self._stream, error=failure)
        if msg.metadata.num_pending == 0:
            self.caught_up.set()

    async def stop(self) -> None:
        """Unsubscribe."""
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - closing anyway
                log.debug("unsubscribe_failed", error=type(exc).__name__)
            self._sub = None
