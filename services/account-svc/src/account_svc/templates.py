"""Use cases of message templates (Template Lookup app): create, list, read, approve, reject,
delete.

Scope is that of business groups: a template belongs to an enterprise, and a caller who does
not see that enterprise gets 404. Every change writes the template row and its event (a full
snapshot, or a tombstone on delete) in one transaction; the outbox relay publishes it on
`parley.template.v1.config.<template_id>` (TEMPLATES, last one per template).
"""

from __future__ import annotations

from typing import Any

import structlog
from parley_shared import subjects
from parley_shared.events import (
    TEMPLATE_CONFIG_DELETED,
    TEMPLATE_CONFIG_UPDATED,
    CloudEvent,
    TemplateData,
    dumps,
    new_event_id,
)
from parley_shared.ids import new_id
from parley_shared.timefmt import format_ts, now

from account_svc.domain.answers import template_out
from account_svc.domain.records import OutboxEvent
from account_svc.domain.requests import TemplateIn
from account_svc.domain.scope import Principal
from account_svc.errors import NotFound, ValidationFailed
from account_svc.ports import TemplateStore
from account_svc.tenancy import Tenancy

log = structlog.get_logger("account_svc.templates")

STATUSES = ("pending", "approved", "rejected")


def template_event(row: dict[str, Any], deleted: bool = False) -> OutboxEvent:
    """The outbox event announcing a template's new state (a tombstone when `deleted`)."""
    answer = template_out(row)
    data = TemplateData(
        **{**answer, "status": "deleted" if deleted else answer["status"]},
        version=row["version"] + (1 if deleted else 0),
    )
    event_id = new_event_id()
    event = CloudEvent[TemplateData](
        id=event_id,
        type=TEMPLATE_CONFIG_DELETED if deleted else TEMPLATE_CONFIG_UPDATED,
        source=f"parley/enterprises/{row['enterprise_id']}",
        subject=row["id"],
        time=format_ts(now()),
        data=data,
    )
    return OutboxEvent(event_id, subjects.template_config(row["id"]), dumps(event))


class TemplateAdmin:
    """Message templates of enterprises."""

    def __init__(self, store: TemplateStore, tenancy: Tenancy) -> None:
        self.store = store
        self.tenancy = tenancy

    async def _visible(self, who: Principal, template_id: str) -> dict[str, Any]:
        row = await self.store.get_template(template_id)
        if row is None or not await self.tenancy.sees(who, row["enterprise_id"]):
            raise NotFound("template not found")
        return row

    async def create(self, who: Principal, body: TemplateIn) -> dict[str, Any]:
        """A new template, `pending` until approved."""
        await self.tenancy.visible_enterprise(who, body.enterprise_id)
        if body.regulatory_template_id is not None and body.channel != "sms":
            raise ValidationFailed.at(["regulatory_template_id"], "is only for the sms channel")
        at = now()
        row = {
            "id": new_id("tpl"),
            "enterprise_id": body.enterprise_id,
            "channel": body.channel,
            "name": body.name,
            "text": body.text,
            "regulatory_template_id": body.regulatory_template_id,
            "status": "pending",
            "version": 1,
            "created_at": at,
            "updated_at": at,
        }
        await self.store.insert_template(row, template_event(row))
        log.info("template_created", template_id=row["id"], enterprise_id=body.enterprise_id)
        return template_out(row)

    async def list(
        self, who: Principal, enterprise_id: str | None, status: str | None
    ) -> list[dict[str, Any]]:
        """Templates in scope, optionally of one enterprise and one status."""
        if status is not None and status not in STATUSES:
            raise ValidationFailed.at(["status"], "must be pending, approved or rejected")
        if enterprise_id is not None:
            await self.tenancy.visible_org(who, enterprise_id)
        rows = await self.store.list_templates(who.org, enterprise_id, status)
        return [template_out(row) for row in rows]

    async def get(self, who: Principal, template_id: str) -> dict[str, Any]:
        """One template in scope."""
        return template_out(await self._visible(who, template_id))

    async def decide(self, who: Principal, template_id: str, status: str) -> dict[str, Any]:
        """Approve or reject a template (either may be revised later); announce the change."""
        row = await self._visible(who, template_id)
        if row["status"] == status:
            return template_out(row)
        changed = {**row, "status": status, "version": row["version"] + 1, "updated_at": now()}
        await self.store.update_template(changed, row["version"], template_event(changed))
        log.info("template_" + status, template_id=template_id)
        return template_out(changed)

    async def delete(self, who: Principal, template_id: str) -> None:
        """Remove a template; its tombstone takes it out of every routing view."""
        row = await self._visible(who, template_id)
        await self.store.delete_template(row, template_event(row, deleted=True))
        log.info("template_deleted", template_id=template_id)
