"""The one way a Parley service connects to NATS.

A service connection reconnects forever (a NATS node restart or a rolling upgrade must not
stop a service), logs connection changes without secrets, and is quiet about a disconnect the
service asked for (`closing`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import structlog
from parley_shared.environment import nats_servers

log = structlog.get_logger("parley_runtime.nats")

Callback = Callable[[], Awaitable[None]]


async def connect(
    url: str,
    name: str,
    *,
    on_reconnect: Callback | None = None,
    closing: asyncio.Event | None = None,
    **options: Any,
) -> Any:
    """A NATS connection that reconnects forever (`url` may list servers, comma-separated).

    `on_reconnect` runs after each reconnect; once `closing` is set a disconnect is expected
    and logged at info level. `options` go to `nats.connect` as they are.
    """
    closing = closing if closing is not None else asyncio.Event()

    async def on_error(exc: Exception) -> None:
        log.warning("nats_error", error=type(exc).__name__)

    async def on_disconnect() -> None:
        if closing.is_set():
            log.info("nats_disconnected")
        else:
            log.warning("nats_disconnected")

    async def reconnected() -> None:
        log.info("nats_reconnected")
        if on_reconnect is not None:
            await on_reconnect()

    settings: dict[str, Any] = {
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
        "error_cb": on_error,
        "disconnected_cb": on_disconnect,
        "reconnected_cb": reconnected,
    }
    settings.update(options)
    return await nats.connect(nats_servers(url), **settings)
