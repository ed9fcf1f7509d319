"""Following a stream from every process: the one way a Parley service keeps a view current.

Every replica needs the whole view (accounts, templates, senders, the console's traffic), so
each process follows with its own ordered push consumer (ephemeral, in memory, recreated by
nats-py after a gap): by default the last message of each subject, then every change. Each
message goes to `apply` in stream order; one that fails is logged (ids only) and skipped, so
one bad snapshot cannot stop the view. `caught_up` is set once the messages stored at start
have been handed over (at once for an empty stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.js.api import ConsumerConfig, DeliverPolicy

log = structlog.get_logger("parley_runtime.follow")

Apply = Callable[[Any], Awaitable[None] | None]


class Follower:
    """Hands every message of `subject` on `stream` to `apply`, in stream order."""

    def __init__(
        self,
        js: Any,
        stream: str,
        subject: str,
        apply: Apply,
        *,
        config: ConsumerConfig | None = None,
        pending_msgs_limit: int | None = None,
        on_caught_up: Callable[[], None] | None = None,
    ) -> None:
        """Describe what to follow (from `config`'s start, else the last message per subject);
        nothing happens until `start`."""
        self._js, self.stream, self._subject, self._apply = js, stream, subject, apply
        self._config = config
        self._pending_limit = pending_msgs_limit
        self._on_caught_up = on_caught_up
        self._end_at_start = 0
        self._sub: Any = None
        self.caught_up = asyncio.Event()

    async def start(self) -> None:
        """Subscribe; `caught_up` is set once the messages stored now are handed over."""
        state = (await self._js.stream_info(self.stream)).state
        self._end_at_start = int(state.last_seq)
        options: dict[str, Any] = {"cb": self._on_msg, "ordered_consumer": True}
        if self._config is not None:
            options["config"] = self._config
        else:
            options["deliver_policy"] = DeliverPolicy.LAST_PER_SUBJECT
        if self._pending_limit is not None:
            options["pending_msgs_limit"] = self._pending_limit
        self._sub = await self._js.subscribe(self._subject, stream=self.stream, **options)
        if not state.messages:
            self._mark_caught_up()
        elif self._config is not None and not (await self._sub.consumer_info()).num_pending:
            # a start past everything stored (e.g. by time): nothing will come to catch up on
            self._mark_caught_up()

    async def stop(self) -> None:
        """Stop following."""
        if self._sub is not None:
            with contextlib.suppress(Exception):  # closing anyway
                await self._sub.unsubscribe()
            self._sub = None

    async def _on_msg(self, msg: Any) -> None:
        failure = None
        try:
            done = self._apply(msg)
            if inspect.isawaitable(done):
                await done
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the view
            failure = type(exc).__name__
        if failure is not None:
            log.error("followed_message_not_applied", stream=self.stream, error=failure)
        if not self.caught_up.is_set():
            meta = msg.metadata
            if meta.sequence.stream >= self._end_at_start or meta.num_pending == 0:
                self._mark_caught_up()

    def _mark_caught_up(self) -> None:
        if self.caught_up.is_set():
            return
        self.caught_up.set()
        if self._on_caught_up is not None:
            self._on_caught_up()
