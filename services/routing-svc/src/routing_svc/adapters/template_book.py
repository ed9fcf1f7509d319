"""The template view: every approved message template, rebuilt from TEMPLATES and kept current.

Like the account view: at start an ordered push consumer delivers the last event of every
template, then follows new ones; the view is ready once it has seen the stream's last message
as of the start. An event replaces what the view holds only when its `version` is newer; a
template that is not `approved` (pending, rejected, deleted) leaves the view. The index of an
(enterprise, channel) is rebuilt on its first lookup after a change.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import structlog
from nats.js.api import DeliverPolicy
from parley_shared import subjects
from parley_shared.events import TemplateData

from routing_svc.domain.templates import Template, TemplateIndex

log = structlog.get_logger("routing_svc.templates")

Key = tuple[str, str]  # (enterprise_id, channel)


class TemplateBook:
    """Approved templates by id and, indexed for matching, by (enterprise, channel)."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._by_id: dict[str, Template] = {}
        self._keys: dict[Key, set[str]] = {}
        self._indexes: dict[Key, TemplateIndex] = {}
        self.ready = asyncio.Event()
        self._caught_up_at = 0
        self._sub: Any = None

    # ------------------------------------------------------------------ lookups
    def get(self, template_id: str) -> Template | None:
        """An approved template."""
        return self._by_id.get(template_id)

    def index(self, enterprise_id: str, channel: str) -> TemplateIndex:
        """The approved templates of an enterprise and channel, indexed for matching."""
        key = (enterprise_id, channel)
        found = self._indexes.get(key)
        if found is None:
            ids = self._keys.get(key, ())
            found = self._indexes[key] = TemplateIndex.of(self._by_id[i] for i in ids)
        return found

    def __len__(self) -> int:
        """How many approved templates the view holds."""
        return len(self._by_id)

    # ------------------------------------------------------------------ changes
    def apply(self, data: TemplateData) -> bool:
        """Take one template event; whether it changed the view (older versions do not)."""
        known = self._versions.get(data.id)
        if known is not None and data.version <= known:
            return False
        self._versions[data.id] = data.version
        self._drop(data.id)
        if data.status == "approved":
            template = Template.compile(
                data.id, data.enterprise_id, data.channel, data.text, data.regulatory_template_id
            )
            key = (data.enterprise_id, data.channel)
            self._by_id[data.id] = template
            self._keys.setdefault(key, set()).add(data.id)
            self._indexes.pop(key, None)
        return True

    def _drop(self, template_id: str) -> None:
        old = self._by_id.pop(template_id, None)
        if old is None:
            return
        key = (old.enterprise_id, old.channel)
        ids = self._keys.get(key)
        if ids is not None:
            ids.discard(template_id)
            if not ids:
                del self._keys[key]
        self._indexes.pop(key, None)

    # ------------------------------------------------------------------ following
    async def start(self, js: Any) -> None:
        """Rebuild from TEMPLATES (last event per template), then follow; `ready` once caught up."""
        info = await js.stream_info(subjects.STREAM_TEMPLATES)
        self._caught_up_at = int(info.state.last_seq)
        if info.state.messages == 0:
            self.ready.set()
        self._sub = await js.subscribe(
            subjects.TEMPLATE_CONFIG_ALL,
            stream=subjects.STREAM_TEMPLATES,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            cb=self._on_event,
        )

    async def stop(self) -> None:
        """Stop following."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_event(self, msg: Any) -> None:
        try:
            data = TemplateData.model_validate(orjson.loads(msg.data)["data"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("template_event_unreadable", error=type(exc).__name__)
        else:
            if self.apply(data):
                log.debug("template_view_changed", template_id=data.id, status=data.status)
        meta = msg.metadata
        if not self.ready.is_set() and (
            meta.sequence.stream >= self._caught_up_at or meta.num_pending == 0
        ):
            self.ready.set()
            log.info("template_view_ready", templates=len(self._by_id))
