"""Request and answer models of the management API (besides the account config itself).

The same models validate requests and generate `/openapi.json`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


Name = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_not_blank)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class LoginIn(_In):
    """Credentials."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


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


class OrganizationIn(_In):
    """A new aggregator or enterprise."""

    name: Name
    kind: Literal["aggregator", "enterprise"]
    aggregator_id: str | None = None


class OrganizationOut(BaseModel):
    """An organization."""

    id: str
    name: str
    kind: Literal["aggregator", "enterprise"]
    aggregator_id: str | None
    created_at: str


class UserIn(_In):
    """A new console user."""

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=10, max_length=256)
    role: Literal["super_admin", "admin"]
    organization_id: str | None = None


class BusinessGroupIn(_In):
    """A new business group of an enterprise."""

    name: Name
    enterprise_id: str


class BusinessGroupOut(BaseModel):
    """A business group."""

    id: str
    name: str
    enterprise_id: str
    created_at: str


TemplateChannel = Literal["rcs", "sms", "truecaller", "whatsapp"]
TemplateStatus = Literal["pending", "approved", "rejected"]


def _has_text(value: str) -> str:
    from parley_shared.events import PLACEHOLDER_PATTERN

    if not re.sub(PLACEHOLDER_PATTERN, "", value).strip() and not re.search(
        PLACEHOLDER_PATTERN, value
    ):
        raise ValueError("must not be blank")
    if len(re.findall(PLACEHOLDER_PATTERN, value)) > MAX_PLACEHOLDERS:
        raise ValueError(f"at most {MAX_PLACEHOLDERS} placeholders")
    return value


MAX_PLACEHOLDERS = 50


class TemplateIn(_In):
    """A new message template of an enterprise (Template Lookup app); it starts `pending`."""

    enterprise_id: str
    channel: TemplateChannel
    name: Name
    text: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="the approved wording; `{#name#}` marks a placeholder "
            "(letters, digits, `_`), e.g. `Your OTP is {#otp#}` or DLT-style `{#var#}`",
        ),
        AfterValidator(_has_text),
    ]
    regulatory_template_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="SMS only: the regulator's template id (e.g. India DLT)",
    )


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


SenderChannel = Literal["rcs", "sms", "truecaller", "whatsapp"]


class SenderIn(_In):
    """A sender an enterprise owns: an SMS sender id (with its regulatory header
    registration), an RCS agent id, a WABA number or a Truecaller number."""

    enterprise_id: str
    channel: SenderChannel
    value: str = Field(
        min_length=1,
        max_length=128,
        description="SMS: 3..15 letters or digits; RCS: the agent id (1..128 characters); "
        "WhatsApp and Truecaller: an E.164 number",
    )
    label: str | None = Field(default=None, min_length=1, max_length=100)
    header_registration: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="SMS only: the regulator's registration of the header (e.g. India DLT "
        "header id)",
    )


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


def pydantic_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """pydantic's errors as contract errors: `loc` from the top of the body, no body prefix."""
    out = []
    for err in errors:
        loc = [part for part in err.get("loc", ()) if isinstance(part, str | int)]
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append({"loc": loc, "msg": msg, "type": err.get("type", "value_error")})
    return out
