"""An account's webhooks as webhook-svc uses them, read from an account config event.

The config event carries the account as the management API shows it (URLs with credentials
masked) plus its secrets sealed; `webhooks_of` combines the two, once the secrets are opened
(parley_shared.accounts.open_secrets), into one immutable `Webhook` per kind.

Batching rules: a status webhook with `batch.enabled` sends a JSON array (or the format's
list) of up to `batch.max_events` events; WebEngage cannot batch; `user_initiated` never
batches. Everything else sends one event per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from parley_shared.accounts import Expiring, OpenedSecrets
from parley_shared.envelope import KeyVersion

from webhook_svc.domain.targets import Target, parse_target, redact
from webhook_svc.errors import InvalidTarget

STATUS: Final = "status"
USER_INITIATED: Final = "user_initiated"
KINDS: Final = (STATUS, USER_INITIATED)
UNBATCHED_FORMATS: Final = frozenset({"webengage"})


@dataclass(frozen=True, slots=True)
class Webhook:
    """One webhook of one account at one config version."""

    account_id: str
    kind: str
    version: int
    url: str = field(repr=False)
    payload_format: str = "native"
    events: frozenset[str] = frozenset()
    intermediate: bool = False
    pairs: Mapping[str, str] = field(default_factory=dict)
    retries: int = 3
    batching: bool = False
    max_events: int = 1
    encrypt: bool = False
    encryption: KeyVersion | None = field(default=None, repr=False)
    signing_secrets: tuple[Expiring, ...] = field(default=(), repr=False)
    target: Target | None = None
    target_error: str | None = None
    shown_url: str = ""
    protection: str = "store"
    """The account's `security.data_protection` (what webhook-svc may keep of its events)."""
    traffic_class: str = "transactional"
    """The account's traffic class (`traffic_type`; conversational: transactional): the lane
    its retries wait in, and whether its batches yield to a backlog (`intake`)."""

    def secrets_at(self, at: datetime) -> list[str]:
        """The signing secrets valid at `at`, current first (two during a rotation)."""
        return [str(s.value) for s in self.signing_secrets if s.valid_at(at)]

    @property
    def meta_headers(self) -> dict[str, str]:
        """`x-parley-meta-<key>: <value>` for each metadata pair (none when metadata is off)."""
        return {f"x-parley-meta-{key}": value for key, value in self.pairs.items()}


@dataclass(frozen=True, slots=True)
class AccountHooks:
    """What webhook-svc holds of one account: its config version and its webhooks by kind."""

    account_id: str
    version: int
    hooks: Mapping[str, Webhook] = field(default_factory=dict)
    protection: str = "store"
    traffic_class: str = "transactional"


def _pairs(config: Mapping[str, Any]) -> dict[str, str]:
    metadata = config.get("metadata") or {}
    if not metadata.get("enabled"):
        return {}
    return {str(k): str(v) for k, v in (metadata.get("pairs") or {}).items()}


def _batch(kind: str, config: Mapping[str, Any], payload_format: str) -> tuple[bool, int]:
    batch = config.get("batch") or {}
    if kind != STATUS or not batch.get("enabled") or payload_format in UNBATCHED_FORMATS:
        return False, 1
    return True, max(1, min(50, int(batch.get("max_events") or 50)))


def webhook_of(
    account_id: str,
    version: int,
    kind: str,
    config: Mapping[str, Any],
    secrets: OpenedSecrets,
    *,
    protection: str = "store",
    traffic_class: str = "transactional",
) -> Webhook:
    """One webhook from its config block and the account's opened secrets."""
    payload_format = str(config.get("payload_format") or "native")
    batching, max_events = _batch(kind, config, payload_format)
    encryption = config.get("encryption") or {}
    url = secrets.webhook_urls.get(kind) or str(config.get("url") or "")
    target, target_error = None, None
    try:
        target = replace(parse_target(url), account_id=account_id, version=version)
    except InvalidTarget as exc:
        target_error = exc.detail
    return Webhook(
        account_id=account_id,
        kind=kind,
        version=version,
        url=url,
        payload_format=payload_format,
        events=frozenset(config.get("events") or ()),
        intermediate=bool(config.get("intermediate_delivery_notification")),
        pairs=_pairs(config),
        retries=max(0, int(config.get("retries", 3))),
        batching=batching,
        max_events=max_events,
        encrypt=bool(encryption.get("enabled")),
        encryption=secrets.webhook_keys.get(kind) if encryption.get("enabled") else None,
        signing_secrets=secrets.signing_secrets,
        target=target,
        target_error=target_error,
        shown_url=redact(url),
        protection=protection,
        traffic_class=traffic_class,
    )


def webhooks_of(
    account_id: str, version: int, account: Mapping[str, Any] | None, secrets: OpenedSecrets
) -> AccountHooks:
    """Every webhook an account config names (none for a tombstone)."""
    configured = (account or {}).get("webhooks") or {}
    protection = protection_of(account)
    lane = traffic_class_of(account)
    hooks = {
        kind: webhook_of(
            account_id,
            version,
            kind,
            configured[kind],
            secrets,
            protection=protection,
            traffic_class=lane,
        )
        for kind in KINDS
        if configured.get(kind)
    }
    return AccountHooks(account_id, version, hooks, protection, lane)


def traffic_class_of(account: Mapping[str, Any] | None) -> str:
    """The account's traffic class: its `traffic_type`, or `transactional` (conversational)."""
    traffic_type = (account or {}).get("traffic_type")
    return traffic_type if traffic_type in ("otp", "promotional") else "transactional"


def protection_of(account: Mapping[str, Any] | None) -> str:
    """The account's `security.data_protection` (`store` when absent, as account-svc
    defaults it)."""
    security = (account or {}).get("security") or {}
    return str(security.get("data_protection") or "store")
