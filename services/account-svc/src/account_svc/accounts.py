"""Use cases of access accounts: create, list, read, merge-patch, delete, rotate secrets.

Every change writes the account row and its config event (a full snapshot, secrets sealed)
in one transaction; the outbox relay publishes the event afterwards.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from parley_shared import subjects
from parley_shared.events import (
    ACCOUNT_CONFIG_DELETED,
    ACCOUNT_CONFIG_UPDATED,
    AccountConfigData,
    AccountSecrets,
    CloudEvent,
    SealedSecret,
    dumps,
    new_event_id,
    source_for,
)
from parley_shared.ids import new_id
from parley_shared.sealing import (
    SIGNING_SECRET_FIELD,
    MasterKey,
    generate_api_key,
    generate_webhook_secret,
)
from parley_shared.timefmt import format_ts, now

from account_svc.domain.account_config import (
    ConfigValidationError,
    merge_patch,
    validate_account_config,
)
from account_svc.domain.account_secrets import (
    apply_secrets,
    existing_passphrases,
    public_view,
    rotate_signing_secret,
)
from account_svc.domain.records import OutboxEvent
from account_svc.domain.scope import Principal
from account_svc.errors import Conflict, NotFound, ValidationFailed
from account_svc.ports import AccountStore, SwitchOff
from account_svc.tenancy import Tenancy

log = structlog.get_logger("account_svc.accounts")

MAX_PAGE = 200
# A config event must fit NATS's max_payload (1 MB by default) with room to spare: a larger one
# could never be published and would hold up every config event behind it in the outbox.
MAX_EVENT_BYTES = 512 * 1024


def apps_on(config: dict[str, Any]) -> list[str]:
    """The apps a config switches on (each must be subscribed by the enterprise)."""
    return sorted(name for name, on in (config.get("apps") or {}).items() if on is True)


def _cursor_encode(account_id: str) -> str:
    return base64.urlsafe_b64encode(account_id.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed.at(["cursor"], "is not a cursor this API gave") from exc
    if not raw.startswith("acc_") or not raw.isprintable():
        raise ValidationFailed.at(["cursor"], "is not a cursor this API gave")
    return raw


def _split_secrets(
    config: dict[str, Any],
    previous: AccountSecrets | None,
    seal: Callable[[str, str], str],
    unseal: Callable[[str, str], str],
    at: datetime,
) -> tuple[dict[str, Any], AccountSecrets]:
    """apply_secrets, its rule breaks answered as 422 like the config's own."""
    try:
        return apply_secrets(config, previous, seal=seal, unseal=unseal, now=at)
    except ConfigValidationError as exc:
        raise ValidationFailed("the account config is invalid", exc.errors) from exc


