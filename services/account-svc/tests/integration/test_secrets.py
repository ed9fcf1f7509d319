"""Secrets never appear in an answer after creation, nor in any log line."""

from __future__ import annotations

import io
import logging

from account_testkit import ADMIN_PASSWORD, Api, make_tenant, seed_for

PASSPHRASE = "correct horse battery staple"
URL_PASSWORD = "nats-pass-9d8f7"
USER_PASSWORD = "user-password-77"


async def test_no_secret_in_answers_or_logs(api: Api, log_stream: io.StringIO) -> None:
    """Passwords, tokens, API keys, signing secrets, passphrases and URL passwords stay out."""
    logging.getLogger("account_svc.test").warning("stdlib logging goes through the same sink")
    tenant = await make_tenant(api)
    body = seed_for(tenant)
    body["webhooks"]["status"]["url"] = f"nats://hooks:{URL_PASSWORD}@127.0.0.1:4333/parley.hooks"
    body["webhooks"]["status"]["encryption"] = {
        "enabled": True,
        "algorithm": "aes-128",
        "passphrase": "webhook passphrase 42",
        "version_code": "w1",
    }
    status, created = await api.call("POST", "/v1/accounts", body)
    assert status == 201, created
    account_id = created["account"]["id"]
    secrets = [
        ADMIN_PASSWORD,
        USER_PASSWORD,
        PASSPHRASE,
        "webhook passphrase 42",
        URL_PASSWORD,
        created["api_key"],
        created["webhook_signing_secret"],
        api.token or "",
    ]
    status, _ = await api.call(
        "POST",
        "/v1/users",
        {
            "username": "someone",
            "password": USER_PASSWORD,
            "role": "admin",
            "organization_id": None,
        },
    )
    assert status == 201
    other = await api.as_user("someone", USER_PASSWORD)
    secrets.append(other.token or "")
    _, key = await api.call("POST", f"/v1/accounts/{account_id}/api-keys")
    _, secret = await api.call("POST", f"/v1/accounts/{account_id}/webhook-signing-secret")
    secrets += [key["api_key"], secret["webhook_signing_secret"]]
    await api.call(
        "PATCH",
        f"/v1/accounts/{account_id}",
        {"security": {"payload_encryption": {"passphrase": "another passphrase 1"}}},
    )
    secrets.append("another passphrase 1")
    await api.call(
        "POST", "/v1/auth/login", {"username": "admin", "password": "wrong-guess-1"}, token=""
    )
    secrets.append("wrong-guess-1")

    answers = []
    for path in (f"/v1/accounts/{account_id}", "/v1/accounts", "/v1/users", "/v1/organizations"):
        status, data = await api.call("GET", path)
        assert status == 200
        answers.append(str(data))
    logs = log_stream.getvalue()
    assert "account_created" in logs, "the log capture must see the service's events"
    for value in secrets:
        assert value, "every secret must be known to the test"
        for text in answers:
            assert value not in text
        assert value not in logs
