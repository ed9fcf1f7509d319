"""OAuth 2 access tokens for the RBM API from a Google service account key (CONTRACT section 9).

The key file's `private_key` signs a JWT-bearer grant (RFC 7523: `iss` = `client_email`,
`scope`, `aud` = `token_uri`, `iat`, `exp` one hour on, RS256, `kid` = `private_key_id`) that
is posted to the key file's `token_uri`; the answer's `access_token` is reused until
`REFRESH_MARGIN` of its life is left. The signing is PyJWT over `cryptography` (both
well kept; no RSA of our own); google-auth was not used because its refresh is synchronous
(blocking the event loop) and it would bring `requests` or an experimental aiohttp transport.

Every concurrent send asks `token()`; only one of them fetches a new token while the others
wait for it (an `asyncio.Lock`, the cached token read again under it). After the RBM API
answers 401, `refresh(stale)` fetches once for everyone who saw that same stale token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import jwt
import orjson
import structlog

log = structlog.get_logger("routing_svc.providers.rbm_token")

SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600
REFRESH_MARGIN = 0.1  # renew once 90% of a token's life has passed (at most 5 minutes early)
MAX_MARGIN_S = 300.0


class TokenUnavailable(Exception):
    """No access token could be had now (the token endpoint is unreachable, throttled or
    refuses the key): the send is put off, not failed."""

    def __init__(self, detail: str, *, refused: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.refused = refused  # the endpoint refused the grant (a bad key), not a network fault


class ServiceAccountTokens:
    """Access tokens of one service account, shared by every send of its routes."""

    def __init__(
        self,
        service_account: dict[str, Any],
        session: Callable[[], aiohttp.ClientSession | None],
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._email = str(service_account["client_email"])
        self._key = str(service_account["private_key"])
        self._key_id = service_account.get("private_key_id")
        self._token_uri = str(service_account["token_uri"])
        self._session = session
        self._clock, self._monotonic = clock, monotonic
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.fetches = 0  # tokens fetched since start (tests, logs)

    def _fresh(self) -> str | None:
        if self._token is not None and self._monotonic() < self._renew_at:
            return self._token
        return None

    async def token(self) -> str:
        """A valid access token (fetched once for every caller waiting when it was needed)."""
        held = self._fresh()
        if held is not None:
            return held
        async with self._lock:
            held = self._fresh()
            if held is not None:
                return held
            return await self._fetch()

    async def refresh(self, stale: str) -> str:
        """A new token after the API refused `stale` (fetched once however many saw it)."""
        async with self._lock:
            if self._token is not None and self._token != stale and self._fresh() is not None:
                return self._token
            return await self._fetch()

    def assertion(self) -> str:
        """The signed JWT-bearer grant."""
        now = int(self._clock())
        claims = {
            "iss": self._email,
            "scope": SCOPE,
            "aud": self._token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
        }
        headers = {"kid": str(self._key_id)} if self._key_id else None
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    async def _fetch(self) -> str:
        session = self._session()
        if session is None:
            raise TokenUnavailable("provider_not_started")
        form = {"grant_type": GRANT_TYPE, "assertion": self.assertion()}
        started = self._monotonic()
        try:
            async with session.post(self._token_uri, data=form) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TokenUnavailable(f"token_endpoint_{type(exc).__name__}") from None
        if status != 200:
            refused = 400 <= status < 500 and status != 429
            log.error("rbm_token_refused", status=status, refused=refused)
            raise TokenUnavailable(f"token_endpoint_http_{status}", refused=refused)
        try:
            answer = orjson.loads(raw)
            token, lifetime = str(answer["access_token"]), float(answer.get("expires_in", 3600))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise TokenUnavailable("token_endpoint_unreadable") from None
        margin = min(lifetime * REFRESH_MARGIN, MAX_MARGIN_S)
        self._token, self._renew_at = token, started + lifetime - margin
        self.fetches += 1
        log.info("rbm_token_fetched", lifetime_s=lifetime)
        return token
