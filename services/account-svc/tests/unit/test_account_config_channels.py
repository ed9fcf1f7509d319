"""Access-account config: one case per rule of channels and channel settings (CONTRACT 2, 8)."""

from __future__ import annotations

from typing import Any

import pytest
from account_svc.domain.account_config import validate_account_config
from account_testkit import DROP, Path, error_locs, variant

MINIMAL: dict[str, Any] = {
    "label": "OTP alerts",
    "enterprise_id": "ent_1",
    "business_group_id": "bg_1",
    "communication_type": "outgoing",
    "traffic_type": "otp",
    "channels": ["rcs", "sms"],
}

DISABLED_FALLBACK = {"enabled": False, "channel": None, "dr_ttl_seconds": None, "events": []}
ALL_ACCESS = {"mode": "all"}
RCS = ("channel_settings", "rcs")
SMS = ("channel_settings", "sms")
WA = ("channel_settings", "whatsapp")
TC = ("channel_settings", "truecaller")


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        pytest.param([(("label",), "   ")], ["label"], id="label-blank"),
        pytest.param([(("label",), "x" * 101)], ["label"], id="label-too-long"),
        pytest.param([(("label",), DROP)], ["label"], id="label-missing"),
        pytest.param([(("enterprise_id",), "bg_1")], ["enterprise_id"], id="enterprise-prefix"),
        pytest.param([(("business_group_id",), "ent_1")], ["business_group_id"], id="bg-prefix"),
        pytest.param([(("communication_type",), "broadcast")], ["communication_type"], id="ct"),
        pytest.param([(("traffic_type",), DROP)], ["traffic_type"], id="traffic-type-missing"),
        pytest.param([(("traffic_type",), None)], ["traffic_type"], id="traffic-type-null"),
        pytest.param([(("traffic_type",), "bulk")], ["traffic_type"], id="traffic-type-unknown"),
        pytest.param(
            [(("communication_type",), "conversational")],
            ["traffic_type"],
            id="traffic-type-on-conversational",
        ),
        pytest.param([(("channels",), [])], ["channels"], id="channels-empty"),
        pytest.param([(("channels",), ["sms", "email"])], ["channels", 1], id="channel-unknown"),
        pytest.param(
            [(("channels",), ["rcs", "sms", "rcs"])], ["channels", 2], id="channel-repeat"
        ),
        pytest.param([(("colour",), "red")], ["colour"], id="unknown-top-field"),
        pytest.param([(WA, {})], list(WA), id="settings-for-unselected-channel"),
        pytest.param(
            [(("channel_settings", "email"), {})],
            ["channel_settings", "email"],
            id="settings-email",
        ),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "allowlist", "allowlist": ["PARLEY", "P-1"]})],
            [*SMS, "sender_ids", "allowlist", 1],
            id="sender-id-not-alphanumeric",
        ),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "allowlist", "allowlist": ["AB"]})],
            [*SMS, "sender_ids", "allowlist", 0],
            id="sender-id-too-short",
        ),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "allowlist", "allowlist": ["A" * 16]})],
            [*SMS, "sender_ids", "allowlist", 0],
            id="sender-id-too-long",
        ),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "allowlist"})],
            [*SMS, "sender_ids", "allowlist"],
            id="allowlist-missing",
        ),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "allowlist", "allowlist": []})],
            [*SMS, "sender_ids", "allowlist"],
            id="allowlist-empty",
        ),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "allowlist", "allowlist": ["PARLEY"] * 1001})],
            [*SMS, "sender_ids", "allowlist"],
            id="allowlist-over-1000",
        ),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "some"})], [*SMS, "sender_ids", "mode"], id="mode"
        ),
        pytest.param([((*SMS, "sender_ids"), {})], [*SMS, "sender_ids", "mode"], id="mode-missing"),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "all", "list": []})],
            [*SMS, "sender_ids", "list"],
            id="access-list-unknown-field",
        ),
        pytest.param(
            [((*RCS, "agents"), {"mode": "allowlist", "allowlist": ["agent-otp", ""]})],
            [*RCS, "agents", "allowlist", 1],
            id="agent-id-empty",
        ),
        pytest.param(
            [((*RCS, "agents"), {"mode": "allowlist", "allowlist": ["a" * 129]})],
            [*RCS, "agents", "allowlist", 0],
            id="agent-id-too-long",
        ),
        pytest.param([((*RCS, "agent_providers"), [])], [*RCS, "agent_providers"], id="prov-empty"),
        pytest.param(
            [((*RCS, "agent_providers"), ["bsnl"])], [*RCS, "agent_providers", 0], id="prov-unknown"
        ),
        pytest.param(
            [((*RCS, "agent_providers"), ["airtel", "airtel"])],
            [*RCS, "agent_providers", 1],
            id="provider-repeat",
        ),
        pytest.param(
            [((*RCS, "verify_profile"), "loose")], [*RCS, "verify_profile"], id="verify-profile"
        ),
        pytest.param(
            [((*SMS, "verify_profile"), "non_strict")],
            [*SMS, "verify_profile"],
            id="verify-profile-on-sms",
        ),
        pytest.param(
            [((*RCS, "traffic_management"), {"enabled": False})],
            [*RCS, "traffic_management"],
            id="traffic-management-on-rcs",
        ),
        pytest.param(
            [((*SMS, "traffic_management"), {"enabled": False})],
            [*SMS, "traffic_management"],
            id="traffic-management-on-sms",
        ),
        pytest.param(
            [((*RCS, "fallback", "enabled"), "yes")], [*RCS, "fallback", "enabled"], id="not-bool"
        ),
        pytest.param(
            [((*RCS, "fallback"), {"enabled": False, "retry": 1})],
            [*RCS, "fallback", "retry"],
            id="fallback-unknown-field",
        ),
    ],
)
def test_broken_rule_names_its_field(changes: list[tuple[Path, Any]], loc: list[Any]) -> None:
    """Each broken rule on a minimal outgoing rcs+sms body is exactly one error at its field."""
    assert error_locs(variant(MINIMAL, *changes)) == [loc]


