"""The one way a Parley service connects to NATS.

A service connection reconnects forever (a NATS node restart or a rolling upgrade must not
stop a service), logs connection changes without secrets, and is quiet about a disconnect the
service asked for (`closing`). It authenticates with the service's own credentials from the
environment (CONTRACT section 10): `NATS_CREDS` (a creds file), else `NATS_USER` /
`NATS_PASSWORD`; and uses the inbox prefix `_INBOX.<name>`, the only inboxes its NATS user may
subscribe to.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats
import structlog
from parley_shared.environment import nats_servers

log = structlog.get_logger("parley_runtime.nats")

Callback = Callable[[], Awaitable[None]]
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def credentials(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`nats.connect` options for the credentials in the environment (none: no options).

    `NATS_CREDS` names a creds file (a user JWT and its nkey seed); `NATS_USER` and
    `NATS_PASSWORD` are a user and password. Both set is a mistake, refused here.
    """
    env = os.environ if env is None else env
    creds, user = env.get("NATS_CREDS"), env.get("NATS_USER")
    if creds and user:
        raise ValueError("set NATS_CREDS or NATS_USER/NATS_PASSWORD, not both")
    if creds:
        return {"user_credentials": creds}
    if user:
        return {"user": user, "password": env.get("NATS_PASSWORD", "")}
    return {}


def settings(
    name: str,
    *,
    on_reconnect: Callback | None = None,
    closing: asyncio.Event | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The `nats.connect` options of a service connection (see `connect`), without servers.

    `parley_runtime.broker` gives the same options to FastStream's broker, so that both kinds
    of connection authenticate, reconnect and log alike.
    """
    closing = closing if closing is not None else asyncio.Event()

    async def on_error(exc: Exception) -> None:
        if "permissions violation" in str(exc).lower():
            # The subject is left out: a KV key may hold a phone number.
            log.error("nats_permission_violation", error=type(exc).__name__)
        else:
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

    out: dict[str, Any] = {
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
        "error_cb": on_error,
        "disconnected_cb": on_disconnect,
        "reconnected_cb": reconnected,
    }
    if _TOKEN.fullmatch(name):
        out["inbox_prefix"] = f"_INBOX.{name}"
    if not {"user_credentials", "user", "token", "nkeys_seed"} & set(options):
        out.update(credentials())  # a connection given its own identity keeps it
    out.update(options)
    return out


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
    options = settings(name, on_reconnect=on_reconnect, closing=closing, **options)
    return await nats.connect(nats_servers(url), **options)
