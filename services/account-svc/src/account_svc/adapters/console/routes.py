"""Serves the console's static files at `/console` (and its views' own paths, such as
`/console/traffic`) and its cookie session endpoints.

`POST /console/session` logs in with the same use case as `POST /v1/auth/login` and keeps the
token in cookies (see `session`); `GET` tells the page who is logged in; `DELETE` logs out.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from importlib import resources
from urllib.parse import urlsplit

from aiohttp import web
from parley_runtime.http import json_response

from account_svc.adapters.console.session import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    came_over_https,
    csrf_token,
    session_token,
)
from account_svc.adapters.http_base import read_model
from account_svc.adapters.http_binding import use_case
from account_svc.domain.requests import LoginIn
from account_svc.domain.scope import Principal
from account_svc.errors import Forbidden, NotFound, UnsupportedMediaType
from account_svc.sessions import Sessions

PrincipalOf = Callable[[web.Request], Awaitable[Principal]]

CONTENT_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",  # the licence of a vendored library, served beside it
}
PAGE_HEADERS = {
    # Everything comes from this origin: no CDN, no font, no inline script or style.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_ASSET_NAME = re.compile(r"[a-z0-9_-]+\.[a-z]+")
VIEWS = ("traffic", "routes", "trace", "dead-letters")


def load_assets() -> dict[str, tuple[bytes, str]]:
    """Every file of the `static` folder by name, with its content type."""
    assets: dict[str, tuple[bytes, str]] = {}
    for item in (resources.files("account_svc.adapters.console") / "static").iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in CONTENT_TYPES and _ASSET_NAME.fullmatch(item.name):
            assets[item.name] = (item.read_bytes(), CONTENT_TYPES[suffix] + "; charset=utf-8")
    return assets


def _asset_response(asset: tuple[bytes, str]) -> web.Response:
    body, content_type = asset
    return web.Response(body=body, headers={"Content-Type": content_type, **PAGE_HEADERS})


def _check_login_request(request: web.Request) -> None:
    """Refuse a login another site could make in the user's browser (login CSRF).

    A cross-site page can send neither `application/json` without a CORS preflight (which is
    never granted) nor an `Origin` of this host.
    """
    if request.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
        raise UnsupportedMediaType("the console logs in with an application/json body")
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise Forbidden("a console session can only be opened from the console itself")


def _user_of(who: Principal) -> dict[str, object]:
    return {
        "id": who.user_id,
        "username": who.username,
        "role": who.role,
        "organization_id": who.org.id if who.org else None,
    }


def add_console_routes(app: web.Application, principal: PrincipalOf) -> None:
    """Register `/console`, its static files and `/console/session` on the app."""
    assets = load_assets()

    async def index(_: web.Request) -> web.Response:
        return _asset_response(assets["index.html"])

    async def static(request: web.Request) -> web.Response:
        asset = assets.get(request.match_info["name"])
        if asset is None:
            raise NotFound("no such console file")
        return _asset_response(asset)

    async def open_session(request: web.Request) -> web.Response:
        _check_login_request(request)
        sessions: Sessions = use_case(request, Sessions)
        body = await read_model(request, LoginIn)
        forwarded = request.headers.getall("X-Forwarded-For", [])
        answer = await sessions.login(body, request.remote, forwarded)
        token = str(answer["token"])
        response = json_response({"user": answer["user"], "expires_at": answer["expires_at"]})
        response.headers["Cache-Control"] = "no-store"
        secure = came_over_https(request)
        max_age = int(sessions.token_ttl.total_seconds())
        for name, value, httponly in (
            (SESSION_COOKIE, token, True),
            (CSRF_COOKIE, csrf_token(token), False),
        ):
            response.set_cookie(
                name,
                value,
                path="/",
                max_age=max_age,
                secure=secure,
                httponly=httponly,
                samesite="Strict",
            )
        return response

    async def current_session(request: web.Request) -> web.Response:
        response = json_response({"user": _user_of(await principal(request))})
        response.headers["Cache-Control"] = "no-store"
        return response

    async def close_session(request: web.Request) -> web.Response:
        token = session_token(request)
        if token is not None:
            await use_case(request, Sessions).logout(token)
        response = web.Response(status=204)
        secure = came_over_https(request)
        for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
            response.del_cookie(name, path="/", secure=secure, httponly=httponly, samesite="Strict")
        return response

    app.router.add_get("/console", index)
    app.router.add_get("/console/", index)
    for view in VIEWS:  # the same page; the path chooses its first screen
        app.router.add_get(f"/console/{view}", index)
    app.router.add_get("/console/static/{name}", static)
    app.router.add_post("/console/session", open_session)
    app.router.add_get("/console/session", current_session)
    app.router.add_delete("/console/session", close_session)
