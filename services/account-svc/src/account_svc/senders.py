"""Use cases of registered senders: what an enterprise owns on each channel.

An SMS sender id (with its regulatory header registration), an RCS agent, a WABA number or a
Truecaller number. Admins and super admins manage the senders of the enterprises in their
scope (an enterprise they do not see answers 404, in the path or in the body). Every change
writes the sender row and its event (a snapshot, or a tombstone on delete) in one transaction;
the outbox relay publishes it on `parley.sender.v1.config.<sender_id>` (SENDERS), which
routing-svc follows to check sends: under access mode `all` a sender must be one of these, and
an allowlist names senders among them (routing-svc README, "Senders").
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from parley_shared import subjects
from parley_shared.events import (
    SENDER_CONFIG_DELETED,
    SENDER_CONFIG_UPDATED,
    CloudEvent,
    SenderData,
    dumps,
    new_event_id,
)
from parley_shared.ids import new_id
from parley_shared.timefmt import format_ts, now

from account_svc.domain.answers import sender_out
from account_svc.domain.records import OutboxEvent
from account_svc.domain.requests import SenderIn
from account_svc.domain.scope import Principal
from account_svc.errors import NotFound, ValidationFailed
from account_svc.ports import SenderStore
from account_svc.tenancy import Tenancy

log = structlog.get_logger("account_svc.senders")

CHANNELS = ("rcs", "sms", "truecaller", "whatsapp")
FORMATS = {
    "sms": (re.compile(r"[A-Za-z0-9]{3,15}"), "an SMS sender id is 3 to 15 letters or digits"),
    "whatsapp": (re.compile(r"\+[1-9][0-9]{1,14}"), "a WABA number is E.164: + and 2..15 digits"),
    "truecaller": (re.compile(r"\+[1-9][0-9]{1,14}"), "a Truecaller number is E.164"),
    "rcs": (
        re.compile(r"\S(.{0,126}\S)?"),
        "an RCS agent id is 1..128 characters, without spaces at either end",
    ),
}
"""The same formats as the account's access lists (CONTRACT 2)."""


def sender_event(row: dict[str, Any], deleted: bool = False) -> OutboxEvent:
    """The outbox event announcing a sender (a tombstone when `deleted`)."""
    data = SenderData(
        **sender_out(row),
        status="deleted" if deleted else "active",
        version=row["version"] + (1 if deleted else 0),
    )
    event_id = new_event_id()
    event = CloudEvent[SenderData](
        id=event_id,
        type=SENDER_CONFIG_DELETED if deleted else SENDER_CONFIG_UPDATED,
        source=f"parley/enterprises/{row['enterprise_id']}",
        subject=row["id"],
        time=format_ts(now()),
        data=data,
    )
    return OutboxEvent(event_id, subjects.sender_config(row["id"]), dumps(event))


class SenderAdmin:
    """Registered senders of enterprises."""

    def __init__(self, store: SenderStore, tenancy: Tenancy) -> None:
        self.store = store
        self.tenancy = tenancy

    async def _visible(self, who: Principal, sender_id: str) -> dict[str, Any]:
        row = await self.store.get_sender(sender_id)
        if row is None or not await self.tenancy.sees(who, row["enterprise_id"]):
            raise NotFound("sender not found")
        return row

    async def create(self, who: Principal, body: SenderIn) -> dict[str, Any]:
        """Register a sender of an enterprise (409 when it is registered already)."""
        await self.tenancy.visible_enterprise(who, body.enterprise_id)
        pattern, rule = FORMATS[body.channel]
        if pattern.fullmatch(body.value) is None:
            raise ValidationFailed.at(["value"], rule)
        if body.header_registration is not None and body.channel != "sms":
            raise ValidationFailed.at(["header_registration"], "is only for the sms channel")
        at = now()
        row = {
            "id": new_id("snd"),
            "enterprise_id": body.enterprise_id,
            "channel": body.channel,
            "value": body.value,
            "label": body.label,
            "header_registration": body.header_registration,
            "version": 1,
            "created_at": at,
            "updated_at": at,
        }
        await self.store.insert_sender(row, sender_event(row))
        log.info("sender_registered", sender_id=row["id"], enterprise_id=body.enterprise_id)
        return sender_out(row)

    async def list(
        self, who: Principal, enterprise_id: str | None, channel: str | None
    ) -> list[dict[str, Any]]:
        """Senders in scope, optionally of one enterprise and one channel."""
        if channel is not None and channel not in CHANNELS:
            raise ValidationFailed.at(["channel"], "must be rcs, sms, truecaller or whatsapp")
        if enterprise_id is not None:
            await self.tenancy.visible_org(who, enterprise_id)
        rows = await self.store.list_senders(who.org, enterprise_id, channel)
        return [sender_out(row) for row in rows]

    async def get(self, who: Principal, sender_id: str) -> dict[str, Any]:
        """One sender in scope."""
        return sender_out(await self._visible(who, sender_id))

    async def delete(self, who: Principal, sender_id: str) -> None:
        """Deregister a sender; its tombstone stops sends from it at once (routing-svc)."""
        row = await self._visible(who, sender_id)
        await self.store.delete_sender(row, sender_event(row, deleted=True))
        log.info("sender_deregistered", sender_id=sender_id)
