"""The access-account config as pydantic models: shapes, types, ranges (CONTRACT section 2).

Each model checks its own fields one at a time; rules that look at two fields or more (mode and
allowlist, enabled and its settings, channels and channel settings) live in `account_rules`, so
that every error can name the exact field. The models forbid unknown fields, are strict (`"3"`
is not `3`), frozen, and avoid unions other than `X | None`, which keeps pydantic's error paths
equal to the paths in the body. Their JSON schema documents `POST /v1/accounts`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parley_shared.ids import has_prefix
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from account_svc.domain.account_urls import MAX_URL_LENGTH, webhook_url_problem

CHANNELS: tuple[str, ...] = ("rcs", "whatsapp", "truecaller", "sms")
"""Every channel, in the order `channel_settings` is answered (the contract's example order)."""
ENCRYPTION_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("security", "payload_encryption"),
    ("webhooks", "status", "encryption"),
    ("webhooks", "user_initiated", "encryption"),
)
"""Where encryption blocks (algorithm, passphrase, version code) sit in a config."""

Channel = Literal["rcs", "sms", "truecaller", "whatsapp"]
AgentProvider = Literal["reliance-jio", "vodafone-idea", "airtel"]
FallbackEvent = Literal["delivery_failed", "dr_ttl_expired", "invalid_number", "validity_expired"]
WebhookEvent = Literal["delivery_status", "sent", "read", "typing"]
PayloadFormat = Literal["native", "clevertap", "moengage", "webengage"]
AccessMode = Literal["all", "allowlist"]
VerifyProfile = Literal["strict", "non_strict"]

AGENT_PROVIDERS: tuple[AgentProvider, ...] = ("reliance-jio", "vodafone-idea", "airtel")
"""Every RCS provider, in the order used when an account names none."""

_READ_ONLY: JsonDict = {"readOnly": True}
_READ_ONLY_NOTE = "Read-only: answers carry it; a request may send it back and it is ignored."


def _matching(pattern: str, code: str, message: str) -> AfterValidator:
    """A validator that accepts a string only if all of it matches `pattern`."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise PydanticCustomError(code, message)
        return value

    return AfterValidator(check)


def _ip_or_network(value: str) -> str:
    """Accept an IPv4/IPv6 address or CIDR block (host bits may be set)."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PydanticCustomError(
            "ip_address", "Input should be an IPv4/IPv6 address or CIDR block"
        ) from None
    return value


def _prefixed(prefix: str) -> AfterValidator:
    """A validator that accepts only ids of the given prefix (`ent_...`)."""

    def check(value: str) -> str:
        if not has_prefix(value, prefix):
            raise PydanticCustomError(
                "id_prefix", "Input should be an id starting with {p}_", {"p": prefix}
            )
        return value

    return AfterValidator(check)


def _webhook_url(value: str, info: ValidationInfo) -> str:
    """Accept a webhook target URL; `http://` only with `allow_private_targets` in the context."""
    context = info.context if isinstance(info.context, dict) else {}
    problem = webhook_url_problem(
        value, allow_private_targets=bool(context.get("allow_private_targets", False))
    )
    if problem is not None:
        raise PydanticCustomError("webhook_url", problem)
    return value


