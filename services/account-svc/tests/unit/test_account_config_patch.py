"""JSON merge patch (RFC 7386) and PATCH of an access-account config (CONTRACT sections 2, 8)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from account_svc.domain.account_config import (
    ConfigValidationError,
    merge_patch,
    validate_account_config,
)

# RFC 7386 section 3 and appendix A, in order.
RFC_CASES = [
    (
        {
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged",
        },
        {
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": None},
            "tags": ["example"],
        },
        {
            "title": "Hello!",
            "author": {"givenName": "John"},
            "tags": ["example"],
            "content": "This will be unchanged",
            "phoneNumber": "+01-123-456-7890",
        },
    ),
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(
    ("target", "patch", "result"), RFC_CASES, ids=[f"rfc7386-{i}" for i in range(len(RFC_CASES))]
)
def test_merge_patch_rfc_examples(target: Any, patch: Any, result: Any) -> None:
    """merge_patch gives the result RFC 7386 prints for each of its examples."""
    assert merge_patch(target, patch) == result


@pytest.mark.parametrize(
    ("target", "patch", "result"), RFC_CASES, ids=[f"rfc7386-{i}" for i in range(len(RFC_CASES))]
)
def test_merge_patch_is_pure(target: Any, patch: Any, result: Any) -> None:
    """merge_patch changes neither input, and its result shares no object with them."""
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    out = merge_patch(target, patch)
    assert (target, patch) == (target_before, patch_before)
    if isinstance(out, dict | list):
        _scramble(out)
        assert (target, patch) == (target_before, patch_before)


def _scramble(node: Any) -> None:
    """Change every container inside `node` in place."""
    values = list(node.values()) if isinstance(node, dict) else list(node)
    for value in values:
        if isinstance(value, dict | list):
            _scramble(value)
    if isinstance(node, dict):
        node["scrambled"] = True
    else:
        node.append("scrambled")


STORED: dict[str, Any] = {
    "label": "OTP alerts",
    "enterprise_id": "ent_1",
    "business_group_id": "bg_1",
    "communication_type": "outgoing",
    "traffic_type": "otp",
    "channels": ["rcs", "sms"],
    "security": {
        "payload_encryption": {
            "enabled": True,
            "algorithm": "aes-128",
            "passphrase": "correct horse battery",
            "version_code": "v1",
        }
    },
    "channel_settings": {
        "rcs": {"fallback": {"enabled": True, "channel": "sms", "events": ["delivery_failed"]}},
        "sms": {"sender_ids": {"mode": "allowlist", "allowlist": ["PARLEY"]}},
    },
}


def _stored() -> dict[str, Any]:
    """STORED normalized, with its passphrase taken out as the store keeps it."""
    config = validate_account_config(STORED, allow_private_targets=False)
    del config["security"]["payload_encryption"]["passphrase"]
    return config


def _patched(patch: Any) -> dict[str, Any]:
    merged = merge_patch(_stored(), patch)
    existing = frozenset({("security", "payload_encryption")})
    return validate_account_config(
        merged, allow_private_targets=False, existing_passphrases=existing
    )


def test_patch_without_passphrase_keeps_it() -> None:
    """A PATCH that leaves the passphrase out validates; the output carries no passphrase."""
    out = _patched({"label": "Renamed"})
    assert out["label"] == "Renamed"
    assert out["security"]["payload_encryption"] == {
        "enabled": True,
        "algorithm": "aes-128",
        "version_code": "v1",
    }


def test_removing_a_channel_needs_its_settings_nulled() -> None:
    """Dropping a channel without `channel_settings.<ch>: null` is an error naming that entry."""
    with pytest.raises(ConfigValidationError) as caught:
        _patched({"channels": ["rcs"]})
    assert [e["loc"] for e in caught.value.errors] == [
        ["channel_settings", "rcs", "fallback", "channel"],
        ["channel_settings", "sms"],
    ]
    out = _patched(
        {"channels": ["rcs"], "channel_settings": {"sms": None, "rcs": {"fallback": None}}}
    )
    assert list(out["channel_settings"]) == ["rcs"]


def test_switching_an_access_list_to_all_drops_the_old_list() -> None:
    """Patching only `mode: all` onto an allowlist is accepted and the stored list goes away."""
    out = _patched({"channel_settings": {"sms": {"sender_ids": {"mode": "all"}}}})
    assert out["channel_settings"]["sms"]["sender_ids"] == {"mode": "all"}


def test_patch_to_conversational_must_drop_traffic_type() -> None:
    """Turning an account conversational keeps the stored traffic_type, which is then an error."""
    with pytest.raises(ConfigValidationError) as caught:
        _patched({"communication_type": "conversational"})
    assert [e["loc"] for e in caught.value.errors] == [["traffic_type"]]
    out = _patched({"communication_type": "conversational", "traffic_type": None})
    assert out["traffic_type"] is None


def test_patch_cannot_give_user_initiated_a_format_without_inbound_shape() -> None:
    """A PATCH setting user_initiated to MoEngage is refused at that field; to CleverTap, kept."""
    conversational = {"communication_type": "conversational", "traffic_type": None}
    hook = {"url": "https://hooks.example.com/in", "payload_format": "moengage"}
    with pytest.raises(ConfigValidationError) as caught:
        _patched({**conversational, "webhooks": {"user_initiated": hook}})
    assert [e["loc"] for e in caught.value.errors] == [
        ["webhooks", "user_initiated", "payload_format"]
    ]
    hook["payload_format"] = "clevertap"
    out = _patched({**conversational, "webhooks": {"user_initiated": hook}})
    assert out["webhooks"]["user_initiated"]["payload_format"] == "clevertap"


def test_a_stored_refused_inbound_format_must_be_changed_by_the_next_patch() -> None:
    """An account stored with MoEngage user_initiated (before the rule) cannot be patched
    without fixing it: any PATCH names the field until the format is changed."""
    stored = _stored()
    stored.update(communication_type="conversational", traffic_type=None)
    stored["webhooks"]["user_initiated"] = {
        "url": "https://hooks.example.com/in",
        "payload_format": "moengage",
    }
    existing = frozenset({("security", "payload_encryption")})

    def patched(patch: dict[str, Any]) -> dict[str, Any]:
        merged = merge_patch(stored, patch)
        return validate_account_config(
            merged, allow_private_targets=False, existing_passphrases=existing
        )

    with pytest.raises(ConfigValidationError) as caught:
        patched({"label": "Renamed"})
    assert [e["loc"] for e in caught.value.errors] == [
        ["webhooks", "user_initiated", "payload_format"]
    ]
    out = patched({"webhooks": {"user_initiated": {"payload_format": "native"}}})
    assert out["webhooks"]["user_initiated"]["payload_format"] == "native"
