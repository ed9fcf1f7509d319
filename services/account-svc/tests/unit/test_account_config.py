"""Access-account config: the seed, defaults, and the channel rules (CONTRACT sections 2 and 8)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from account_svc.domain.account_config import (
    AccountConfigIn,
    validate_account_config,
)
from account_testkit import DROP, Path, error_locs, variant
from account_testkit import SEED as BASE_SEED

# The example of CONTRACT section 2 with two fixes it needs to pass its own rules: the
# placeholder passphrase "..." is replaced by a real one (12..256 characters), and `channels`
# names all four channels, since the example has settings for all four and settings for an
# unselected channel are an error. See test_verbatim_contract_example_breaks_two_rules.
_ALL_CHANNELS: dict[str, Any] = variant(
    BASE_SEED,
    (("channels",), ["rcs", "sms", "whatsapp", "truecaller"]),
    (
        ("channel_settings",),
        {
            "rcs": BASE_SEED["channel_settings"]["rcs"],
            "whatsapp": {
                "wabas": {"mode": "allowlist", "allowlist": ["+919800000001"]},
                "verify_profile": "non_strict",
                "traffic_management": {"enabled": True, "strategy": "capacity_based"},
                "fallback": {"enabled": False},
            },
            "truecaller": {
                "numbers": {"mode": "all"},
                "verify_profile": "strict",
                "traffic_management": {"enabled": True, "strategy": "round_robin"},
                "fallback": {"enabled": False},
            },
            "sms": BASE_SEED["channel_settings"]["sms"],
        },
    ),
)
SEED: dict[str, Any] = {
    "label": _ALL_CHANNELS["label"],
    "enterprise_id": "ent_...",
    "business_group_id": "bg_...",
    **{k: v for k, v in _ALL_CHANNELS.items() if k != "label"},
}

MINIMAL: dict[str, Any] = {
    "label": "OTP alerts",
    "enterprise_id": "ent_1",
    "business_group_id": "bg_1",
    "communication_type": "outgoing",
    "traffic_type": "otp",
    "channels": ["rcs", "sms"],
}

DISABLED_FALLBACK: dict[str, Any] = {
    "enabled": False,
    "channel": None,
    "dr_ttl_seconds": None,
    "events": [],
}
ALL_ACCESS = {"mode": "all"}
SMS = ("channel_settings", "sms")
WA = ("channel_settings", "whatsapp")


def test_seed_validates_unchanged_in_meaning() -> None:
    """The contract's example validates, and normalizing it changes only absent-key defaults."""
    out = validate_account_config(SEED, allow_private_targets=False)
    expected = copy.deepcopy(SEED)
    for channel in ("whatsapp", "truecaller", "sms"):
        expected["channel_settings"][channel]["fallback"] = DISABLED_FALLBACK
    assert out == expected
    assert list(out) == list(SEED)
    assert list(out["channel_settings"]) == ["rcs", "whatsapp", "truecaller", "sms"]


def test_verbatim_contract_example_breaks_two_rules() -> None:
    """The example as printed fails on its placeholder passphrase and unselected channels."""
    verbatim = variant(
        SEED,
        (("channels",), ["rcs", "sms"]),
        (("security", "payload_encryption", "passphrase"), "..."),
    )
    assert error_locs(verbatim) == [
        ["security", "payload_encryption", "passphrase"],
        ["channel_settings", "whatsapp"],
        ["channel_settings", "truecaller"],
    ]


def test_minimal_body_gets_every_default() -> None:
    """A body with only the required fields comes back with every default of sections 2 and 8."""
    out = validate_account_config(MINIMAL, allow_private_targets=False)
    assert out == {
        **MINIMAL,
        "security": {
            "ip_restriction": ALL_ACCESS,
            "data_protection": "store",
            "payload_encryption": {"enabled": False},
        },
        "consent": {"lookup_opt_in": False, "lookup_opt_out": False},
        "channel_settings": {
            "rcs": {
                "agent_providers": ["reliance-jio", "vodafone-idea", "airtel"],
                "agents": ALL_ACCESS,
                "verify_profile": "non_strict",
                "fallback": DISABLED_FALLBACK,
            },
            "sms": {"sender_ids": ALL_ACCESS, "fallback": DISABLED_FALLBACK},
        },
        "webhooks": {"status": None, "user_initiated": None},
        "apps": {
            "template_lookup": False,
            "url_shortener": False,
            "campaign_manager": False,
            "digital_asset_manager": False,
        },
    }


