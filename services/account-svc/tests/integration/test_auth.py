"""Login, tokens, logout and lockout of the management API."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from account_svc.bootstrap import HOLDER
from account_testkit import ADMIN_PASSWORD, ADMIN_USER, Api
from parley_devtools.waiting import eventually


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


class HeldHasher:
    """An argon2 hasher whose verification of one password waits for a gate (in its thread)."""

    def __init__(self, inner: Any, password: str) -> None:
        self.inner = inner
        self.password = password
        self.checking = threading.Event()
        self.gate = threading.Event()

    def verify(self, hashed: str, password: str) -> bool:
        if password == self.password:
            self.checking.set()
            assert self.gate.wait(30), "the gate was never opened"
        return bool(self.inner.verify(hashed, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_right_password_being_checked_holds_one_of_the_five_attempts(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the right password is being checked it counts as one of the five: only four wrong
    guesses are checked beside it (401), the next answers 429 unchecked, and the right one then
    logs in (a success before five failures resets the count, CONTRACT 8)."""
    passwords = api.app[HOLDER]["passwords"]  # type: ignore[attr-defined]
    held = HeldHasher(passwords.hasher, ADMIN_PASSWORD)
    monkeypatch.setattr(passwords, "hasher", held)
    right = asyncio.create_task(
        api.call(
            "POST", "/v1/auth/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD}, token=""
        )
    )
    await eventually(held.checking.is_set)
    wrong = {"username": ADMIN_USER, "password": "wrong-pass"}
    for _ in range(4):
        status, _ = await api.call("POST", "/v1/auth/login", wrong, token="")
        assert status == 401
    status, data = await api.call("POST", "/v1/auth/login", wrong, token="")
    assert status == 429, data
    assert data["type"] == "too_many_attempts"
    held.gate.set()
    status, data = await right
    assert status == 200, data
    for _ in range(4):  # the count started over
        status, _ = await api.call("POST", "/v1/auth/login", wrong, token="")
        assert status == 401
