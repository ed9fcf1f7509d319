"""Request and answer models of the messaging API (CONTRACT section 3).

The same models validate requests and generate `/openapi.json`. Unknown fields are refused
everywhere (422 naming them).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from routing_svc.domain.msisdn import E164_RE
from routing_svc.errors import problem_types

Channel = Literal["rcs", "sms", "truecaller", "whatsapp"]
E164 = Annotated[str, Field(pattern=E164_RE, description="E.164", examples=["+919876543210"])]
MAX_METADATA_KEYS = 50


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateRef(_In):
    """An approved template to render (Template Lookup app): its id and a value per placeholder."""

    id: str = Field(min_length=1, max_length=64)
    params: dict[str, str] | list[str] = Field(
        default_factory=dict,
        description="a value per placeholder name, no more; or, for DLT-style `{#var#}` "
        "templates, a list with one value per placeholder in order",
    )


class Content(_In):
    """What the message says: `text`, or a `template` to render (Template Lookup app), and
    optionally a `media_url` (Digital Asset Manager app)."""

    text: str | None = Field(default=None, min_length=1, max_length=4096)
    template: TemplateRef | None = Field(
        default=None, description="only with the template_lookup app; instead of `text`"
    )
    media_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https://[^\s/?#]+[^\s]*$",
        description="an https URL; only with the digital_asset_manager app",
    )

    @model_validator(mode="after")
    def _something_to_say(self) -> Content:
        if self.text is not None and self.template is not None:
            raise ValueError("give either text or template, not both")
        if self.text is None and self.template is None and self.media_url is None:
            raise ValueError("give text, template or media_url")
        return self


class MessageIn(_In):
    """`POST /v1/messages`."""

    to: E164
    channel: Channel
    sender: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="SMS sender id, RCS agent id, WABA number or Truecaller number; "
        "omitted: the first entry of the channel's allowlist, or the platform default",
    )
    content: Content
    validity_seconds: int | None = Field(default=None, ge=1, le=7 * 86400)
    client_ref: str | None = Field(default=None, min_length=1, max_length=256)
    metadata: dict[str, Any] | None = Field(default=None, max_length=MAX_METADATA_KEYS)
    campaign_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="only with the campaign_manager app; kept in the log, echoed in events",
    )


class MessageAccepted(BaseModel):
    """The message is durable and will be routed."""

    message_id: str
    status: Literal["accepted"] = "accepted"


class AttemptOut(BaseModel):
    """One channel tried, with its latest status."""

    channel: Channel
    route: str | None
    status: Literal["accepted", "sent", "delivered", "read", "failed"]
    reason: str | None
    at: str


class MessageOut(BaseModel):
    """A message from the message log."""

    message_id: str
    status: Literal["accepted", "sent", "delivered", "read", "failed"]
    channel: Channel
    to: str = Field(description="masked (+91******3210) under do_not_store")
    content: dict[str, Any] | None = Field(description="null under do_not_store")
    attempts: list[AttemptOut] = Field(description="oldest first")
    client_ref: str | None
    campaign_id: str | None = None


class ConsentIn(_In):
    """`PUT /v1/consent/{msisdn}`; without `channel` it covers every channel."""

    status: Literal["opted_in", "opted_out"]
    channel: Channel | None = None


class ConsentOut(BaseModel):
    """The consent of one user towards the account's enterprise."""

    msisdn: str
    status: Literal["opted_in", "opted_out", "none"] = Field(
        description="the record without channel"
    )
    channels: dict[str, Literal["opted_in", "opted_out"]] = Field(
        description="per-channel records; each overrides `status` for its channel"
    )
    updated_at: str | None


class InboundIn(_In):
    """`POST /v1/sandbox/inbound`: a user writes (or types) to sender `to`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    channel: Channel
    from_: E164 = Field(alias="from")
    to: str = Field(min_length=1, max_length=128)
    text: str | None = Field(default=None, min_length=1, max_length=4096)
    typing: bool | None = None

    @model_validator(mode="after")
    def _text_or_typing(self) -> InboundIn:
        if (self.text is None) == (self.typing is not True):
            raise ValueError("give either text or typing: true")
        return self


class InboundAccepted(BaseModel):
    """The inbound message (or typing) was published."""

    inbound_id: str


class ProblemError(BaseModel):
    """One field at fault."""

    loc: list[str | int]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(
        description="a short stable code: " + ", ".join(problem_types()),
        examples=problem_types(),
    )
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


def pydantic_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """pydantic's errors as contract errors: `loc` from the top of the body, no input echoed."""
    out = []
    for err in errors:
        loc = [part for part in err.get("loc", ()) if isinstance(part, str | int)]
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append({"loc": loc, "msg": msg, "type": str(err.get("type", "value_error"))})
    return out
