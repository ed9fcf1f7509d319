"""CloudEvents 1.0 envelope and the event models of CONTRACT section 4.

Status and inbound events are what integrators see (STATUS / INBOUND streams, native webhook
format). Account config events are internal (ACCOUNTS stream): a snapshot of one account's
config as the management API answers it, plus its secrets, sealed with the master key.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from parley_shared.ids import new_id
from parley_shared.timefmt import now_ts

SPECVERSION: Literal["1.0"] = "1.0"
DATACONTENTTYPE: Literal["application/json"] = "application/json"

# Event types.
MESSAGE_SENT = "parley.message.sent"
MESSAGE_DELIVERED = "parley.message.delivered"
MESSAGE_READ = "parley.message.read"
MESSAGE_FAILED = "parley.message.failed"
MESSAGE_FALLBACK = "parley.message.fallback"
MESSAGE_TYPING = "parley.message.typing"
MESSAGE_CLICKED = "parley.message.clicked"
INBOUND_MESSAGE = "parley.inbound.message"
ACCOUNT_CONFIG_UPDATED = "parley.account.config.updated"
ACCOUNT_CONFIG_DELETED = "parley.account.config.deleted"
TEMPLATE_CONFIG_UPDATED = "parley.template.config.updated"
TEMPLATE_CONFIG_DELETED = "parley.template.config.deleted"
SENDER_CONFIG_UPDATED = "parley.sender.config.updated"
SENDER_CONFIG_DELETED = "parley.sender.config.deleted"

PLACEHOLDER_PATTERN = r"\{#([A-Za-z0-9_]{1,64})#\}"
"""A placeholder in a message template's text: `{#var#}`, `{#otp#}`; its name is the group."""

STATUS_EVENT_TYPES = frozenset(
    {
        MESSAGE_SENT,
        MESSAGE_DELIVERED,
        MESSAGE_READ,
        MESSAGE_FAILED,
        MESSAGE_FALLBACK,
        MESSAGE_TYPING,
        MESSAGE_CLICKED,
    }
)

Status = Literal["accepted", "sent", "delivered", "read", "failed"]
Reason = Literal[
    "delivery_failed",
    "invalid_number",
    "validity_expired",
    "dr_ttl_expired",
    "profile_not_found",
    "expired_in_queue",
]
Channel = Literal["rcs", "sms", "truecaller", "whatsapp"]

D = TypeVar("D", bound=BaseModel)


def source_for(account_id: str) -> str:
    """The CloudEvents `source` of an account's events."""
    return f"parley/accounts/{account_id}"


class CloudEvent(BaseModel, Generic[D]):
    """A CloudEvents 1.0 event in structured JSON mode."""

    model_config = ConfigDict(extra="forbid")

    specversion: Literal["1.0"] = SPECVERSION
    id: str
    type: str
    source: str
    subject: str | None = None
    time: str = Field(default_factory=now_ts)
    datacontenttype: Literal["application/json"] = DATACONTENTTYPE
    data: D


class StatusData(BaseModel):
    """`data` of a status event: every key present, `null` when it does not apply."""

    model_config = ConfigDict(extra="forbid")

    message_id: str
    account_id: str
    client_ref: str | None = None
    channel: Channel | None = None
    route: str | None = None
    sender: str | None = None
    recipient: str | None = None
    status: Status | None = None
    reason: Reason | None = None
    attempt: int | None = None
    fallback_from: Channel | None = None
    fallback_to: Channel | None = None
    final: bool = False
    metadata: dict[str, Any] | None = None
    campaign_id: str | None = Field(
        default=None, description="the message's campaign (Campaign Manager app); null without"
    )
    late: bool | None = Field(default=None, description="Present (true) only on late reports")
    url: str | None = Field(
        default=None, description="Present only on `clicked`: the original URL (URL Shortener)"
    )
    shorturl: str | None = Field(
        default=None, description="Present only on `clicked`: the short link that was clicked"
    )

    def to_wire(self) -> dict[str, Any]:
        """The dict as it goes on the wire: `late`, `url` and `shorturl` only when set."""
        out = self.model_dump()
        for key in ("late", "url", "shorturl"):
            if out.get(key) is None:
                out.pop(key, None)
        return out


class InboundData(BaseModel):
    """`data` of an inbound (user-initiated) message event."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    inbound_id: str
    account_id: str
    channel: Channel
    from_: str = Field(alias="from")
    to: str
    text: str | None = None
    in_reply_to: str | None = None
    received_at: str
    metadata: dict[str, Any] | None = None


class SealedKeyVersion(BaseModel):
    """One version of a payload-encryption passphrase, sealed with the master key."""

    version_code: str
    algorithm: Literal["aes-128", "aes-256"]
    salt: str
    passphrase: str = Field(description="sealed (parley_shared.sealing)")
    valid_until: str | None = Field(default=None, description="null for the current version")


class SealedSecret(BaseModel):
    """A sealed secret value, with the time until which a replaced one stays valid."""

    value: str = Field(description="sealed (parley_shared.sealing)")
    valid_until: str | None = None


class AccountSecrets(BaseModel):
    """Secrets of an account as they travel on the bus: hashed or sealed, never clear."""

    api_key_hash: str | None = Field(default=None, description="peppered HMAC of the current key")
    webhook_signing_secrets: list[SealedSecret] = Field(
        default_factory=list, description="current first; a replaced one for 24 h"
    )
    payload_encryption: list[SealedKeyVersion] = Field(
        default_factory=list, description="API payload envelope keys, current first"
    )
    webhook_encryption: dict[str, SealedKeyVersion] = Field(
        default_factory=dict, description="per webhook kind (status, user_initiated)"
    )
    webhook_urls: dict[str, str] = Field(
        default_factory=dict,
        description="sealed full URL per webhook kind, only where it carries credentials",
    )


class AccountConfigData(BaseModel):
    """`data` of an account config event (ACCOUNTS stream)."""

    account_id: str
    version: int
    status: Literal["active", "deleted"]
    enterprise_id: str
    account: dict[str, Any] | None = Field(
        description="the account as GET /v1/accounts/{id} answers it; null on a tombstone"
    )
    secrets: AccountSecrets | None = None


class SenderData(BaseModel):
    """`data` of a registered sender event (SENDERS stream): a sender an enterprise owns, as
    the management API answers it; a deletion carries `status: "deleted"`."""

    id: str
    enterprise_id: str
    channel: Channel
    value: str = Field(description="SMS sender id, RCS agent id, WABA or Truecaller number")
    label: str | None = None
    header_registration: str | None = Field(
        default=None, description="SMS only: the regulator's header registration (e.g. DLT)"
    )
    status: Literal["active", "deleted"]
    version: int = Field(description="grows with every change; a view keeps the newest")
    created_at: str
    updated_at: str


class TemplateData(BaseModel):
    """`data` of a message template event (TEMPLATES stream): the template as the management
    API answers it; a deletion carries `status: "deleted"`."""

    id: str
    enterprise_id: str
    channel: Channel
    name: str
    text: str
    regulatory_template_id: str | None = None
    status: Literal["pending", "approved", "rejected", "deleted"]
    version: int = Field(description="grows with every change; a view keeps the newest")
    created_at: str
    updated_at: str


def new_event_id() -> str:
    """A fresh event id (`evt_...`)."""
    return new_id("evt")


def dumps(event: BaseModel | dict[str, Any] | list[Any]) -> bytes:
    """Serialize an event (or a batch) to compact JSON bytes, aliases applied."""
    if isinstance(event, BaseModel):
        return orjson.dumps(event.model_dump(by_alias=True, mode="json"))
    return orjson.dumps(event)