def _time_zone(value: str) -> str:
    """Accept an IANA time zone name (`Asia/Kolkata`, `UTC`)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone", "Input should be an IANA time zone name, e.g. Asia/Kolkata"
        ) from None
    return value


_E164 = r"\+[1-9][0-9]{1,14}"
_LOCAL_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]"
_SENDER_ID = r"[A-Za-z0-9]{3,15}"
_VERSION_CODE = r"[A-Za-z0-9._-]{1,32}"
_META_KEY = r"[A-Za-z0-9_-]{1,64}"
_META_VALUE = r"[^\x00-\x08\x0a-\x1f\x7f]{0,256}"  # header-safe: no control characters but tab

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
EnterpriseId = Annotated[str, _prefixed("ent")]
BusinessGroupId = Annotated[str, _prefixed("bg")]
E164 = Annotated[
    str,
    _matching(_E164, "e164", "Input should be an E.164 number: + then 2 to 15 digits"),
    Field(json_schema_extra={"pattern": f"^{_E164}$"}),
]
SenderId = Annotated[
    str,
    _matching(_SENDER_ID, "sender_id", "Input should be 3 to 15 letters or digits"),
    Field(json_schema_extra={"pattern": f"^{_SENDER_ID}$"}),
]
AgentId = Annotated[str, Field(min_length=1, max_length=128)]
LocalTime = Annotated[
    str,
    _matching(_LOCAL_TIME, "local_time", "Input should be a 24-hour time HH:MM, 00:00 to 23:59"),
    Field(json_schema_extra={"pattern": f"^{_LOCAL_TIME}$"}),
]
TimeZone = Annotated[
    str, Field(min_length=1, max_length=64, examples=["Asia/Kolkata"]), AfterValidator(_time_zone)
]
IpEntry = Annotated[
    str,
    # 49 = the longest IPv6 text form with an embedded IPv4 and a /128 prefix.
    Field(max_length=49, description="IPv4/IPv6 address or CIDR block"),
    AfterValidator(_ip_or_network),
]
Passphrase = Annotated[
    str, Field(min_length=12, max_length=256, json_schema_extra={"writeOnly": True})
]
VersionCode = Annotated[
    str,
    _matching(_VERSION_CODE, "version_code", "Input should be 1 to 32 of A-Z a-z 0-9 . _ -"),
    Field(json_schema_extra={"pattern": f"^{_VERSION_CODE}$"}),
]
MetaKey = Annotated[
    str,
    _matching(_META_KEY, "metadata_key", "Metadata keys should be 1 to 64 of A-Z a-z 0-9 _ -"),
    Field(json_schema_extra={"pattern": f"^{_META_KEY}$"}),
]
MetaValue = Annotated[
    str,
    _matching(
        _META_VALUE,
        "metadata_value",
        "Metadata values should be at most 256 characters without control characters",
    ),
    Field(max_length=256),
]
WebhookUrl = Annotated[
    str,
    AfterValidator(_webhook_url),
    Field(
        description="https://host/..., nats://[user:pass@]host[:port]/subject[?jetstream=true]; "
        "http:// only where private targets are allowed",
        json_schema_extra={"format": "uri", "maxLength": MAX_URL_LENGTH},
    ),
]
_Allowlist = Field(min_length=1, max_length=1000)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class IpAccessList(_Model):
    """Client addresses allowed to call the messaging API; `allowlist` only with mode allowlist."""

    mode: AccessMode
    allowlist: Annotated[list[IpEntry], _Allowlist] | None = None


class SenderIdAccessList(_Model):
    """SMS sender ids the account may send from."""

    mode: AccessMode
    allowlist: Annotated[list[SenderId], _Allowlist] | None = None


class NumberAccessList(_Model):
    """WhatsApp (WABA) or Truecaller numbers the account may send from, E.164."""

    mode: AccessMode
    allowlist: Annotated[list[E164], _Allowlist] | None = None


class AgentAccessList(_Model):
    """RCS agent ids the account may send from."""

    mode: AccessMode
    allowlist: Annotated[list[AgentId], _Allowlist] | None = None


class Fallback(_Model):
    """Where a failed message goes next; the other fields matter only when enabled."""

    enabled: bool = False
    channel: Channel | None = None
    dr_ttl_seconds: Annotated[int, Field(ge=1, le=86400)] | None = None
    events: list[FallbackEvent] = Field(default_factory=list)


class WhatsappTrafficManagement(_Model):
    """How WhatsApp traffic spreads over routes; a strategy is required when enabled."""

    enabled: bool = False
    strategy: Literal["round_robin", "capacity_based"] | None = None


class TruecallerTrafficManagement(_Model):
    """How Truecaller traffic spreads over routes; a strategy is required when enabled."""

    enabled: bool = False
    strategy: Literal["round_robin"] | None = None


class RcsSettings(_Model):
    """RCS settings. Without `agent_providers` the account uses all three, in contract order."""

    agent_providers: Annotated[list[AgentProvider], Field(min_length=1)] = list(AGENT_PROVIDERS)
    agents: AgentAccessList = AgentAccessList(mode="all")
    verify_profile: VerifyProfile = "non_strict"
    fallback: Fallback = Fallback()


class WhatsappSettings(_Model):
    """WhatsApp settings."""

    wabas: NumberAccessList = NumberAccessList(mode="all")
    verify_profile: VerifyProfile = "non_strict"
    traffic_management: WhatsappTrafficManagement = WhatsappTrafficManagement()
    fallback: Fallback = Fallback()


class TruecallerSettings(_Model):
    """Truecaller settings."""

    numbers: NumberAccessList = NumberAccessList(mode="all")
    verify_profile: VerifyProfile = "non_strict"
    traffic_management: TruecallerTrafficManagement = TruecallerTrafficManagement()
    fallback: Fallback = Fallback()


class SmsSettings(_Model):
    """SMS settings: no profile check and no traffic management."""

    sender_ids: SenderIdAccessList = SenderIdAccessList(mode="all")
    fallback: Fallback = Fallback()


class ChannelSettings(_Model):
    """Settings per selected channel; `null` or absent means the defaults."""

    rcs: RcsSettings | None = None
    whatsapp: WhatsappSettings | None = None
    truecaller: TruecallerSettings | None = None
    sms: SmsSettings | None = None


class EncryptionBlock(_Model):
    """Payload encryption settings (CONTRACT section 6); all three required when enabled."""

    enabled: bool = False
    algorithm: Literal["aes-128", "aes-256"] | None = None
    passphrase: Passphrase | None = Field(default=None, repr=False)
    version_code: VersionCode | None = None
    salt: Any = Field(default=None, description=_READ_ONLY_NOTE, json_schema_extra=_READ_ONLY)
    passphrase_set: Any = Field(
        default=None, description=_READ_ONLY_NOTE, json_schema_extra=_READ_ONLY
    )


class Security(_Model):
    """Who may call, what is stored, and whether payloads are encrypted."""

    ip_restriction: IpAccessList = IpAccessList(mode="all")
    data_protection: Literal["store", "do_not_store", "encrypt_and_store"] = "store"
    payload_encryption: EncryptionBlock = EncryptionBlock()


class Consent(_Model):
    """Whether sends look up the recipient's opt-in / opt-out record."""

    lookup_opt_in: bool = False
    lookup_opt_out: bool = False