def test_whatsapp_and_truecaller_defaults() -> None:
    """WhatsApp and Truecaller entries default to access all, non_strict, no traffic management."""
    out = validate_account_config(
        variant(MINIMAL, (("channels",), ["truecaller", "whatsapp"])), allow_private_targets=False
    )
    assert out["channel_settings"] == {
        "whatsapp": {
            "wabas": ALL_ACCESS,
            "verify_profile": "non_strict",
            "traffic_management": {"enabled": False},
            "fallback": DISABLED_FALLBACK,
        },
        "truecaller": {
            "numbers": ALL_ACCESS,
            "verify_profile": "non_strict",
            "traffic_management": {"enabled": False},
            "fallback": DISABLED_FALLBACK,
        },
    }


def test_normalized_output_validates_to_itself() -> None:
    """Validating a normalized config again returns it unchanged (GET answers round-trip)."""
    for body in (SEED, MINIMAL):
        out = validate_account_config(body, allow_private_targets=False)
        assert validate_account_config(out, allow_private_targets=False) == out


@pytest.mark.parametrize("body", [[], "config", None, 3, [MINIMAL]], ids=repr)
def test_non_object_body_is_an_error_at_the_top(body: Any) -> None:
    """A body that is not a JSON object is one error with an empty loc."""
    assert error_locs(body) == [[]]


def test_every_error_is_reported_at_once() -> None:
    """Type errors and cross-field errors in one body are all reported together, in order."""
    body = variant(
        MINIMAL,
        (("traffic_type",), DROP),
        (("channels",), ["rcs", "sms", "rcs"]),
        ((*SMS, "verify_profile"), "strict"),
        (("apps", "url_shortener"), "yes"),
    )
    assert error_locs(body) == [
        ["traffic_type"],
        ["channels", 2],
        [*SMS, "verify_profile"],
        ["apps", "url_shortener"],
    ]


@pytest.mark.parametrize(
    "changes",
    [
        [(("channels",), [[], {}, "rcs", "rcs", None])],
        [
            (
                ("channel_settings",),
                {"rcs": [], "sms": {"fallback": {"enabled": True, "events": [{}]}}},
            )
        ],
        [((*SMS, "fallback"), {"enabled": True, "channel": [], "events": "dr_ttl_expired"})],
        [((*SMS, "sender_ids"), {"mode": [], "allowlist": {"a": 1}})],
        [(("security",), {"payload_encryption": {"enabled": True}, "ip_restriction": []})],
        [(("security", "payload_encryption"), {"enabled": True, "passphrase": 12345678901234})],
        [
            (
                ("webhooks",),
                {"status": {"events": "sent", "batch": {"enabled": True}}, "user_initiated": 5},
            )
        ],
        [(("webhooks", "status"), {"url": ["https://x"], "events": [["typing"]], "metadata": []})],
        [(("webhooks", "status"), {"url": "https://[::1", "events": ["sent"]})],
        [(("label",), float("nan")), (("channels",), {"rcs"})],
        [((1,), 2), ((("tuple", "key"),), 3)],
    ],
    ids=lambda changes: ".".join(map(str, changes[0][0])),
)
def test_garbage_is_a_validation_error(changes: list[tuple[Path, Any]]) -> None:
    """Values of any wrong type anywhere give ConfigValidationError, never another exception."""
    assert error_locs(variant(MINIMAL, *changes))


def test_null_entry_for_unselected_channel_is_dropped() -> None:
    """`channel_settings.<ch>: null` for an unselected channel is accepted and left out."""
    out = validate_account_config(variant(MINIMAL, (WA, None)), allow_private_targets=False)
    assert list(out["channel_settings"]) == ["rcs", "sms"]


def test_read_only_answer_fields_are_ignored() -> None:
    """Fields only answers carry (meta, `salt`, `passphrase_set`) are accepted and dropped."""
    answer = variant(
        SEED,
        (("id",), "acc_1"),
        (("version",), 3),
        (("status",), "active"),
        (("created_at",), "2026-11-26T10:00:00.000Z"),
        (("updated_at",), "2026-11-26T10:00:00.000Z"),
        (("security", "payload_encryption", "salt"), "c2FsdA=="),
        (("security", "payload_encryption", "passphrase_set"), True),
    )
    out = validate_account_config(answer, allow_private_targets=False)
    assert out == validate_account_config(SEED, allow_private_targets=False)


def test_account_config_in_has_an_openapi_schema() -> None:
    """The POST body model yields a JSON schema that forbids unknown fields at every level."""
    schema = AccountConfigIn.model_json_schema()
    assert schema["additionalProperties"] is False
    assert {"label", "enterprise_id", "business_group_id", "communication_type", "channels"} <= set(
        schema["required"]
    )
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values())
