"""The account rules answer over HTTP as RFC 9457 problems naming each field (wiring check;
every rule has its own case in tests/unit/test_account_config*.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from account_testkit import Api, make_tenant, seed_for


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        node: Any = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return apply


def _conversational_with_traffic(body: dict[str, Any]) -> None:
    body["communication_type"] = "conversational"


def _inbound_in(payload_format: str) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        body["communication_type"] = "conversational"
        body.pop("traffic_type", None)
        body["webhooks"]["user_initiated"] = {
            "url": "https://example.com/in",
            "payload_format": payload_format,
        }

    return apply


CASES = [
    ("traffic_type_missing", lambda b: b.pop("traffic_type"), ["traffic_type"]),
    ("traffic_type_on_conversational", _conversational_with_traffic, ["traffic_type"]),
    ("repeated_channel", _set(["channels"], ["rcs", "sms", "rcs"]), ["channels", 2]),
    ("unknown_field", _set(["colour"], "blue"), ["colour"]),
    (
        "typing_on_outgoing",
        _set(["webhooks", "status", "events"], ["sent", "typing"]),
        ["webhooks", "status", "events", 1],
    ),
    (
        "webengage_batch",
        _set(["webhooks", "status", "payload_format"], "webengage"),
        ["webhooks", "status", "batch", "enabled"],
    ),
    (
        "fallback_to_unselected",
        _set(["channel_settings", "rcs", "fallback", "channel"], "whatsapp"),
        ["channel_settings", "rcs", "fallback", "channel"],
    ),
    (
        "settings_for_unselected",
        _set(["channel_settings", "whatsapp"], {"fallback": {"enabled": False}}),
        ["channel_settings", "whatsapp"],
    ),
    (
        "user_initiated_on_outgoing",
        _set(
            ["webhooks", "user_initiated"],
            {"url": "https://example.com/in", "payload_format": "native"},
        ),
        ["webhooks", "user_initiated"],
    ),
    (
        "user_initiated_moengage",
        _inbound_in("moengage"),
        ["webhooks", "user_initiated", "payload_format"],
    ),
    (
        "bad_cidr",
        _set(["security", "ip_restriction", "allowlist"], ["10.0.0.0/33"]),
        ["security", "ip_restriction", "allowlist", 0],
    ),
]


@pytest.mark.parametrize(("case", "mutate", "loc"), CASES, ids=[c[0] for c in CASES])
async def test_rule_answers_422_with_loc(
    api: Api, case: str, mutate: Callable[[dict[str, Any]], None], loc: list[str | int]
) -> None:
    """Each broken rule is a 422 `validation_error` whose errors name the field."""
    tenant = await make_tenant(api)
    body = seed_for(tenant)
    mutate(body)
    status, problem = await api.call("POST", "/v1/accounts", body)
    assert status == 422, (case, problem)
    assert problem["type"] == "validation_error"
    assert problem["status"] == 422
    assert loc in [e["loc"] for e in problem["errors"]], problem["errors"]


async def test_non_object_bodies_are_422_not_500(api: Api) -> None:
    """A JSON array, string or number as the account body is a 422, never a 500."""
    for raw in (b"[]", b'"x"', b"42", b"null"):
        status, problem = await api.call(
            "POST", "/v1/accounts", raw=raw, headers={"Content-Type": "application/json"}
        )
        assert status == 422, (raw, problem)


async def test_oversized_body_is_a_problem(api: Api) -> None:
    """A body over the 1 MiB limit answers 413 as problem JSON."""
    raw = b'{"label": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, problem = await api.call(
        "POST", "/v1/accounts", raw=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 413
    assert problem["status"] == 413


async def test_nul_characters_are_422_naming_the_field_not_500(api: Api) -> None:
    """PostgreSQL cannot store U+0000: a body string, a body key or a query value holding it is
    a 422 naming where it is; a path id holding it is a 404. Nothing reaches the database."""
    tenant = await make_tenant(api)
    status, problem = await api.call(
        "POST",
        "/v1/templates",
        {
            "enterprise_id": "\x00\u00b2",
            "channel": "whatsapp",
            "name": "welcome",
            "text": "hello",
        },
    )
    assert status == 422, problem
    assert problem["errors"][0]["loc"] == ["enterprise_id"]
    assert "U+0000" in problem["errors"][0]["msg"]

    status, before = await api.call("GET", "/v1/accounts")
    assert status == 200, before
    body = seed_for(tenant)
    body["label"] = "a\x00b"
    status, problem = await api.call("POST", "/v1/accounts", body)
    assert status == 422, problem
    assert problem["errors"][0]["loc"] == ["label"]

    body = seed_for(tenant)
    body["channels"] = ["sms", "r\x00cs"]
    status, problem = await api.call("POST", "/v1/accounts", body)
    assert status == 422, problem
    assert problem["errors"][0]["loc"] == ["channels", 1]

    status, problem = await api.call("GET", "/v1/templates?enterprise_id=%00x")
    assert status == 422, problem
    assert problem["errors"][0]["loc"] == ["enterprise_id"]

    status, problem = await api.call("GET", "/v1/accounts/acc_%00")
    assert status == 404, problem
    assert problem["status"] == 404

    status, after = await api.call("GET", "/v1/accounts")
    assert status == 200, after
    assert after["items"] == before["items"]  # nothing half-created


async def test_patch_to_a_format_without_inbound_shape_is_422_and_changes_nothing(
    api: Api,
) -> None:
    """PATCHing user_initiated to WebEngage answers 422 naming the field; the account keeps
    its version and format (no half-applied change)."""
    tenant = await make_tenant(api)
    body = seed_for(tenant)
    _inbound_in("clevertap")(body)
    status, created = await api.call("POST", "/v1/accounts", body)
    assert status == 201, created
    account = created["account"]
    patch = {"webhooks": {"user_initiated": {"payload_format": "webengage"}}}
    status, problem = await api.call("PATCH", f"/v1/accounts/{account['id']}", patch)
    assert status == 422, problem
    assert problem["type"] == "validation_error"
    assert [e["loc"] for e in problem["errors"]] == [
        ["webhooks", "user_initiated", "payload_format"]
    ]
    status, after = await api.call("GET", f"/v1/accounts/{account['id']}")
    assert status == 200, after
    assert after["version"] == account["version"]
    assert after["webhooks"]["user_initiated"]["payload_format"] == "clevertap"