class Metadata(_Model):
    """Pairs added to each delivered event and sent as `x-parley-meta-<key>` headers."""

    enabled: bool = False
    pairs: Annotated[dict[MetaKey, MetaValue], Field(max_length=20)] = {}


class Batch(_Model):
    """Batching of events per delivery; `max_events` defaults to 50 when enabled, else 1."""

    enabled: bool = False
    max_events: Annotated[int, Field(ge=1, le=50)] | None = None


class StatusWebhook(_Model):
    """Where status events go."""

    url: WebhookUrl
    events: Annotated[list[WebhookEvent], Field(min_length=1)]
    payload_format: PayloadFormat = "native"
    intermediate_delivery_notification: bool = False
    metadata: Metadata = Metadata()
    retries: Annotated[int, Field(ge=0, le=3)] = 3
    batch: Batch = Batch()
    encryption: EncryptionBlock = EncryptionBlock()


class UserInitiatedWebhook(_Model):
    """Where inbound messages go (conversational accounts only); no events, no batching."""

    url: WebhookUrl
    payload_format: PayloadFormat = "native"
    retries: Annotated[int, Field(ge=0, le=3)] = 3
    metadata: Metadata = Metadata()
    encryption: EncryptionBlock = EncryptionBlock()


class Webhooks(_Model):
    """The account's webhooks; `null` means none."""

    status: StatusWebhook | None = None
    user_initiated: UserInitiatedWebhook | None = None


class Apps(_Model):
    """Companion apps switched on for the account."""

    template_lookup: bool = False
    url_shortener: bool = False
    campaign_manager: bool = False
    digital_asset_manager: bool = False


class PromotionalWindow(_Model):
    """When promotional sends are accepted: from `start` to `end`, wall-clock time in
    `timezone` (an end earlier than the start spans midnight). Beyond CONTRACT 2; only for
    `traffic_type` promotional."""

    start: LocalTime
    end: LocalTime
    timezone: TimeZone


class AccountConfigIn(_Model):
    """The body of `POST /v1/accounts`: an access account's config (CONTRACT section 2)."""

    label: Label
    enterprise_id: EnterpriseId
    business_group_id: BusinessGroupId
    communication_type: Literal["outgoing", "conversational"]
    traffic_type: Literal["otp", "transactional", "promotional"] | None = Field(
        default=None, description="Required for outgoing accounts; absent for conversational."
    )
    promotional_window: PromotionalWindow | None = Field(
        default=None,
        description="Promotional accounts only: outside this window a send answers 422 "
        "outside_promotional_window (beyond CONTRACT 2).",
    )
    channels: Annotated[list[Channel], Field(min_length=1)]
    security: Security = Security()
    consent: Consent = Consent()
    channel_settings: ChannelSettings = ChannelSettings()
    webhooks: Webhooks = Webhooks()
    apps: Apps = Apps()
    id: Any = Field(default=None, description=_READ_ONLY_NOTE, json_schema_extra=_READ_ONLY)
    version: Any = Field(default=None, description=_READ_ONLY_NOTE, json_schema_extra=_READ_ONLY)
    created_at: Any = Field(default=None, description=_READ_ONLY_NOTE, json_schema_extra=_READ_ONLY)
    updated_at: Any = Field(default=None, description=_READ_ONLY_NOTE, json_schema_extra=_READ_ONLY)
    status: Any = Field(default=None, description=_READ_ONLY_NOTE, json_schema_extra=_READ_ONLY)
