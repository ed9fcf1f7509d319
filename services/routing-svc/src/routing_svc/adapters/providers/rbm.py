"""The RCS Business Messaging provider (`rbm`, CONTRACT section 9).

Send: `POST {base_url}/v1/phones/{recipient}/agentMessages?messageId=&agentId=` with an OAuth
access token (`rbm_token`): `{"contentMessage": {"text"}}`, or, with a `media_url`, a standalone
rich card (vertical, the media at medium height, the text as its description). The `messageId`
is derived from the message, the attempt and the route (`rbm_events.message_uuid`): RBM ignores
a message id used before, so sending an attempt again after a timeout cannot reach the user
twice, and such a send is put off without `unknown`.

| RBM answer | result |
| --- | --- |
| 200 (or 409: that id was taken before) | accepted under our `messageId` |
| 401 | the token is fetched again once (for every send that saw it), the call repeated |
| 404 | refused `delivery_failed` (not RCS-capable, or not reachable by the agent) |
| 429, 5xx | put off: `Retry-After` honoured, else the route's back-off window |
| other 4xx | refused `delivery_failed` |
| no token, no connection, timeout | put off |

Strict profile check: `GET .../capabilities?requestId=<uuid4>&agentId=`: 200 capable, 404 (and
403, an unlaunched agent asking about a non-tester) not; anything else raises
`ProfileLookupUnavailable`, so the attempt is retried, never failed. Cacheable.

Callbacks: the webhook set-up `{"clientToken", "secret"}` -> 200 `{"secret"}` when the token
matches; a Pub/Sub push must carry `X-Goog-Signature` = base64(HMAC-SHA512(client token,
base64-decoded `message.data`)); a bad or missing one (or a body that cannot be checked) -> 401,
nothing changes. What it carries (`rbm_events`) is answered 200 once durable, 500 if not.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import structlog

from routing_svc.adapters.providers.config import RbmSettings, RouteConfig
from routing_svc.adapters.providers.http_common import (
    HttpProvider,
    count_callback,
    count_items,
    problem,
    retry_after_s,
)
from routing_svc.adapters.providers.rbm_events import (
    Agent,
    heard_from_rbm,
    message_uuid,
    route_tag,
)
from routing_svc.adapters.providers.rbm_token import ServiceAccountTokens, TokenUnavailable
from routing_svc.domain.channels import (
    CallbackAnswer,
    CallbackRequest,
    Channel,
    Outbound,
    SendResult,
)

log = structlog.get_logger("routing_svc.providers.rbm")


class ProfileLookupUnavailable(Exception):
    """The capabilities call got no usable answer (throttled, 5xx, no token or connection):
    the attempt is retried later rather than failed `profile_not_found`."""


def request_body(message: Outbound) -> dict[str, Any]:
    """The AgentMessage of one attempt: text, or a standalone rich card with the media."""
    text = message.content.get("text")
    media = message.content.get("media_url")
    if not media:
        return {"contentMessage": {"text": text or ""}}
    card: dict[str, Any] = {
        "media": {"height": "MEDIUM", "contentInfo": {"fileUrl": media, "forceRefresh": False}}
    }
    if text:
        card["description"] = text
    standalone = {"cardOrientation": "VERTICAL", "cardContent": card}
    return {"contentMessage": {"richCard": {"standaloneCard": standalone}}}


def signature_ok(client_token: str, data: bytes, header: str | None) -> bool:
    """Whether `header` is base64(HMAC-SHA512(client token, data)) (constant-time compare)."""
    if not header:
        return False
    expected = base64.b64encode(hmac.new(client_token.encode(), data, hashlib.sha512).digest())
    return hmac.compare_digest(expected, header.strip().encode())


Answer = tuple[int, Mapping[str, str], bytes]


class RbmProvider(HttpProvider):
    """Every `rbm` route of the routes file (an agent each; agents may repeat across carriers)."""

    kind = "rbm"
    profiles_cacheable = True
    needs_handover = True

    def __init__(self, configs: list[RouteConfig]) -> None:
        super().__init__([config.route for config in configs])
        self._settings: dict[str, RbmSettings] = {}
        self._agents: dict[str, Agent] = {}
        self._tokens: dict[str, ServiceAccountTokens] = {}
        self._tags: dict[bytes, str] = {}
        shared: dict[tuple[str, str, str], ServiceAccountTokens] = {}
        for config in configs:
            settings, name = config.settings, config.route.name
            if not isinstance(settings, RbmSettings):
                raise TypeError(f"route {name!r} has no rbm settings")
            tag = route_tag(name)
            if tag in self._tags:
                raise ValueError(f"rbm routes {self._tags[tag]!r} and {name!r}: rename one")
            self._tags[tag] = name
            self._settings[name] = settings
            self._agents[name] = Agent(name, settings.agent_id)
            account = settings.service_account
            who = (account["client_email"], account.get("private_key_id", ""), account["token_uri"])
            if who not in shared:
                shared[who] = ServiceAccountTokens(account, lambda: self._session)
            self._tokens[name] = shared[who]

    def tokens(self, route: str) -> ServiceAccountTokens:
        """The access tokens a route uses (shared by routes of one service account)."""
        return self._tokens[route]

    async def _call(
        self, route: str, method: str, url: str, params: dict[str, str], body: Any = None
    ) -> Answer:
        """One authorised API call; after a 401 the token is fetched again and the call made
        once more. Raises TokenUnavailable, aiohttp.ClientError or TimeoutError."""
        session = self._session
        if session is None:
            raise TokenUnavailable("provider_not_started")
        tokens = self._tokens[route]
        token = await tokens.token()
        for repeat in (False, True):
            headers = {"Authorization": f"Bearer {token}"}
            async with session.request(
                method, url, params=params, json=body, headers=headers
            ) as resp:
                answer: Answer = (resp.status, resp.headers, await resp.read())
            if answer[0] != 401 or repeat:
                return answer
            log.info("rbm_token_rejected", route=route)
            token = await tokens.refresh(token)
        raise AssertionError("unreachable")

    def _url(self, route: str, to: str, leaf: str) -> str:
        return f"{self._settings[route].base_url}/v1/phones/{quote(to, safe='+')}/{leaf}"

    async def send(self, message: Outbound) -> SendResult:
        """Hand one attempt to the RBM API (see the module docstring for the answers)."""
        route = message.route
        ours = message_uuid(message.message_id, message.attempt, route)
        params = {"messageId": ours, "agentId": self._settings[route].agent_id}
        url = self._url(route, message.to, "agentMessages")
        try:
            status, headers, _ = await self._call(route, "POST", url, params, request_body(message))
        except (TokenUnavailable, TimeoutError, aiohttp.ClientError) as exc:
            self._health.unreachable(route)
            detail = exc.detail if isinstance(exc, TokenUnavailable) else type(exc).__name__
            log.warning(
                "rbm_send_unanswered", route=route, message_id=message.message_id, error=detail
            )
            return SendResult.later(self._health.backoff_s(route), detail)
        if status == 429 or status >= 500:
            self._health.answered(route, throttled=True)
            return SendResult.later(
                self._health.backoff_s(route, retry_after_s(headers)), f"http_{status}"
            )
        if status == 401:
            self._health.unreachable(route)
            return SendResult.later(self._health.backoff_s(route), "token_rejected")
        self._health.answered(route)
        if status in (200, 409):
            return SendResult.ok(ours)
        return SendResult.refused("delivery_failed", f"http_{status}")

    async def has_capability(self, to: str, channel: Channel, route: str) -> bool:
        """Whether `to` is reachable over RCS by the route's agent (the capabilities call)."""
        params = {"requestId": str(uuid.uuid4()), "agentId": self._settings[route].agent_id}
        try:
            url = self._url(route, to, "capabilities")
            status, _, _ = await self._call(route, "GET", url, params)
        except (TokenUnavailable, TimeoutError, aiohttp.ClientError) as exc:
            self._health.unreachable(route)
            raise ProfileLookupUnavailable(type(exc).__name__) from None
        if status == 200:
            self._health.answered(route)
            return True
        if status in (403, 404):
            self._health.answered(route)
            return False
        self._health.answered(route, throttled=status == 429 or status >= 500)
        raise ProfileLookupUnavailable(f"http_{status}")

    async def callback(self, route: str, request: CallbackRequest) -> CallbackAnswer:
        """The webhook set-up, or a signed Pub/Sub push of a user's message or event."""
        token = self._settings[route].client_token
        try:
            payload = orjson.loads(request.body) if request.method == "POST" else None
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            return self._refused(route, "not_a_push")
        if "clientToken" in payload and "message" not in payload:
            return self._setup(route, token, payload)
        message = payload.get("message")
        encoded = message.get("data") if isinstance(message, dict) else None
        try:
            data = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            return self._refused(route, "data_unreadable")
        if not isinstance(encoded, str) or not signature_ok(
            token, data, request.headers.get("x-goog-signature")
        ):
            return self._refused(route, "signature")
        assert isinstance(message, dict)
        return await self._hand_over(route, data, message)

    async def _hand_over(self, route: str, data: bytes, message: dict[str, Any]) -> CallbackAnswer:
        sink = self._sink
        if sink is None:
            return problem(503, "service_unavailable", "the provider is not started")
        key = str(message.get("messageId") or message.get("message_id") or "")
        if not key:
            key = hashlib.sha256(data).hexdigest()
        published = message.get("publishTime")
        heard = heard_from_rbm(data, key, self._agents[route], self._tags, published)
        try:
            await asyncio.gather(
                *(sink.receipt(report) for report in heard.reports),
                *(sink.inbound(item) for item in heard.messages),
            )
        except Exception as exc:  # not stored: Google sends it again
            count_callback(route, "failed")
            log.exception("callback_not_stored", route=route, error=type(exc).__name__)
            return problem(500, "internal_error", "not stored; send it again")
        count_callback(route, "verified")
        count_items(route, "report", len(heard.reports))
        typing = sum(1 for item in heard.messages if item.typing)
        count_items(route, "typing", typing)
        count_items(route, "message", len(heard.messages) - typing)
        if heard.ignored:
            count_items(route, "ignored", len(heard.ignored))
            log.info("callback_items_ignored", route=route, kinds=sorted(set(heard.ignored)))
        return CallbackAnswer(200, b"{}")

    def _setup(self, route: str, token: str, payload: dict[str, Any]) -> CallbackAnswer:
        """The webhook set-up: echo `secret` when `clientToken` is the route's."""
        given, secret = payload.get("clientToken"), payload.get("secret")
        if not isinstance(given, str) or not isinstance(secret, str):
            return self._refused(route, "setup_unreadable")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return self._refused(route, "client_token")
        count_callback(route, "handshake")
        return CallbackAnswer(200, orjson.dumps({"secret": secret}))

    @staticmethod
    def _refused(route: str, reason: str) -> CallbackAnswer:
        count_callback(route, "refused")
        log.warning("callback_refused", route=route, reason=reason)
        return problem(401, "unauthorized", "the callback failed RBM's verification")


async def build(configs: list[RouteConfig], nc: Any) -> RbmProvider:
    """The factory `bootstrap.FACTORIES` registers for `rbm`."""
    return RbmProvider(configs)
