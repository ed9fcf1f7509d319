"""A view rebuilt from a last-per-subject stream at start, then kept current (ACCOUNTS, TEMPLATES).

Every replica needs the whole view, so each process follows with its own ordered consumer
(deliver last per subject, then every change); `ready` is set once the events present at start
have been applied.
"""

from __future__ import annotations

import abc
import asyncio
from typing import Any

from nats.js.api import DeliverPolicy


class StreamView(abc.ABC):
    """Follows one stream's subjects; subclasses apply each event's payload."""

    stream: str
    filter_subject: str

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self._caught_up_at = 0
        self._sub: Any = None

    async def start(self, js: Any) -> None:
        """Rebuild from the last event per subject, then follow; `ready` once caught up."""
        info = await js.stream_info(self.stream)
        self._caught_up_at = int(info.state.last_seq)
        if info.state.messages == 0:
            self.ready.set()
        self._sub = await js.subscribe(
            self.filter_subject,
            stream=self.stream,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            cb=self._on_event,
        )

    async def stop(self) -> None:
        """Stop following."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    @abc.abstractmethod
    def handle(self, payload: bytes) -> None:
        """Apply one event (an unreadable one is logged and skipped by the subclass)."""

    @abc.abstractmethod
    def on_ready(self) -> None:
        """Called once, when the view has caught up."""

    async def _on_event(self, msg: Any) -> None:
        self.handle(msg.data)
        meta = msg.metadata
        if not self.ready.is_set() and (
            meta.sequence.stream >= self._caught_up_at or meta.num_pending == 0
        ):
            self.ready.set()
            self.on_ready()
