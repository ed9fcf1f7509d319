"""Access accounts over HTTP: create, read, list, merge-patch, delete, rotate."""

from __future__ import annotations

from typing import Any

import pytest
from account_testkit import Api, make_tenant, seed_for


async def _create(api: Api, body: dict[str, Any] | None = None) -> dict[str, Any]:
    tenant = await make_tenant(api)
    status, data = await api.call("POST", "/v1/accounts", body or seed_for(tenant))
    assert status == 201, data
    return data  # type: ignore[no-any-return]


async def test_create_answers_account_and_both_secrets_once(api: Api) -> None:
    """POST answers the account with meta fields plus an API key and a signing secret."""
    data = await _create(api)
    account = data["account"]
    assert data["api_key"].startswith("pk_")
    assert data["webhook_signing_secret"].startswith("whsec_")
    assert account["id"].startswith("acc_")
    assert account["version"] == 1
    assert account["status"] == "active"
    assert account["created_at"].endswith("Z")
    assert account["updated_at"].endswith("Z")
    status, again = await api.call("GET", f"/v1/accounts/{account['id']}")
    assert status == 200
    assert "api_key" not in str(again)
    assert "whsec_" not in str(again)


async def test_passphrase_is_never_returned_but_salt_is(api: Api) -> None:
    """GET shows `passphrase_set: true` and a base64 salt in place of the passphrase."""
    data = await _create(api)
    _, account = await api.call("GET", f"/v1/accounts/{data['account']['id']}")
    block = account["security"]["payload_encryption"]
    assert "passphrase" not in block
    assert block["passphrase_set"] is True
    assert len(block["salt"]) == 24  # 16 bytes, standard base64 with padding
    assert "correct horse" not in str(account)


async def test_defaults_fill_a_minimal_account(api: Api) -> None:
    """A minimal SMS account is answered with every default filled."""
    tenant = await make_tenant(api)
    refs = {k: tenant[k] for k in ("enterprise_id", "business_group_id")}
    body = {
        **refs,
        "label": "Min",
        "communication_type": "outgoing",
        "traffic_type": "otp",
        "channels": ["sms"],
    }
    status, data = await api.call("POST", "/v1/accounts", body)
    assert status == 201, data
    account = data["account"]
    assert account["security"]["data_protection"] == "store"
    assert account["channel_settings"]["sms"]["sender_ids"] == {"mode": "all"}
    assert account["channel_settings"]["sms"]["fallback"]["enabled"] is False
    assert account["webhooks"] == {"status": None, "user_initiated": None}
    assert account["apps"]["url_shortener"] is False


async def test_invalid_config_is_422_naming_the_field_and_nothing_is_stored(api: Api) -> None:
    """A broken rule answers 422 with the field's loc, and no account is created."""
    tenant = await make_tenant(api)
    body = seed_for(tenant)
    body["webhooks"]["status"]["retries"] = 7
    status, data = await api.call("POST", "/v1/accounts", body)
    assert status == 422
    assert data["type"] == "validation_error"
    assert ["webhooks", "status", "retries"] in [e["loc"] for e in data["errors"]]
    _, listed = await api.call("GET", f"/v1/accounts?enterprise_id={tenant['enterprise_id']}")
    assert listed["items"] == []


