"""The console's cookie session: which token a request carries, and the CSRF check.

The browser never sees a bearer token: `POST /console/session` puts it in the HttpOnly cookie
`parley_session`. Cookies ride along with every request to the host, so a request that may
change something must also prove it was made by the console's own script: its `X-CSRF-Token`
header must equal HMAC-SHA256(session token, a fixed label), which the server hands out in the
readable cookie `parley_csrf` (a signed double submit). Another site can neither read that
cookie nor compute the value, and SameSite=Strict keeps both cookies off cross-site requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiohttp import web

from account_svc.errors import Forbidden

SESSION_COOKIE = "parley_session"
CSRF_COOKIE = "parley_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
_CSRF_LABEL = b"parley-console-csrf-v1"


def csrf_token(session_token: str) -> str:
    """The CSRF value that goes with a session token (URL-safe, no padding)."""
    digest = hmac.new(session_token.encode(), _CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def session_token(request: web.Request) -> str | None:
    """The token of the console session cookie, or None when there is none.

    A method other than GET/HEAD needs the matching `X-CSRF-Token` header, else 403 `forbidden`.
    """
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "").encode()
        if not hmac.compare_digest(sent, csrf_token(token).encode()):
            raise Forbidden("a console session request must carry a matching X-CSRF-Token header")
    return token


def came_over_https(request: web.Request) -> bool:
    """Whether the browser talked HTTPS (directly, or to a proxy that says so)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"
