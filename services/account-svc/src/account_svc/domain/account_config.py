"""The access-account config: validation and normalization (CONTRACT sections 2 and 8).

The public face of the account config rules:

- `validate_account_config(body, ...)` checks a whole config (a POST body, or a stored config
  with a PATCH merged in) and returns it normalized: defaults filled in, read-only answer fields
  dropped, keys in the order of the contract's example.
- `ConfigValidationError` carries every problem found, each naming its field.
- `AccountConfigIn` documents the POST body (its JSON schema feeds the OpenAPI document).
- `merge_patch`, `redact_url`, `url_has_credentials` and `ENCRYPTION_BLOCKS` serve PATCH and
  the handling of secrets.

Shapes are checked by the models of `account_models`, rules across fields by `account_rules`.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from account_svc.domain.account_models import (
    CHANNELS,
    ENCRYPTION_BLOCKS,
    AccountConfigIn,
    AgentAccessList,
    Batch,
    EncryptionBlock,
    Fallback,
    IpAccessList,
    Metadata,
    NumberAccessList,
    RcsSettings,
    SenderIdAccessList,
    SmsSettings,
    StatusWebhook,
    TruecallerSettings,
    TruecallerTrafficManagement,
    UserInitiatedWebhook,
    WhatsappSettings,
    WhatsappTrafficManagement,
)
from account_svc.domain.account_patch import merge_patch
from account_svc.domain.account_rules import Error, Loc, cross_field_errors, error
from account_svc.domain.account_urls import redact_url, url_has_credentials

__all__ = [
    "ENCRYPTION_BLOCKS",
    "AccountConfigIn",
    "ConfigValidationError",
    "merge_patch",
    "redact_url",
    "url_has_credentials",
    "validate_account_config",
]

BATCH_MAX_EVENTS_WHEN_ENABLED = 50
BATCH_MAX_EVENTS_WHEN_DISABLED = 1

# Pydantic's wording where it is unclear or names internal classes.
_MESSAGES = {
    "extra_forbidden": "Unknown field",
    "missing": "Field required",
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
    "dict_type": "Input should be an object",
    "list_type": "Input should be an array",
    "invalid_key": "Object keys should be strings",
}


class ConfigValidationError(Exception):
    """An account config breaks the contract's rules (answered as 422 `validation_error`).

    It exists so that callers get every problem at once, each as
    `{"loc": [...], "msg": "...", "type": "..."}` with `loc` the path of the field at fault
    from the top of the body. Messages never repeat the offending value (it may be a secret).
    """

    errors: list[dict[str, Any]]

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        summary = "; ".join(
            f"{'.'.join(str(step) for step in err['loc']) or '<body>'}: {err['msg']}"
            for err in errors
        )
        super().__init__(f"invalid account config: {summary}")


def validate_account_config(
    body: Any,
    *,
    allow_private_targets: bool,
    existing_passphrases: frozenset[tuple[str, ...]] = frozenset(),
) -> dict[str, Any]:
    """Validate a full config (POST body, or the result of a merge patch) and return it normalized.

    `allow_private_targets` admits `http://` webhook URLs. `existing_passphrases` holds the
    paths (see `ENCRYPTION_BLOCKS`) of encryption blocks that already have a passphrase, which
    the body may then omit. Raises `ConfigValidationError`, and nothing else, for bad input.
    """
    if not isinstance(body, dict):
        raise ConfigValidationError(
            [error([], "The account config must be a JSON object", "model_type")]
        )
    model: AccountConfigIn | None = None
    structural: list[Error] = []
    try:
        model = AccountConfigIn.model_validate(
            body, context={"allow_private_targets": allow_private_targets}
        )
    except ValidationError as exc:
        structural = [
            _from_pydantic(err) for err in exc.errors(include_url=False, include_input=False)
        ]
    cross = [
        err
        for err in cross_field_errors(body, existing_passphrases=existing_passphrases)
        if not any(_is_within(err["loc"], known["loc"]) for known in structural)
    ]
    errors = sorted(structural + cross, key=lambda err: _schema_order(err["loc"]))
    if errors or model is None:
        raise ConfigValidationError(errors)
    return _normalized(model)


def _from_pydantic(err: Any) -> Error:
    """An `errors[]` entry from one pydantic error: plain path, no input echoed."""
    loc: Loc = [
        step if isinstance(step, str | int) else str(step)
        for step in err["loc"]
        if step != "[key]"  # pydantic marks a bad dict key with it; the key itself is named
    ]
    kind = str(err["type"])
    return error(loc, _MESSAGES.get(kind, str(err["msg"])), kind)


def _schema_order(loc: Loc) -> list[int]:
    """Sort key of an error: its path ranked by the models' field order, then list positions.

    Errors then read top to bottom as the contract's example does, whatever the body's key
    order; unknown fields come after the known ones of their object.
    """
    key: list[int] = []
    model: type[BaseModel] | None = AccountConfigIn
    for step in loc:
        fields = list(model.model_fields) if model is not None else []
        if isinstance(step, str) and model is not None and step in fields:
            key.append(fields.index(step))
            model = _model_in(model.model_fields[step].annotation)
        else:
            key.append(len(fields) + (step if isinstance(step, int) else 0))
            model = None
    return key


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class a field holds (`X` of `X | None`), or None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_within(loc: Loc, outer: Loc) -> bool:
    """Whether `loc` is `outer` or a path inside it."""
    return loc[: len(outer)] == outer


def _normalized(config: AccountConfigIn) -> dict[str, Any]:
    """The stored form of a valid config: every key present, in the contract's order."""
    settings = config.channel_settings
    entries = {
        "rcs": _rcs(settings.rcs or RcsSettings()),
        "whatsapp": _whatsapp(settings.whatsapp or WhatsappSettings()),
        "truecaller": _truecaller(settings.truecaller or TruecallerSettings()),
        "sms": _sms(settings.sms or SmsSettings()),
    }
    security = config.security
    status = config.webhooks.status
    user_initiated = config.webhooks.user_initiated
    window = config.promotional_window
    out: dict[str, Any] = {
        "label": config.label,
        "enterprise_id": config.enterprise_id,
        "business_group_id": config.business_group_id,
        "communication_type": config.communication_type,
        "traffic_type": config.traffic_type if config.communication_type == "outgoing" else None,
        "channels": list(config.channels),
        "security": {
            "ip_restriction": _access(security.ip_restriction),
            "data_protection": security.data_protection,
            "payload_encryption": _encryption(security.payload_encryption),
        },
        "consent": config.consent.model_dump(),
        "channel_settings": {ch: entries[ch] for ch in CHANNELS if ch in config.channels},
        "webhooks": {
            "status": None if status is None else _status_webhook(status),
            "user_initiated": None if user_initiated is None else _ui_webhook(user_initiated),
        },
        "apps": config.apps.model_dump(),
    }
    if window is not None:  # present only when set: an account without one answers as before
        out["promotional_window"] = window.model_dump()
    return out


