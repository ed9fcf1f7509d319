"""The template view: every approved message template, rebuilt from TEMPLATES and kept current.

Like the account view: at start an ordered push consumer delivers the last event of every
template, then follows new ones; the view is ready once it has seen the stream's last message
as of the start. An event replaces what the view holds only when its `version` is newer; a
template that is not `approved` (pending, rejected, deleted) leaves the view. The index of an
(enterprise, channel) is rebuilt on its first lookup after a change.
"""

from __future__ import annotations

import orjson
import structlog
from parley_shared import subjects
from parley_shared.events import TemplateData

from routing_svc.adapters.stream_view import StreamView
from routing_svc.domain.templates import Template, TemplateIndex

log = structlog.get_logger("routing_svc.templates")

Key = tuple[str, str]  # (enterprise_id, channel)


class TemplateBook(StreamView):
    """Approved templates by id and, indexed for matching, by (enterprise, channel)."""

    stream = subjects.STREAM_TEMPLATES
    filter_subject = subjects.TEMPLATE_CONFIG_ALL

    def __init__(self) -> None:
        super().__init__()
        self._versions: dict[str, int] = {}
        self._by_id: dict[str, Template] = {}
        self._keys: dict[Key, set[str]] = {}
        self._indexes: dict[Key, TemplateIndex] = {}

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
    def handle(self, payload: bytes) -> None:
        """Apply one event."""
        try:
            data = TemplateData.model_validate(orjson.loads(payload)["data"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("template_event_unreadable", error=type(exc).__name__)
        else:
            if self.apply(data):
                log.debug("template_view_changed", template_id=data.id, status=data.status)

    def on_ready(self) -> None:
        """Say the view is loaded."""
        log.info("template_view_ready", templates=len(self._by_id))
