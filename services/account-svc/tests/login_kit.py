"""Helpers of the login-limit tests: account-svc in-process with chosen settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from account_svc.adapters.passwords import Passwords
from account_svc.bootstrap import HOLDER, create_app
from account_testkit import Api, make_settings
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from prometheus_client import REGISTRY

LOGIN = "/v1/auth/login"


@contextlib.asynccontextmanager
async def serving(database_url: str, nats_url: str, **overrides: Any) -> AsyncIterator[Api]:
    """account-svc on loopback with `overrides` on the test settings; an anonymous client whose
    `passwords` attribute is the service's own."""
    server = TestServer(
        create_app(make_settings(database_url, nats_url, **overrides)), host="127.0.0.1"
    )
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            client = Api(session, str(server.make_url("")).rstrip("/"))
            client.passwords = server.app[HOLDER]["passwords"]  # type: ignore[attr-defined]
            yield client
    finally:
        await server.close()


def passwords_of(api: Api) -> Passwords:
    """The service's password hasher (and its memory budget)."""
    found: Passwords = api.passwords  # type: ignore[attr-defined]
    return found


def verifications() -> float:
    """argon2 verifications this process has run so far (all services in it)."""
    sample = REGISTRY.get_sample_value("parley_account_password_hashes_total", {"kind": "verify"})
    return sample or 0.0


async def attempt(
    api: Api, username: str, password: str, forwarded_for: list[str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """One login: status, body and headers."""
    headers = CIMultiDict(("X-Forwarded-For", line) for line in forwarded_for or [])
    body = {"username": username, "password": password}
    async with api.session.post(api.base + LOGIN, json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)
