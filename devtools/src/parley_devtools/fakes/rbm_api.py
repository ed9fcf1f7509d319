"""A local fake of Google's RCS Business Messaging API, its OAuth 2 token endpoint, and the
Pub/Sub pushes RBM makes to an agent's webhook, following Google's documented shapes (nothing
here was tried against Google).

- `POST /token` (the service account file's `token_uri`): form `grant_type` =
  `urn:ietf:params:oauth:grant-type:jwt-bearer` and `assertion`, a JWT whose RS256 signature
  is checked with the service account's public key and whose claims must be `iss` = the
  account's `client_email`, `scope` = the RBM scope, `aud` = the token URI, `exp` in the future
  and at most an hour after `iat`; answers `{"access_token", "expires_in", "token_type":
  "Bearer"}` with a lifetime of `token_lifetime_s` (short lifetimes expire mid-traffic), else
  400 `{"error": "invalid_grant", "error_description"}`. `expire_tokens()` revokes every token.
- `POST /v1/phones/{E.164}/agentMessages?messageId=<uuid>&agentId=`: the bearer token must be
  live (else 401 UNAUTHENTICATED), the agent ours, `messageId` a UUID, the body an AgentMessage
  with `contentMessage.text` or a `richCard.standaloneCard`; answers the AgentMessage (`name`,
  `sendTime`, `contentMessage`), 404 NOT_FOUND for a number not RCS-capable, 409 ALREADY_EXISTS
  for a `messageId` used before (RBM "ignores" such a message: a resend never reaches the user).
- `GET /v1/phones/{E.164}/capabilities?requestId=<uuid>&agentId=`: `{"features": [...]}` or
  404 NOT_FOUND.
- Errors are Google's `{"error": {"code", "message", "status"}}`; `script(status, times)`
  answers the next API calls that way (429 RESOURCE_EXHAUSTED, 500 INTERNAL, ...).
- Pushes: `event(...)` / `user_text(...)` build the event data, `push(url, data)` posts
  `{"message": {"data": <base64 JSON>, "messageId", "publishTime", ...}, "subscription"}`
  with `X-Goog-Signature` = base64(HMAC-SHA512(client token, decoded data)); `setup(url)`
  plays the webhook set-up `{"clientToken", "secret"}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parley_devtools.fakes.server import FakeServer

SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
FEATURES = ["RICHCARD_STANDALONE", "RICHCARD_CAROUSEL", "ACTION_DIAL", "ACTION_OPEN_URL"]


def google_error(status: int, message: str) -> web.Response:
    """Google's JSON error answer."""
    body = {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status)}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class RbmApi(FakeServer):
    """The fake RBM API, token endpoint and webhook caller for one agent."""

    agent_id: str = "parley_agent"
    client_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    token_lifetime_s: int = 3600
    unreachable: set[str] = field(default_factory=set)  # numbers without RCS (404)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # messageId -> request
    token_requests: int = 0
    token_refusals: int = 0
    api_calls: int = 0
    unauthorized: int = 0  # API calls refused 401
    capability_calls: int = 0
    _tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    _scripts: deque[list[int]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        FakeServer.__init__(self)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(20)
        self.client_email = "parley-rbm@fake-project.iam.gserviceaccount.com"

    def app(self) -> web.Application:
        """The token endpoint and the two API methods."""
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/phones/{phone}/agentMessages", self._agent_message)
        app.router.add_get("/v1/phones/{phone}/capabilities", self._capabilities)
        return app

    # ------------------------------------------------------------------ the service account
    @property
    def token_uri(self) -> str:
        """The token endpoint's URL (the key file's `token_uri`)."""
        return f"{self.base_url}/token"

    def service_account(self) -> dict[str, Any]:
        """A service account key file's JSON for this fake (start the fake first)."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
        }

    def write_key_file(self, path: Path) -> Path:
        """Write the key file to `path`."""
        path.write_bytes(orjson.dumps(self.service_account()))
        return path

    def expire_tokens(self) -> None:
        """Revoke every access token issued so far (the API answers 401 to them)."""
        self._tokens.clear()

    def script(self, status: int, times: int) -> None:
        """Answer the next `times` API calls (messages and capabilities) with `status`."""
        self._scripts.append([status, times])

    # ------------------------------------------------------------------ token endpoint
    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        problem = None
        if form.get("grant_type") != GRANT_TYPE:
            problem = "unsupported grant_type"
        else:
            problem = self._bad_assertion(str(form.get("assertion", "")))
        if problem is not None:
            self.token_refusals += 1
            body = {"error": "invalid_grant", "error_description": problem}
            return web.Response(
                status=400, body=orjson.dumps(body), content_type="application/json"
            )
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self._tokens[token] = time.monotonic() + self.token_lifetime_s
        answer = {
            "access_token": token,
            "expires_in": self.token_lifetime_s,
            "token_type": "Bearer",
        }
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    def _bad_assertion(self, assertion: str) -> str | None:
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=self.client_email,
                options={"require": ["iss", "aud", "exp", "iat", "scope"]},
            )
        except jwt.PyJWTError as exc:
            return f"Invalid JWT: {type(exc).__name__}"
        if header.get("kid") not in (None, self.key_id):
            return "Invalid JWT Signature (unknown key id)"
        if claims.get("scope") != SCOPE:
            return "Invalid scope"
        if int(claims["exp"]) - int(claims["iat"]) > 3600:
            return "Invalid JWT: the lifetime exceeds one hour"
        return None

    # ------------------------------------------------------------------ the API
    def _checked(self, request: web.Request, id_param: str) -> web.Response | None:
        self.api_calls += 1
        auth = request.headers.get("Authorization", "")
        expiry = self._tokens.get(auth.removeprefix("Bearer "))
        if not auth.startswith("Bearer ") or expiry is None or expiry < time.monotonic():
            self.unauthorized += 1
            return google_error(401, "Request had invalid authentication credentials.")
        if self._scripts:
            script = self._scripts[0]
            script[1] -= 1
            if script[1] <= 0:
                self._scripts.popleft()
            return google_error(script[0], "scripted failure")
        if request.query.get("agentId") != self.agent_id:
            return google_error(403, "The caller does not have permission")
        try:
            uuid.UUID(request.query.get(id_param, ""))
        except ValueError:
            return google_error(400, f"{id_param} must be a UUID")
        phone = request.match_info["phone"]
        if not phone.startswith("+") or not phone[1:].isdigit():
            return google_error(400, "the phone number must be E.164")
        return None

    @staticmethod
    def _bad_content(body: Any) -> str | None:
        content = body.get("contentMessage") if isinstance(body, dict) else None
        if not isinstance(content, dict):
            return "contentMessage is required"
        if "text" in content:
            text = content["text"]
            return None if isinstance(text, str) and 0 < len(text) <= 3072 else "bad text"
        card = content.get("richCard", {}).get("standaloneCard")
        if not isinstance(card, dict) or card.get("cardOrientation") not in (
            "VERTICAL",
            "HORIZONTAL",
        ):
            return "richCard.standaloneCard with a cardOrientation is required"
        inner = card.get("cardContent", {})
        media = inner.get("media", {})
        url = media.get("contentInfo", {}).get("fileUrl", "")
        if media and (media.get("height") not in ("SHORT", "MEDIUM", "TALL") or not url):
            return "media needs a height and contentInfo.fileUrl"
        if not (media or inner.get("title") or inner.get("description")):
            return "a card needs media, a title or a description"
        return None

    async def _agent_message(self, request: web.Request) -> web.Response:
        refused = self._checked(request, "messageId")
        if refused is not None:
            return refused
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        problem = self._bad_content(body)
        if problem is not None:
            return google_error(400, problem)
        phone, message_id = request.match_info["phone"], request.query["messageId"]
        if phone in self.unreachable:
            return google_error(404, "Requested entity was not found.")
        if message_id in self.messages:
            return google_error(409, "Requested entity already exists")
        self.messages[message_id] = {"phone": phone, "body": body}
        answer = {
            "name": f"phones/{phone}/agentMessages/{message_id}",
            "sendTime": _now(),
            "contentMessage": body["contentMessage"],
        }
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    async def _capabilities(self, request: web.Request) -> web.Response:
        refused = self._checked(request, "requestId")
        if refused is not None:
            return refused
        self.capability_calls += 1
        if request.match_info["phone"] in self.unreachable:
            return google_error(404, "Requested entity was not found.")
        return web.Response(
            body=orjson.dumps({"features": FEATURES}), content_type="application/json"
        )

    def sent_to(self, number: str) -> list[tuple[str, dict[str, Any]]]:
        """(messageId, AgentMessage) of the messages accepted for `number`, oldest first."""
        return [(mid, m["body"]) for mid, m in self.messages.items() if m["phone"] == number]

    # ------------------------------------------------------------------ pushes
    def event(self, event_type: str, sender: str, message_id: str | None = None) -> dict[str, Any]:
        """A user event (DELIVERED, READ with our `messageId`; IS_TYPING)."""
        data: dict[str, Any] = {
            "senderPhoneNumber": sender,
            "eventType": event_type,
            "eventId": "MxY" + secrets.token_urlsafe(12),
            "sendTime": _now(),
            "agentId": f"{self.agent_id}@rbm.goog",
        }
        if message_id is not None:
            data["messageId"] = message_id
        return data

    def user_text(self, sender: str, text: str) -> dict[str, Any]:
        """A user's text message to the agent."""
        return {
            "senderPhoneNumber": sender,
            "messageId": "MsX" + secrets.token_urlsafe(12),
            "sendTime": _now(),
            "text": text,
            "agentId": f"{self.agent_id}@rbm.goog",
        }

    def sign(self, data: bytes, client_token: str | None = None) -> str:
        """The `X-Goog-Signature` of decoded push data."""
        key = (client_token or self.client_token).encode()
        return base64.b64encode(hmac.new(key, data, hashlib.sha512).digest()).decode()

    async def push(
        self,
        url: str,
        data: dict[str, Any],
        *,
        pubsub_id: str | None = None,
        signature: str | None = None,
        unsigned: bool = False,
    ) -> tuple[int, bytes, str]:
        """POST one Pub/Sub push of `data` to `url` (a redelivery: the same `pubsub_id`)."""
        raw = orjson.dumps(data)
        message_id = pubsub_id or str(secrets.randbelow(10**16))
        stamp = _now()
        body = {
            "message": {
                "attributes": {},
                "data": base64.b64encode(raw).decode(),
                "messageId": message_id,
                "message_id": message_id,
                "publishTime": stamp,
                "publish_time": stamp,
            },
            "subscription": "projects/rbm-fake-project/subscriptions/rbm-agent-subscription",
        }
        headers = {"Content-Type": "application/json"}
        if not unsigned:
            headers["X-Goog-Signature"] = signature or self.sign(raw)
        return await self.post(url, orjson.dumps(body), headers)

    async def setup(
        self,
        url: str,
        *,
        client_token: str | None = None,
        secret: str = "1234567890",  # noqa: S107 - Google's example value
    ) -> tuple[int, bytes, str]:
        """The webhook set-up call: `{"clientToken", "secret"}`."""
        body = {"clientToken": client_token or self.client_token, "secret": secret}
        return await self.post(url, orjson.dumps(body), {"Content-Type": "application/json"})
