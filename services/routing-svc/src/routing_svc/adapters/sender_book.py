"""The registered senders of every enterprise, rebuilt from SENDERS and kept current.

Like the template view: at start an ordered push consumer delivers the last event of every
sender, then follows new ones; the view is ready once it has seen the stream's last message as
of the start. An event replaces what the view holds only when its `version` is newer; a
tombstone (`status: deleted`) removes the sender, so sends from it are refused at once.
"""

from __future__ import annotations

import orjson
import structlog
from parley_shared import subjects
from parley_shared.events import SenderData

from routing_svc.adapters.stream_view import StreamView

log = structlog.get_logger("routing_svc.senders")

Owned = tuple[str, str, str]  # (enterprise_id, channel, value)


class SenderBook(StreamView):
    """Which senders each enterprise owns, by channel."""

    stream = subjects.STREAM_SENDERS
    filter_subject = subjects.SENDER_CONFIG_ALL

    def __init__(self) -> None:
        super().__init__()
        self._versions: dict[str, int] = {}
        self._by_id: dict[str, Owned] = {}
        self._owned: dict[Owned, int] = {}  # how many registrations name it (one normally)

    def registered(self, enterprise_id: str, channel: str, value: str) -> bool:
        """Whether the enterprise owns `value` on `channel`."""
        return (enterprise_id, channel, value) in self._owned

    def __len__(self) -> int:
        """How many registered senders the view holds."""
        return len(self._by_id)

    def apply(self, data: SenderData) -> bool:
        """Take one sender event; whether it changed the view (older versions do not)."""
        known = self._versions.get(data.id)
        if known is not None and data.version <= known:
            return False
        self._versions[data.id] = data.version
        old = self._by_id.pop(data.id, None)
        if old is not None:
            left = self._owned.get(old, 1) - 1
            if left > 0:
                self._owned[old] = left
            else:
                self._owned.pop(old, None)
        if data.status == "active":
            owned = (data.enterprise_id, data.channel, data.value)
            self._by_id[data.id] = owned
            self._owned[owned] = self._owned.get(owned, 0) + 1
        return True

    def handle(self, payload: bytes) -> None:
        """Apply one event."""
        try:
            data = SenderData.model_validate(orjson.loads(payload)["data"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("sender_event_unreadable", error=type(exc).__name__)
        else:
            if self.apply(data):
                log.debug("sender_view_changed", sender_id=data.id, status=data.status)

    def on_ready(self) -> None:
        """Say the view is loaded."""
        log.info("sender_view_ready", senders=len(self._by_id))