BOTH = variant(MINIMAL, (("channels",), ["rcs", "sms", "truecaller", "whatsapp"]))


def _fallback(**fields: Any) -> dict[str, Any]:
    return {"enabled": True, "channel": "sms", "events": ["delivery_failed"], **fields}


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        pytest.param(
            [((*WA, "wabas"), {"mode": "allowlist", "allowlist": ["919800000001"]})],
            [*WA, "wabas", "allowlist", 0],
            id="waba-not-e164",
        ),
        pytest.param(
            [((*TC, "numbers"), {"mode": "allowlist", "allowlist": ["+0123456"]})],
            [*TC, "numbers", "allowlist", 0],
            id="truecaller-number-not-e164",
        ),
        pytest.param(
            [((*TC, "traffic_management"), {"enabled": True, "strategy": "capacity_based"})],
            [*TC, "traffic_management", "strategy"],
            id="truecaller-capacity-based",
        ),
        pytest.param(
            [((*WA, "traffic_management"), {"enabled": True, "strategy": "random"})],
            [*WA, "traffic_management", "strategy"],
            id="whatsapp-strategy-unknown",
        ),
        pytest.param(
            [((*WA, "traffic_management"), {"enabled": True})],
            [*WA, "traffic_management", "strategy"],
            id="traffic-management-enabled-without-strategy",
        ),
        pytest.param(
            [((*RCS, "fallback"), _fallback(channel="rcs"))],
            [*RCS, "fallback", "channel"],
            id="fallback-to-itself",
        ),
        pytest.param(
            [(("channels",), ["rcs", "sms"]), ((*RCS, "fallback"), _fallback(channel="whatsapp"))],
            [*RCS, "fallback", "channel"],
            id="fallback-to-unselected",
        ),
        pytest.param(
            [((*RCS, "fallback"), _fallback(channel=None))],
            [*RCS, "fallback", "channel"],
            id="fallback-channel-missing",
        ),
        pytest.param(
            [((*RCS, "fallback"), _fallback(events=[]))],
            [*RCS, "fallback", "events"],
            id="fallback-events-empty",
        ),
        pytest.param(
            [((*RCS, "fallback", "enabled"), True), ((*RCS, "fallback", "channel"), "sms")],
            [*RCS, "fallback", "events"],
            id="fallback-events-missing",
        ),
        pytest.param(
            [((*RCS, "fallback"), _fallback(events=["delivery_failed", "expired_in_queue"]))],
            [*RCS, "fallback", "events", 1],
            id="fallback-event-not-a-seed-event",
        ),
        pytest.param(
            [((*RCS, "fallback"), _fallback(events=["invalid_number", "invalid_number"]))],
            [*RCS, "fallback", "events", 1],
            id="fallback-event-repeat",
        ),
        pytest.param(
            [((*RCS, "fallback"), _fallback(events=["dr_ttl_expired"]))],
            [*RCS, "fallback", "dr_ttl_seconds"],
            id="dr-ttl-required",
        ),
        pytest.param(
            [((*RCS, "fallback"), _fallback(events=["dr_ttl_expired"], dr_ttl_seconds=0))],
            [*RCS, "fallback", "dr_ttl_seconds"],
            id="dr-ttl-zero",
        ),
        pytest.param(
            [((*WA, "fallback"), _fallback(dr_ttl_seconds=86401))],
            [*WA, "fallback", "dr_ttl_seconds"],
            id="dr-ttl-over-a-day",
        ),
    ],
)
def test_broken_channel_rule_names_its_field(
    changes: list[tuple[Path, Any]], loc: list[Any]
) -> None:
    """Each broken channel rule on an all-channel body is exactly one error at its field."""
    assert error_locs(variant(BOTH, *changes)) == [loc]


