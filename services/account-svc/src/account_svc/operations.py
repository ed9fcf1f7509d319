"""The operator's views: traffic, routes, a message's trace. Read-only, scoped like the rest.

Scope: a platform user sees every account (and the platform's queues); an aggregator or
enterprise user only the accounts of its enterprises, and an account or enterprise out of
scope answers 404 like one that does not exist. Routes are shared by every tenant, so every
admin sees their state, but their current rate (other tenants' traffic) only a platform user.
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from parley_runtime import tracing

from account_svc.domain.ops_answers import merge_routes
from account_svc.domain.scope import Principal
from account_svc.errors import NotFound, TransientError, ValidationFailed
from account_svc.ports import AccountIndex, RoutingViews, Traffic, WebhookLog
from account_svc.tenancy import Tenancy

log = structlog.get_logger("account_svc.operations")

MESSAGE_ID = re.compile(r"^msg_[A-Za-z0-9_-]{1,124}$")
MATCHES = 20  # messages listed for one client_ref


class Operations:
    """Traffic, routes and message traces for the console."""

    def __init__(
        self,
        tenancy: Tenancy,
        ids: AccountIndex,
        feed: Traffic,
        routing: RoutingViews,
        webhooks: WebhookLog,
    ) -> None:
        self.tenancy, self.ids, self.feed = tenancy, ids, feed
        self.routing, self.webhooks = routing, webhooks

    async def scope(
        self, who: Principal, enterprise_id: str | None, account_id: str | None
    ) -> set[str] | None:
        """The account ids a view covers (None: every account, for a platform user)."""
        if enterprise_id is not None:
            await self.tenancy.visible_enterprise(who, enterprise_id)
        if account_id is not None:
            allowed = await self.ids.in_scope(who.org, enterprise_id)
            if account_id not in allowed:
                raise NotFound("account not found")
            return {account_id}
        if enterprise_id is None and who.is_platform:
            return None
        return await self.ids.in_scope(who.org, enterprise_id)

    async def traffic(
        self, who: Principal, enterprise_id: str | None, account_id: str | None
    ) -> dict[str, Any]:
        """The last hour per minute, and the queues, for the accounts chosen."""
        accounts = await self.scope(who, enterprise_id, account_id)
        await self.feed.ensure_following()
        view = self.feed.counts(accounts)
        if accounts is not None:
            view["truncated"] = False  # counters past the bound are in no account's view
        view.update(self.feed.status())
        view["queues"] = await self.feed.queues(accounts, who.is_platform)
        return view

    async def routes(self, who: Principal) -> dict[str, Any]:
        """Every route, merged over routing-svc's replicas."""
        replies = await self.routing.routes()
        return {
            "replicas": sorted(str(r.get("replica")) for r in replies),
            "items": merge_routes(replies, who.is_platform),
        }

    async def trace(self, who: Principal, query: str, account_id: str | None) -> dict[str, Any]:
        """Find a message by id or `client_ref`; its trace with webhook deliveries when one
        message matches."""
        query = query.strip()
        if not 1 <= len(query) <= 256:
            raise ValidationFailed.at(["q"], "must be a message id or a client_ref (1..256)")
        accounts = await self.scope(who, None, account_id)
        found: dict[str, Any] | None = None
        matches: list[dict[str, Any]] = []
        truncated = False
        if MESSAGE_ID.match(query):
            found = await self.routing.trace(query)
            if found is not None and accounts is not None and found["account_id"] not in accounts:
                found = None  # another tenant's message looks like none at all
            if found is not None:
                matches = [{"message_id": found["message_id"], "account_id": found["account_id"]}]
        if found is None:
            answer = await self.routing.find(
                query, sorted(accounts) if accounts is not None else None, MATCHES
            )
            matches = [m for m in answer.get("items") or [] if isinstance(m, dict)]
            truncated = bool(answer.get("truncated"))
            if len(matches) == 1:
                found = await self.routing.trace(matches[0]["message_id"])
        labels = await self.ids.labels([m["account_id"] for m in matches])
        for match in matches:
            match["account_label"] = labels.get(match["account_id"])
        if found is not None:
            tracing.link(found.pop("traceparent", None))  # this lookup -> the message's trace
            found.setdefault("trace_id", None)
            found["account_label"] = labels.get(found["account_id"])
            found["webhook_deliveries"] = await self._deliveries(found)
        return {"query": query, "matches": matches, "truncated": truncated, "trace": found}

    async def _deliveries(self, trace: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The webhook attempts that carried the message's events (None: webhook-svc is not
        answering; the rest of the trace still shows)."""
        event_ids = [e["id"] for e in trace.get("events") or []][:200]
        if not event_ids:
            return []
        try:
            return await self.webhooks.attempts_of(trace["account_id"], event_ids)
        except TransientError:
            log.warning("trace_without_webhook_deliveries", account_id=trace["account_id"])
            return None
