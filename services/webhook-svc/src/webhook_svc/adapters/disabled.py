"""Webhooks disabled by HTTP 410, kept on the WEBHOOK_DISABLED stream.

One subject per (account, kind) holds `{"account_id", "kind", "version", "at"}`: the
webhook is disabled while the account's config version is at most that `version`; any newer
config (a PATCH, a key or secret rotation) enables it again. Every worker follows the stream,
so a 410 seen by one disables the webhook in all.
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from parley_runtime.follow import Follower
from parley_shared import subjects
from parley_shared.timefmt import now_ts

from webhook_svc.errors import StoreUnavailable

log = structlog.get_logger("webhook_svc.disabled")


class DisabledWebhooks:
    """Which webhooks are disabled, as this process knows it."""

    def __init__(self) -> None:
        """Nothing disabled until `start` reads the stream."""
        self._versions: dict[tuple[str, str], int] = {}
        self._js: Any = None
        self._follower: Follower | None = None

    @property
    def caught_up(self) -> bool:
        """Whether the state at start has been read."""
        return self._follower is not None and self._follower.caught_up.is_set()

    async def wait_caught_up(self) -> None:
        """Wait until the state at start has been read."""
        if self._follower is None:
            raise RuntimeError("the disabled-webhook follower is not started")
        await self._follower.caught_up.wait()

    async def start(self, js: Any) -> None:
        """Follow WEBHOOK_DISABLED."""
        self._js = js
        self._follower = Follower(
            js, subjects.STREAM_WEBHOOK_DISABLED, subjects.WEBHOOK_DISABLED_ALL, self._on_msg
        )
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following."""
        if self._follower is not None:
            await self._follower.stop()

    async def _on_msg(self, msg: Any) -> None:
        state = orjson.loads(msg.data)
        self._remember(str(state["account_id"]), str(state["kind"]), int(state["version"]))

    def _remember(self, account_id: str, kind: str, version: int) -> None:
        key = (account_id, kind)
        self._versions[key] = max(version, self._versions.get(key, 0))

    def is_disabled(self, account_id: str, kind: str, version: int) -> bool:
        """Whether that webhook at config `version` is disabled."""
        disabled_at = self._versions.get((account_id, kind))
        return disabled_at is not None and version <= disabled_at

    async def disable(self, account_id: str, kind: str, version: int) -> None:
        """Disable the webhook until a config newer than `version` (durable before it returns)."""
        self._remember(account_id, kind, version)
        body = {"account_id": account_id, "kind": kind, "version": version, "at": now_ts()}
        try:
            await self._js.publish(subjects.webhook_disabled(account_id, kind), orjson.dumps(body))
        except Exception as exc:
            raise StoreUnavailable(f"disabled state not stored: {type(exc).__name__}") from exc
