"""Login, tokens, logout and lockout of the management API."""

from __future__ import annotations

import asyncio

import pytest
from account_testkit import ADMIN_PASSWORD, ADMIN_USER, Api


async def test_login_answers_token_expiry_and_user(api: Api) -> None:
    """A good login answers a token, an RFC 3339 expiry ending in Z and the user."""
    status, data = await api.call(
        "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD}, token=""
    )
    assert status == 200
    assert data["token"]
    assert data["expires_at"].endswith("Z")
    assert data["user"]["username"] == ADMIN_USER
    assert data["user"]["role"] == "super_admin"
    assert data["user"]["organization_id"] is None
    assert "password" not in str(data["user"])


async def test_bad_password_is_401_problem(api: Api) -> None:
    """A wrong password answers 401 with an `unauthorized` problem."""
    status, data = await api.call(
        "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": "nope-nope"}, token=""
    )
    assert status == 401
    assert data["type"] == "unauthorized"


async def test_five_failures_lock_even_the_right_password(api: Api) -> None:
    """After five failures in a row every attempt answers 429, the right password too."""
    for _ in range(5):
        status, _ = await api.call(
            "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": "wrong-pass"}, token=""
        )
        assert status == 401
    status, data = await api.call(
        "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD}, token=""
    )
    assert status == 429
    assert data["type"] == "too_many_attempts"


async def test_success_resets_the_failure_count(api: Api) -> None:
    """Four failures, a success, then four more failures do not lock the username."""
    for _ in range(4):
        await api.call(
            "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": "wrong-pass"}, token=""
        )
    await api.login(ADMIN_USER, ADMIN_PASSWORD)
    for _ in range(4):
        status, _ = await api.call(
            "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": "wrong-pass"}, token=""
        )
        assert status == 401
    assert await api.login(ADMIN_USER, ADMIN_PASSWORD)


async def test_requests_without_or_with_bad_token_are_401(api: Api) -> None:
    """A missing or unknown bearer token answers 401."""
    status, data = await api.call("GET", "/v1/organizations", token="")
    assert status == 401
    assert data["type"] == "unauthorized"
    status, _ = await api.call("GET", "/v1/organizations", token="pat_not-a-real-token")
    assert status == 401


async def test_logout_revokes_the_token(api: Api) -> None:
    """After logout the same token answers 401."""
    token = await api.login(ADMIN_USER, ADMIN_PASSWORD)
    status, _ = await api.call("POST", "/v1/auth/logout", token=token)
    assert status == 204
    status, _ = await api.call("GET", "/v1/organizations", token=token)
    assert status == 401


async def test_login_body_errors_name_the_field(api: Api) -> None:
    """A login without password is a 422 naming `password`; non-JSON is 400."""
    status, data = await api.call("POST", "/v1/auth/login", {"username": "x"}, token="")
    assert status == 422
    assert data["errors"][0]["loc"] == ["password"]
    status, data = await api.call(
        "POST",
        "/v1/auth/login",
        raw=b"{nope",
        token="",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert data["type"] == "malformed_request"


async def test_lock_set_while_the_right_password_is_checked_holds(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A right password whose check overlaps the five failures that lock the username answers
    429 and does not clear the lock (parallel guesses cannot slip past it)."""
    from account_svc import auth

    check = auth.verify_password
    gate = asyncio.Event()
    checking = asyncio.Event()

    async def slow_for_the_right_password(hashed: str | None, password: str) -> bool:
        if password == ADMIN_PASSWORD:
            checking.set()
            await gate.wait()
        return await check(hashed, password)

    monkeypatch.setattr(auth, "verify_password", slow_for_the_right_password)
    right = asyncio.create_task(
        api.call(
            "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD}, token=""
        )
    )
    async with asyncio.timeout(10):
        await checking.wait()
    for _ in range(5):
        status, _ = await api.call(
            "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": "wrong-pass"}, token=""
        )
        assert status == 401
    gate.set()
    status, data = await right
    assert status == 429, data
    monkeypatch.setattr(auth, "verify_password", check)
    status, _ = await api.call(
        "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD}, token=""
    )
    assert status == 429  # still locked
