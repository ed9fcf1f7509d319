"""A view rebuilt from a last-per-subject stream at start, then kept current (TEMPLATES,
SENDERS), on the services' one follower (`parley_runtime.follow`); `ready` is set once the
events present at start have been applied."""

from __future__ import annotations

import abc
import asyncio
from typing import Any

from parley_runtime.follow import Follower


class StreamView(abc.ABC):
    """Follows one stream's subjects; subclasses apply each event's payload."""

    stream: str
    filter_subject: str

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self._follower: Follower | None = None

    async def start(self, js: Any) -> None:
        """Rebuild from the last event per subject, then follow; `ready` once caught up."""
        self._follower = Follower(
            js,
            self.stream,
            self.filter_subject,
            lambda msg: self.handle(msg.data),
            on_caught_up=self._caught_up,
        )
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following."""
        if self._follower is not None:
            await self._follower.stop()

    def _caught_up(self) -> None:
        self.ready.set()
        self.on_ready()

    @abc.abstractmethod
    def handle(self, payload: bytes) -> None:
        """Apply one event (an unreadable one is logged and skipped by the subclass)."""

    @abc.abstractmethod
    def on_ready(self) -> None:
        """Called once, when the view has caught up."""
