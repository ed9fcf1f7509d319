"""What the management API accepts (besides the account config itself, `account_config`): the
request models its use cases take, and pydantic's errors as the contract's.

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


class OrganizationIn(_In):
    """A new aggregator or enterprise."""

    name: Name
    kind: Literal["aggregator", "enterprise"]
    aggregator_id: str | None = None


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