async def test_patch_merges_bumps_version_and_keeps_passphrase(api: Api) -> None:
    """A merge patch changes only what it names, bumps `version`, keeps the passphrase and salt."""
    data = await _create(api)
    account_id = data["account"]["id"]
    salt = data["account"]["security"]["payload_encryption"]["salt"]
    status, patched = await api.call(
        "PATCH",
        f"/v1/accounts/{account_id}",
        {"label": "Renamed", "webhooks": {"status": {"retries": 1}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert status == 200, patched
    assert patched["label"] == "Renamed"
    assert patched["version"] == 2
    assert patched["webhooks"]["status"]["retries"] == 1
    assert patched["webhooks"]["status"]["events"] == ["delivery_status", "sent", "read"]
    assert patched["security"]["payload_encryption"]["salt"] == salt
    assert patched["security"]["payload_encryption"]["passphrase_set"] is True


async def test_patch_new_version_code_makes_a_new_salt(api: Api) -> None:
    """Changing the version code (passphrase omitted) makes a new salt."""
    data = await _create(api)
    account_id = data["account"]["id"]
    old = data["account"]["security"]["payload_encryption"]["salt"]
    status, patched = await api.call(
        "PATCH",
        f"/v1/accounts/{account_id}",
        {"security": {"payload_encryption": {"version_code": "v2"}}},
    )
    assert status == 200, patched
    assert patched["security"]["payload_encryption"]["salt"] != old
    assert patched["security"]["payload_encryption"]["version_code"] == "v2"


async def test_patch_removing_a_channel_needs_its_settings_nulled(api: Api) -> None:
    """Dropping rcs without `channel_settings.rcs: null` is 422; with it, it works."""
    data = await _create(api)
    account_id = data["account"]["id"]
    status, problem = await api.call("PATCH", f"/v1/accounts/{account_id}", {"channels": ["sms"]})
    assert status == 422
    assert ["channel_settings", "rcs"] in [e["loc"] for e in problem["errors"]]
    status, patched = await api.call(
        "PATCH",
        f"/v1/accounts/{account_id}",
        {"channels": ["sms"], "channel_settings": {"rcs": None}},
    )
    assert status == 200, patched
    assert "rcs" not in patched["channel_settings"]
    _, unchanged = await api.call("GET", f"/v1/accounts/{account_id}")
    assert unchanged["version"] == 2


async def test_failed_patch_changes_nothing(api: Api) -> None:
    """A 422 patch leaves the account exactly as it was."""
    data = await _create(api)
    account_id = data["account"]["id"]
    _, before = await api.call("GET", f"/v1/accounts/{account_id}")
    status, _ = await api.call(
        "PATCH", f"/v1/accounts/{account_id}", {"label": "ok", "traffic_type": "bulk"}
    )
    assert status == 422
    _, after = await api.call("GET", f"/v1/accounts/{account_id}")
    assert after == before


async def test_patch_rejects_non_json_media_types(api: Api) -> None:
    """PATCH with a form content type, or a body that is not JSON, is 400 malformed_request
    (CONTRACT 8's problem types have no media-type one)."""
    data = await _create(api)
    path = f"/v1/accounts/{data['account']['id']}"
    status, problem = await api.call(
        "PATCH", path, raw=b"label=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 400
    assert problem["type"] == "malformed_request"
    status, problem = await api.call(
        "PATCH", path, raw=b"{", headers={"Content-Type": "application/json"}
    )
    assert status == 400
    assert problem["type"] == "malformed_request"


async def test_delete_then_get_is_404_and_list_leaves_it_out(api: Api) -> None:
    """A deleted account answers 404 and is left out of the list."""
    data = await _create(api)
    account_id = data["account"]["id"]
    status, _ = await api.call("DELETE", f"/v1/accounts/{account_id}")
    assert status == 204
    status, problem = await api.call("GET", f"/v1/accounts/{account_id}")
    assert status == 404
    assert problem["type"] == "not_found"
    _, listed = await api.call("GET", "/v1/accounts")
    assert account_id not in [a["id"] for a in listed["items"]]


async def test_list_paginates_with_a_cursor(api: Api) -> None:
    """Pages of `limit` follow `next_cursor`, which is null on the last page."""
    tenant = await make_tenant(api)
    made = []
    for i in range(5):
        body = seed_for(tenant)
        body["label"] = f"acc {i}"
        status, data = await api.call("POST", "/v1/accounts", body)
        assert status == 201
        made.append(data["account"]["id"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = f"/v1/accounts?enterprise_id={tenant['enterprise_id']}&limit=2"
        if cursor:
            query += f"&cursor={cursor}"
        status, page = await api.call("GET", query)
        assert status == 200
        assert "next_cursor" in page
        seen += [a["id"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made)
    assert pages == 3
    status, problem = await api.call("GET", "/v1/accounts?limit=0")
    assert status == 422
    assert problem["errors"][0]["loc"] == ["limit"]
    status, problem = await api.call("GET", "/v1/accounts?cursor=garbage!")
    assert status == 422


async def test_rotations_answer_new_secrets(api: Api) -> None:
    """Key and signing-secret rotation answer 201 with new values and bump the version."""
    data = await _create(api)
    account_id = data["account"]["id"]
    status, key = await api.call("POST", f"/v1/accounts/{account_id}/api-keys")
    assert status == 201
    assert key["api_key"].startswith("pk_")
    assert key["api_key"] != data["api_key"]
    status, secret = await api.call("POST", f"/v1/accounts/{account_id}/webhook-signing-secret")
    assert status == 201
    assert secret["webhook_signing_secret"].startswith("whsec_")
    assert secret["webhook_signing_secret"] != data["webhook_signing_secret"]
    _, account = await api.call("GET", f"/v1/accounts/{account_id}")
    assert account["version"] == 3


async def test_nats_url_credentials_are_masked(api: Api) -> None:
    """A NATS webhook URL's password is answered as `***`."""
    tenant = await make_tenant(api)
    body = seed_for(tenant)
    body["webhooks"]["status"]["url"] = "nats://bob:s3cret-pass@127.0.0.1:4333/hooks.parley"
    status, data = await api.call("POST", "/v1/accounts", body)
    assert status == 201, data
    assert (
        data["account"]["webhooks"]["status"]["url"] == "nats://bob:***@127.0.0.1:4333/hooks.parley"
    )
    assert "s3cret-pass" not in str(data)
    # Round-tripping the masked URL in a patch keeps the real credentials.
    account_id = data["account"]["id"]
    status, patched = await api.call(
        "PATCH",
        f"/v1/accounts/{account_id}",
        {"webhooks": {"status": data["account"]["webhooks"]["status"]}},
    )
    assert status == 200, patched
    assert patched["webhooks"]["status"]["url"].endswith("@127.0.0.1:4333/hooks.parley")


async def test_openapi_documents_every_route(api: Api) -> None:
    """/openapi.json lists each management route with its request schema."""
    status, doc = await api.call("GET", "/openapi.json", token="")
    assert status == 200
    paths = doc["paths"]
    for path in (
        "/v1/auth/login",
        "/v1/organizations",
        "/v1/users",
        "/v1/business-groups",
        "/v1/accounts",
        "/v1/accounts/{id}",
        "/v1/accounts/{id}/api-keys",
        "/v1/accounts/{id}/webhook-signing-secret",
    ):
        assert path in paths, path
    create = paths["/v1/accounts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = create["$ref"].rsplit("/", 1)[-1]
    assert "channels" in doc["components"]["schemas"][name]["properties"]


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    """Unknown paths answer 404 problem JSON and wrong methods 405."""
    status, data = await api.call("GET", "/v1/nothing-here")
    assert status == 404
    assert data["type"] == "not_found"
    status, data = await api.call("PUT", "/v1/accounts")
    assert status == 405


async def test_health_ready_and_metrics(api: Api) -> None:
    """/healthz and /readyz answer 200 once connected; /metrics is Prometheus text."""
    status, _ = await api.call("GET", "/healthz", token="")
    assert status == 200
    status, ready = await api.call("GET", "/readyz", token="")
    assert status == 200, ready
    assert ready["database"]
    assert ready["nats"]
    assert ready["streams"]
    status, text = await api.call("GET", "/metrics", token="")
    assert status == 200
    assert "parley_account_http_requests_total" in text


async def test_masked_password_on_a_changed_url_is_422(api: Api) -> None:
    """Sending the mask `***` back with a changed host is refused naming the URL: it would
    otherwise be stored as the password and break delivery silently."""
    tenant = await make_tenant(api)
    body = seed_for(tenant)
    body["webhooks"]["status"]["url"] = "nats://bob:s3cret-pass@127.0.0.1:4333/hooks.parley"
    status, data = await api.call("POST", "/v1/accounts", body)
    assert status == 201, data
    account = data["account"]
    hook = dict(account["webhooks"]["status"])
    hook["url"] = hook["url"].replace("127.0.0.1:4333", "127.0.0.1:4334")
    status, problem = await api.call(
        "PATCH", f"/v1/accounts/{account['id']}", {"webhooks": {"status": hook}}
    )
    assert status == 422, problem
    assert ["webhooks", "status", "url"] in [e["loc"] for e in problem["errors"]]
    status, kept = await api.call("GET", f"/v1/accounts/{account['id']}")
    assert kept["webhooks"]["status"]["url"].endswith("@127.0.0.1:4333/hooks.parley")
    assert kept["version"] == account["version"]


async def test_config_too_large_to_publish_is_422_and_not_stored(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config whose event could not fit a NATS message is refused before anything is
    written, so it can never hold up the outbox."""
    from account_svc import accounts

    tenant = await make_tenant(api)
    status, before = await api.call("GET", "/v1/accounts")
    assert status == 200
    monkeypatch.setattr(accounts, "MAX_EVENT_BYTES", 512)
    status, problem = await api.call("POST", "/v1/accounts", seed_for(tenant))
    assert status == 422, problem
    assert "too large" in problem["errors"][0]["msg"]
    status, after = await api.call("GET", "/v1/accounts")
    assert after["items"] == before["items"]


async def test_cursor_holding_a_control_character_is_422_naming_it(api: Api) -> None:
    """A cursor that decodes to an id with a NUL names `cursor`, like any foreign cursor."""
    status, problem = await api.call("GET", "/v1/accounts?cursor=YWNjXwA")
    assert status == 422, problem
    assert problem["errors"][0]["loc"] == ["cursor"]