def _access(
    access: IpAccessList | SenderIdAccessList | NumberAccessList | AgentAccessList,
) -> dict[str, Any]:
    """Mode `all` drops any list; mode `allowlist` keeps it."""
    if access.mode == "all" or access.allowlist is None:
        return {"mode": "all"}
    return {"mode": "allowlist", "allowlist": list(access.allowlist)}


def _fallback(fallback: Fallback) -> dict[str, Any]:
    """All four keys always; a disabled fallback keeps no settings."""
    if not fallback.enabled:
        return {"enabled": False, "channel": None, "dr_ttl_seconds": None, "events": []}
    return {
        "enabled": True,
        "channel": fallback.channel,
        "dr_ttl_seconds": fallback.dr_ttl_seconds,
        "events": list(fallback.events),
    }


def _traffic(management: WhatsappTrafficManagement | TruecallerTrafficManagement) -> dict[str, Any]:
    if not management.enabled:
        return {"enabled": False}
    return {"enabled": True, "strategy": management.strategy}


def _rcs(rcs: RcsSettings) -> dict[str, Any]:
    return {
        "agent_providers": list(rcs.agent_providers),
        "agents": _access(rcs.agents),
        "verify_profile": rcs.verify_profile,
        "fallback": _fallback(rcs.fallback),
    }


def _whatsapp(whatsapp: WhatsappSettings) -> dict[str, Any]:
    return {
        "wabas": _access(whatsapp.wabas),
        "verify_profile": whatsapp.verify_profile,
        "traffic_management": _traffic(whatsapp.traffic_management),
        "fallback": _fallback(whatsapp.fallback),
    }


def _truecaller(truecaller: TruecallerSettings) -> dict[str, Any]:
    return {
        "numbers": _access(truecaller.numbers),
        "verify_profile": truecaller.verify_profile,
        "traffic_management": _traffic(truecaller.traffic_management),
        "fallback": _fallback(truecaller.fallback),
    }


def _sms(sms: SmsSettings) -> dict[str, Any]:
    return {"sender_ids": _access(sms.sender_ids), "fallback": _fallback(sms.fallback)}


def _encryption(block: EncryptionBlock) -> dict[str, Any]:
    """`{"enabled": false}`, or the settings with the passphrase only where one was given."""
    if not block.enabled:
        return {"enabled": False}
    out: dict[str, Any] = {"enabled": True, "algorithm": block.algorithm}
    if block.passphrase is not None:
        out["passphrase"] = block.passphrase
    out["version_code"] = block.version_code
    return out


def _metadata(metadata: Metadata) -> dict[str, Any]:
    return {"enabled": metadata.enabled, "pairs": dict(metadata.pairs)}


def _batch(batch: Batch) -> dict[str, Any]:
    """`max_events` defaults to 50 when batching is on and to 1 when it is off."""
    default = BATCH_MAX_EVENTS_WHEN_ENABLED if batch.enabled else BATCH_MAX_EVENTS_WHEN_DISABLED
    return {
        "enabled": batch.enabled,
        "max_events": default if batch.max_events is None else batch.max_events,
    }


def _status_webhook(hook: StatusWebhook) -> dict[str, Any]:
    return {
        "url": hook.url,
        "events": list(hook.events),
        "payload_format": hook.payload_format,
        "intermediate_delivery_notification": hook.intermediate_delivery_notification,
        "metadata": _metadata(hook.metadata),
        "retries": hook.retries,
        "batch": _batch(hook.batch),
        "encryption": _encryption(hook.encryption),
    }


def _ui_webhook(hook: UserInitiatedWebhook) -> dict[str, Any]:
    return {
        "url": hook.url,
        "payload_format": hook.payload_format,
        "retries": hook.retries,
        "metadata": _metadata(hook.metadata),
        "encryption": _encryption(hook.encryption),
    }
