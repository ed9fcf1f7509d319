"""Use cases of app subscriptions: the apps an enterprise is sold, and so may switch on.

An app (Template Lookup, URL Shortener, Campaign Manager, Digital Asset Manager) is what an
enterprise's provider sells it, so the subscription is managed by the users above the
enterprise: platform users and the users of the enterprise's aggregator (admins and super
admins). The enterprise's own users read it (and are refused changes, 403): otherwise an
enterprise could subscribe itself to what it was not sold.

An account may switch on only the apps its enterprise subscribes to (422 `validation_error`
naming `apps.<name>`, on create and PATCH; checked in the account write's transaction).
Withdrawing a subscription switches the app off in every active account of the enterprise in
the same transaction (each account's version + 1, its config event published as for a PATCH),
so every account says what is in effect and routing-svc stops the app within a second;
the answer names the accounts changed.
"""

from __future__ import annotations

from typing import Any

import structlog
from parley_shared.timefmt import format_ts, now

from account_svc.accounts import AccountAdmin
from account_svc.domain.scope import Principal
from account_svc.errors import Forbidden, NotFound, ValidationFailed
from account_svc.ports import SubscriptionStore
from account_svc.tenancy import Tenancy

log = structlog.get_logger("account_svc.subscriptions")

APPS = ("template_lookup", "url_shortener", "campaign_manager", "digital_asset_manager")


def _checked(app: str) -> str:
    if app not in APPS:
        raise ValidationFailed.at(["app"], "must be one of " + ", ".join(APPS))
    return app


class Subscriptions:
    """App subscriptions of enterprises."""

    def __init__(self, store: SubscriptionStore, tenancy: Tenancy, accounts: AccountAdmin) -> None:
        self.store = store
        self.tenancy = tenancy
        self.accounts = accounts

    async def _enterprise(self, who: Principal, enterprise_id: str, change: bool) -> None:
        await self.tenancy.visible_enterprise(who, enterprise_id)
        if change and who.org is not None and who.org.kind == "enterprise":
            raise Forbidden("app subscriptions are managed by the enterprise's provider")

    async def listed(self, who: Principal, enterprise_id: str) -> list[dict[str, Any]]:
        """The enterprise's subscriptions (any user who sees it)."""
        await self._enterprise(who, enterprise_id, change=False)
        rows = await self.store.subscriptions(enterprise_id)
        return [{"app": r["app"], "subscribed_at": format_ts(r["created_at"])} for r in rows]

    async def subscribe(self, who: Principal, enterprise_id: str, app: str) -> bool:
        """Subscribe the enterprise to `app` (idempotent); whether it is new."""
        await self._enterprise(who, enterprise_id, change=True)
        created = await self.store.subscribe(enterprise_id, _checked(app))
        if created:
            log.info("app_subscribed", enterprise_id=enterprise_id, app=app)
        return created

    async def withdraw(self, who: Principal, enterprise_id: str, app: str) -> list[str]:
        """Withdraw the subscription; the app is switched off in every account of the
        enterprise that had it on (their ids)."""
        await self._enterprise(who, enterprise_id, change=True)
        switch_off = self.accounts.switch_off(_checked(app), now())
        changed = await self.store.withdraw(enterprise_id, app, switch_off)
        if changed is None:
            raise NotFound("the enterprise does not subscribe to this app")
        log.info(
            "app_withdrawn", enterprise_id=enterprise_id, app=app, accounts_changed=len(changed)
        )
        return changed