@pytest.mark.parametrize(
    ("changes", "path", "expected"),
    [
        pytest.param(
            [(("communication_type",), "conversational"), (("traffic_type",), None)],
            ("traffic_type",),
            None,
            id="conversational-traffic-type-null",
        ),
        pytest.param([(("label",), "  OTP  ")], ("label",), "OTP", id="label-trimmed"),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "all", "allowlist": ["PARLEY"]})],
            (*SMS, "sender_ids"),
            ALL_ACCESS,
            id="mode-all-drops-allowlist",
        ),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "allowlist", "allowlist": ["PARLEY", "PARLEY"]})],
            (*SMS, "sender_ids", "allowlist"),
            ["PARLEY", "PARLEY"],
            id="allowlist-repeats-allowed",
        ),
        pytest.param(
            [((*SMS, "sender_ids"), {"mode": "allowlist", "allowlist": ["PARLEY"] * 1000})],
            (*SMS, "sender_ids", "mode"),
            "allowlist",
            id="allowlist-of-1000",
        ),
        pytest.param(
            [
                (
                    (*RCS, "fallback"),
                    {"enabled": False, "channel": "rcs", "events": ["dr_ttl_expired"]},
                )
            ],
            (*RCS, "fallback"),
            DISABLED_FALLBACK,
            id="disabled-fallback-is-not-checked",
        ),
        pytest.param(
            [((*RCS, "fallback"), _fallback(dr_ttl_seconds=30))],
            (*RCS, "fallback", "dr_ttl_seconds"),
            30,
            id="dr-ttl-without-dr-event-kept",
        ),
        pytest.param(
            [((*RCS, "fallback"), _fallback(events=["dr_ttl_expired"], dr_ttl_seconds=86400))],
            (*RCS, "fallback", "dr_ttl_seconds"),
            86400,
            id="dr-ttl-one-day",
        ),
        pytest.param(
            [((*RCS, "agent_providers"), ["airtel"])],
            (*RCS, "agent_providers"),
            ["airtel"],
            id="one-provider",
        ),
    ],
)
def test_accepted_variant(changes: list[tuple[Path, Any]], path: Path, expected: Any) -> None:
    """Bodies the rules allow validate, and the normalized value at `path` is as expected."""
    out: Any = validate_account_config(variant(MINIMAL, *changes), allow_private_targets=False)
    for step in path:
        out = out[step]
    assert out == expected
