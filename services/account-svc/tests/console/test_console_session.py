"""The console's cookie session over HTTP: the cookies' flags, the CSRF header required with
the cookie for anything but GET/HEAD, logout, login errors, the static files, and bearer auth
unchanged."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookies import Morsel, SimpleCookie
from importlib import resources
from typing import Any

import aiohttp
import pytest
from account_testkit import ADMIN_PASSWORD, ADMIN_USER, Api

LOGIN = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
ORG = {"name": "Cookie Co", "kind": "enterprise"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps no cookies of its own: each test sends exactly the ones it means."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def _open_session(
    http: aiohttp.ClientSession, api: Api, headers: dict[str, str] | None = None
) -> tuple[SimpleCookie, dict[str, Any]]:
    async with http.post(api.base + "/console/session", json=LOGIN, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Cache-Control"] == "no-store"
        return resp.cookies, await resp.json()


def _cookie_header(cookies: SimpleCookie) -> str:
    return "; ".join(f"{name}={cookies[name].value}" for name in ("parley_session", "parley_csrf"))


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any, str]:
    async with http.request(method, url, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None) if await resp.read() else None
        return resp.status, data, resp.content_type


async def test_login_sets_httponly_strict_cookies_and_never_answers_the_token(
    api: Api, http: aiohttp.ClientSession
) -> None:
    """The session cookie is HttpOnly, SameSite=Strict, Path=/ and not Secure over plain HTTP;
    the CSRF cookie is readable by script; the body carries the user but no token."""
    cookies, body = await _open_session(http, api)
    session: Morsel[str] = cookies["parley_session"]
    csrf: Morsel[str] = cookies["parley_csrf"]
    assert session.value.startswith("pat_")
    assert session["httponly"] is True
    assert session["samesite"] == "Strict"
    assert session["path"] == "/"
    assert not session["secure"]
    assert session["max-age"] == "43200"
    assert not csrf["httponly"]
    assert csrf["samesite"] == "Strict"
    assert csrf.value != session.value
    assert set(body) == {"user", "expires_at"}
    assert body["user"]["username"] == ADMIN_USER
    assert session.value not in str(body)


async def test_cookies_are_secure_when_the_request_came_over_https(
    api: Api, http: aiohttp.ClientSession
) -> None:
    """Behind a proxy that says the browser used HTTPS, both cookies are Secure."""
    cookies, _ = await _open_session(http, api, {"X-Forwarded-Proto": "https"})
    assert cookies["parley_session"]["secure"] is True
    assert cookies["parley_csrf"]["secure"] is True


async def test_the_cookie_needs_the_csrf_header_for_anything_but_get(
    api: Api, http: aiohttp.ClientSession
) -> None:
    """With the session cookie GET works alone; POST answers 403 `forbidden` without the
    X-CSRF-Token header or with another session's value, and 201 with the right one."""
    cookies, _ = await _open_session(http, api)
    other, _ = await _open_session(http, api)
    jar = {"Cookie": _cookie_header(cookies)}
    url = api.base + "/v1/organizations"
    status, _, _ = await _call(http, "GET", url, jar)
    assert status == 200
    status, problem, content_type = await _call(http, "POST", url, jar, ORG)
    assert (status, problem["type"], content_type) == (403, "forbidden", "application/problem+json")
    wrong = {**jar, "X-CSRF-Token": other["parley_csrf"].value}
    status, problem, _ = await _call(http, "POST", url, wrong, ORG)
    assert (status, problem["type"]) == (403, "forbidden")
    right = {**jar, "X-CSRF-Token": cookies["parley_csrf"].value}
    status, org, _ = await _call(http, "POST", url, right, ORG)
    assert status == 201, org
    status, _, _ = await _call(http, "DELETE", api.base + "/console/session", jar)
    assert status == 403


