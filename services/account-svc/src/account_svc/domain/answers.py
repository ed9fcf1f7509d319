"""What the management API answers: the models `/openapi.json` documents, and the functions
that make those answers from stored rows (use cases answer plain JSON-ready dicts in these
shapes; the HTTP adapter only encodes them)."""

from __future__ import annotations

from typing import Any, Literal

from parley_shared.timefmt import format_ts
from pydantic import BaseModel, ConfigDict, Field

from account_svc.domain.requests import SenderChannel, TemplateChannel, TemplateStatus


class UserOut(BaseModel):
    """A console user (never with a password)."""

    id: str
    username: str
    role: Literal["super_admin", "admin"]
    organization_id: str | None
    created_at: str


class LoginUser(BaseModel):
    """The user in a login answer."""

    id: str
    username: str
    role: Literal["super_admin", "admin"]
    organization_id: str | None


class LoginOut(BaseModel):
    """A bearer token and its expiry."""

    token: str
    expires_at: str
    user: LoginUser


class OrganizationOut(BaseModel):
    """An organization."""

    id: str
    name: str
    kind: Literal["aggregator", "enterprise"]
    aggregator_id: str | None
    created_at: str


class BusinessGroupOut(BaseModel):
    """A business group."""

    id: str
    name: str
    enterprise_id: str
    created_at: str


class TemplateOut(BaseModel):
    """A message template."""

    id: str
    enterprise_id: str
    channel: TemplateChannel
    name: str
    text: str
    regulatory_template_id: str | None
    status: TemplateStatus
    created_at: str
    updated_at: str


class TemplateList(BaseModel):
    """Templates in scope."""

    items: list[TemplateOut]


class SenderOut(BaseModel):
    """A registered sender."""

    id: str
    enterprise_id: str
    channel: SenderChannel
    value: str
    label: str | None
    header_registration: str | None
    created_at: str
    updated_at: str


class SenderList(BaseModel):
    """Registered senders in scope."""

    items: list[SenderOut]


AppName = Literal["template_lookup", "url_shortener", "campaign_manager", "digital_asset_manager"]


class Subscription(BaseModel):
    """An app an enterprise subscribes to."""

    app: AppName
    subscribed_at: str


class SubscriptionList(BaseModel):
    """The apps an enterprise subscribes to."""

    items: list[Subscription]


class Withdrawal(BaseModel):
    """A withdrawn subscription and the accounts that had the app on (now off)."""

    app: AppName
    accounts_changed: list[str]


class OrganizationList(BaseModel):
    """Every organization in scope."""

    items: list[OrganizationOut]


class UserList(BaseModel):
    """Every user in scope."""

    items: list[UserOut]


class BusinessGroupList(BaseModel):
    """Business groups in scope."""

    items: list[BusinessGroupOut]


class AccountOut(BaseModel):
    """An access account as answered: the config plus id, version, status and timestamps."""

    model_config = ConfigDict(extra="allow")

    id: str
    version: int
    status: Literal["active", "deleted"]
    created_at: str
    updated_at: str


class AccountCreated(BaseModel):
    """A new account and its two secrets, shown this once."""

    account: AccountOut
    api_key: str
    webhook_signing_secret: str


class AccountList(BaseModel):
    """A page of accounts; `next_cursor` is null on the last page."""

    items: list[AccountOut]
    next_cursor: str | None


class ApiKeyOut(BaseModel):
    """A new API key, shown this once."""

    api_key: str


class SigningSecretOut(BaseModel):
    """A new webhook signing secret, shown this once."""

    webhook_signing_secret: str


class DeliveryAttempt(BaseModel):
    """One webhook delivery attempt (CONTRACT section 8)."""

    id: str
    kind: Literal["status", "user_initiated"]
    event_ids: list[str]
    url: str
    attempt: int
    outcome: Literal["delivered", "failed", "dead"]
    status_code: int | None
    error: str | None
    duration_ms: float | None
    at: str


class DeliveryLog(BaseModel):
    """Recent delivery attempts, newest first."""

    items: list[DeliveryAttempt]


class DeadLetter(BaseModel):
    """Events that could not be delivered after every retry."""

    id: str
    kind: Literal["status", "user_initiated"]
    event_ids: list[str]
    attempts: int
    last_error: str | None
    failed_at: str


class DeadLetterList(BaseModel):
    """The account's dead letters."""

    items: list[DeadLetter]


class ProblemError(BaseModel):
    """One field at fault."""

    loc: list[str | int]
    msg: str
    type: str | None = None


PROBLEM_TYPES = (
    "validation_error (422), malformed_request (400), unauthorized (401), forbidden (403), "
    "not_found (404), method_not_allowed (405), conflict (409), unsupported_media_type (415), "
    "too_many_attempts (429, with Retry-After), rate_limited (429, with Retry-After), "
    "service_unavailable (503), "
    "overloaded (503, with Retry-After)"
)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description=f"The problem type: {PROBLEM_TYPES}.")
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


def org_out(row: dict[str, Any]) -> dict[str, Any]:
    """An organization as answered."""
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "aggregator_id": row["aggregator_id"],
        "created_at": format_ts(row["created_at"]),
    }


def user_out(row: dict[str, Any]) -> dict[str, Any]:
    """A user as answered (no password hash)."""
    return {
        "id": row["id"],
        "username": row["username"],
        "role": row["role"],
        "organization_id": row["organization_id"],
        "created_at": format_ts(row["created_at"]),
    }


def group_out(row: dict[str, Any]) -> dict[str, Any]:
    """A business group as answered."""
    return {
        "id": row["id"],
        "name": row["name"],
        "enterprise_id": row["enterprise_id"],
        "created_at": format_ts(row["created_at"]),
    }


def template_out(row: dict[str, Any]) -> dict[str, Any]:
    """A template as answered."""
    return {
        "id": row["id"],
        "enterprise_id": row["enterprise_id"],
        "channel": row["channel"],
        "name": row["name"],
        "text": row["text"],
        "regulatory_template_id": row["regulatory_template_id"],
        "status": row["status"],
        "created_at": format_ts(row["created_at"]),
        "updated_at": format_ts(row["updated_at"]),
    }


def sender_out(row: dict[str, Any]) -> dict[str, Any]:
    """A sender as answered."""
    return {
        "id": row["id"],
        "enterprise_id": row["enterprise_id"],
        "channel": row["channel"],
        "value": row["value"],
        "label": row["label"],
        "header_registration": row["header_registration"],
        "created_at": format_ts(row["created_at"]),
        "updated_at": format_ts(row["updated_at"]),
    }