class AccountAdmin:
    """Access accounts."""

    def __init__(
        self,
        store: AccountStore,
        tenancy: Tenancy,
        master_key: MasterKey,
        *,
        allow_private_targets: bool,
    ) -> None:
        self.store = store
        self.tenancy = tenancy
        self.master_key = master_key
        self.allow_private_targets = allow_private_targets

    # ------------------------------------------------------------------ helpers
    def _validate(self, body: Any, existing: frozenset[tuple[str, ...]]) -> dict[str, Any]:
        try:
            return validate_account_config(
                body,
                allow_private_targets=self.allow_private_targets,
                existing_passphrases=existing,
            )
        except ConfigValidationError as exc:
            raise ValidationFailed("the account config is invalid", exc.errors) from exc

    async def _check_refs(self, who: Principal, config: dict[str, Any]) -> None:
        await self.tenancy.visible_enterprise(who, config["enterprise_id"])
        group = await self.tenancy.orgs.get_business_group(config["business_group_id"])
        if group is None or not await self.tenancy.sees(who, group["enterprise_id"]):
            raise NotFound("business group not found")
        if group["enterprise_id"] != config["enterprise_id"]:
            raise ValidationFailed.at(
                ["business_group_id"], "belongs to another enterprise than enterprise_id"
            )

    async def _visible(self, who: Principal, account_id: str) -> dict[str, Any]:
        row = await self.store.get_account(account_id)
        if not row or row["status"] != "active":
            raise NotFound("account not found")
        if not await self.tenancy.sees(who, row["enterprise_id"]):
            raise NotFound("account not found")
        return row

    def _seal_for(self, account_id: str) -> tuple[Any, Any]:
        def seal(value: str, field: str) -> str:
            return self.master_key.seal_field(value, account_id, field)

        def unseal(value: str, field: str) -> str:
            return self.master_key.unseal_field(value, account_id, field)

        return seal, unseal

    @staticmethod
    def _meta(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "version": row["version"],
            "status": row["status"],
            "created_at": format_ts(row["created_at"]),
            "updated_at": format_ts(row["updated_at"]),
        }

    def view(self, row: dict[str, Any]) -> dict[str, Any]:
        """The account as answered."""
        return public_view(
            row["config"], AccountSecrets.model_validate(row["secrets"]), self._meta(row)
        )

    def _event(self, row: dict[str, Any], deleted: bool = False) -> OutboxEvent:
        secrets = AccountSecrets.model_validate(row["secrets"])
        data = AccountConfigData(
            account_id=row["id"],
            version=row["version"],
            status=row["status"],
            enterprise_id=row["enterprise_id"],
            account=None if deleted else self.view(row),
            secrets=None if deleted else secrets,
        )
        event_id = new_event_id()
        event = CloudEvent[AccountConfigData](
            id=event_id,
            type=ACCOUNT_CONFIG_DELETED if deleted else ACCOUNT_CONFIG_UPDATED,
            source=source_for(row["id"]),
            subject=row["id"],
            time=format_ts(row["updated_at"]),
            data=data,
        )
        payload = dumps(event)
        if len(payload) > MAX_EVENT_BYTES:
            raise ValidationFailed.at(
                [], f"the account config is too large (over {MAX_EVENT_BYTES // 1024} KiB)"
            )
        return OutboxEvent(event_id, subjects.account_config(row["id"]), payload)

    async def _write(
        self,
        row: dict[str, Any],
        expected: int,
        deleted: bool = False,
        apps: list[str] | None = None,
    ) -> None:
        event = self._event(row, deleted)
        if not await self.store.update_account(row, expected, event, apps):
            raise Conflict("the account changed meanwhile; read it again and retry")

    def switch_off(self, app: str, at: datetime) -> SwitchOff:
        """How a withdrawn subscription changes an account row: `app` off, version + 1, and
        its config event (for `RegistryStore.withdraw`)."""

        def change(row: dict[str, Any]) -> tuple[dict[str, Any], OutboxEvent]:
            config = dict(row["config"])
            config["apps"] = {**(config.get("apps") or {}), app: False}
            updated = {**row, "config": config, "version": row["version"] + 1, "updated_at": at}
            return updated, self._event(updated)

        return change

    # ------------------------------------------------------------------ use cases
    async def create(self, who: Principal, body: Any) -> dict[str, Any]:
        """Validate, store, announce; answer the account and its two secrets once."""
        config = self._validate(body, frozenset())
        await self._check_refs(who, config)
        account_id = new_id("acc")
        seal, unseal = self._seal_for(account_id)
        at = now()
        stored, secrets = _split_secrets(config, None, seal, unseal, at)
        api_key = generate_api_key()
        signing_secret = generate_webhook_secret()
        secrets = secrets.model_copy(
            update={
                "api_key_hash": self.master_key.hash_api_key(api_key),
                "webhook_signing_secrets": [
                    SealedSecret(value=seal(signing_secret, SIGNING_SECRET_FIELD))
                ],
            }
        )
        row = {
            "id": account_id,
            "enterprise_id": config["enterprise_id"],
            "business_group_id": config["business_group_id"],
            "version": 1,
            "status": "active",
            "config": stored,
            "secrets": secrets.model_dump(mode="json"),
            "created_at": at,
            "updated_at": at,
        }
        await self.store.insert_account(row, self._event(row), apps_on(stored))
        log.info("account_created", account_id=account_id)
        return {
            "account": self.view(row),
            "api_key": api_key,
            "webhook_signing_secret": signing_secret,
        }

    async def list(
        self, who: Principal, enterprise_id: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """A page of active accounts in scope."""
        if enterprise_id is not None:
            await self.tenancy.visible_org(who, enterprise_id)
        after = _cursor_decode(cursor) if cursor else None
        rows = await self.store.list_accounts(who.org, enterprise_id, after, limit + 1)
        page = rows[:limit]
        next_cursor = _cursor_encode(page[-1]["id"]) if len(rows) > limit and page else None
        return {"items": [self.view(r) for r in page], "next_cursor": next_cursor}

    async def get(self, who: Principal, account_id: str) -> dict[str, Any]:
        """One account in scope."""
        return self.view(await self._visible(who, account_id))

    async def patch(self, who: Principal, account_id: str, patch: Any) -> dict[str, Any]:
        """Apply an RFC 7386 merge patch; `version` + 1; an omitted passphrase is kept."""
        row = await self._visible(who, account_id)
        if not isinstance(patch, dict):
            raise ValidationFailed.at([], "a merge patch must be a JSON object")
        secrets = AccountSecrets.model_validate(row["secrets"])
        merged = merge_patch(row["config"], patch)
        config = self._validate(merged, existing_passphrases(row["config"], secrets))
        if config["enterprise_id"] != row["enterprise_id"]:
            raise ValidationFailed.at(["enterprise_id"], "cannot be changed")
        await self._check_refs(who, config)
        seal, unseal = self._seal_for(account_id)
        at = now()
        stored, new_secrets = _split_secrets(config, secrets, seal, unseal, at)
        updated = dict(row)
        updated.update(
            business_group_id=config["business_group_id"],
            version=row["version"] + 1,
            config=stored,
            secrets=new_secrets.model_dump(mode="json"),
            updated_at=at,
        )
        await self._write(updated, row["version"], apps=apps_on(stored))
        log.info("account_updated", account_id=account_id, version=updated["version"])
        return self.view(updated)

    async def delete(self, who: Principal, account_id: str) -> None:
        """Mark deleted, forget its secrets, publish a tombstone."""
        row = await self._visible(who, account_id)
        updated = dict(row)
        updated.update(
            status="deleted",
            version=row["version"] + 1,
            secrets=AccountSecrets().model_dump(mode="json"),
            updated_at=now(),
        )
        await self._write(updated, row["version"], deleted=True)
        log.info("account_deleted", account_id=account_id)

    async def rotate_api_key(self, who: Principal, account_id: str) -> dict[str, Any]:
        """A new key; the previous one stops working."""
        row = await self._visible(who, account_id)
        api_key = generate_api_key()
        secrets = AccountSecrets.model_validate(row["secrets"])
        secrets = secrets.model_copy(update={"api_key_hash": self.master_key.hash_api_key(api_key)})
        await self._bump(row, secrets, now())
        log.info("api_key_rotated", account_id=account_id)
        return {"api_key": api_key}

    async def rotate_signing_secret(self, who: Principal, account_id: str) -> dict[str, Any]:
        """A new signing secret; for 24 h both sign."""
        row = await self._visible(who, account_id)
        seal, _ = self._seal_for(account_id)
        secret = generate_webhook_secret()
        at = now()
        secrets = rotate_signing_secret(
            AccountSecrets.model_validate(row["secrets"]), seal(secret, SIGNING_SECRET_FIELD), at
        )
        await self._bump(row, secrets, at)
        log.info("webhook_signing_secret_rotated", account_id=account_id)
        return {"webhook_signing_secret": secret}

    async def _bump(self, row: dict[str, Any], secrets: AccountSecrets, at: datetime) -> None:
        updated = dict(row)
        updated.update(
            version=row["version"] + 1, secrets=secrets.model_dump(mode="json"), updated_at=at
        )
        await self._write(updated, row["version"])