async def test_bearer_auth_is_unchanged(api: Api, http: aiohttp.ClientSession) -> None:
    """A bearer token needs no CSRF header, a bearer header wins over a cookie, and no
    credentials at all is still 401 `unauthorized`."""
    url = api.base + "/v1/organizations"
    status, _, _ = await _call(http, "POST", url, {"Authorization": f"Bearer {api.token}"}, ORG)
    assert status == 201
    cookies, _ = await _open_session(http, api)
    mixed = {"Authorization": "Bearer pat_not-a-token", "Cookie": _cookie_header(cookies)}
    status, problem, _ = await _call(http, "GET", url, mixed)
    assert (status, problem["type"]) == (401, "unauthorized")
    status, problem, _ = await _call(http, "GET", url, {})
    assert (status, problem["type"]) == (401, "unauthorized")


async def test_logout_revokes_the_token_and_clears_the_cookies(
    api: Api, http: aiohttp.ClientSession
) -> None:
    """DELETE /console/session with the CSRF header answers 204, expires both cookies and
    revokes the token (the cookie and the token as a bearer are then 401)."""
    cookies, _ = await _open_session(http, api)
    jar = {"Cookie": _cookie_header(cookies)}
    status, who, _ = await _call(http, "GET", api.base + "/console/session", jar)
    assert (status, who["user"]["username"]) == (200, ADMIN_USER)
    headers = {**jar, "X-CSRF-Token": cookies["parley_csrf"].value}
    async with http.delete(api.base + "/console/session", headers=headers) as resp:
        assert resp.status == 204
        cleared = resp.cookies
    for name in ("parley_session", "parley_csrf"):
        assert cleared[name]["max-age"] == "0"
        assert cleared[name].value == ""
    status, _, _ = await _call(http, "GET", api.base + "/console/session", jar)
    assert status == 401
    token = cookies["parley_session"].value
    status, _, _ = await _call(
        http, "GET", api.base + "/v1/organizations", {"Authorization": f"Bearer {token}"}
    )
    assert status == 401


async def test_login_errors_lockout_and_cross_site_logins(
    api: Api, http: aiohttp.ClientSession
) -> None:
    """Bad credentials are 401 without cookies, the fifth failure locks (429), a body that is
    not application/json is 415 and a login from another origin is 403."""
    url = api.base + "/console/session"
    bad = {"username": "ghost", "password": "nope"}
    for _ in range(5):
        async with http.post(url, json=bad) as resp:
            assert resp.status == 401
            assert "parley_session" not in resp.cookies
    async with http.post(url, json=bad) as resp:
        assert resp.status == 429
        assert (await resp.json())["type"] == "too_many_attempts"
    async with http.post(
        url, data=b'{"username":"admin"}', headers={"Content-Type": "text/plain"}
    ) as resp:
        assert resp.status == 415
    async with http.post(url, json=LOGIN, headers={"Origin": "https://evil.example"}) as resp:
        assert resp.status == 403
        assert "parley_session" not in resp.cookies


async def test_the_console_is_served_with_no_outside_resources(
    api: Api, http: aiohttp.ClientSession
) -> None:
    """/console and every static file are served from account-svc with a CSP that allows only
    this origin; no file loads anything from elsewhere; unknown files are 404."""
    async with http.get(api.base + "/console") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        csp = resp.headers["Content-Security-Policy"]
        page = await resp.text()
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    names = [
        item.name for item in (resources.files("account_svc.adapters.console") / "static").iterdir()
    ]
    assert "app.js" in names
    assert "console.css" in names
    outside = re.compile(
        r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|from\s+["'](https?:)?//|@import"""
    )
    for name in names:
        async with http.get(f"{api.base}/console/static/{name}") as resp:
            assert resp.status == 200, name
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            text = await resp.text()
        assert outside.search(text) is None, name
        if name.endswith(".js"):
            assert resp.content_type == "text/javascript"
            for imported in re.findall(r"from '\./([a-z_]+\.js)'", text):
                assert imported in names, (name, imported)
    assert "/console/static/app.js" in page
    for path in ("/console/static/nope.js", "/console/static/..%2Fsession.py"):
        async with http.get(api.base + path) as resp:
            assert resp.status == 404, path
