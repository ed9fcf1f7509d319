"""The WhatsApp Cloud API provider (`whatsapp_cloud`, CONTRACT section 9).

Send: `POST {base_url}/{api_version}/{phone_number_id}/messages` with the route's bearer token
and the contract's body (`type: text`, or `type: image` with `{"link", "caption"}` when the
content has a `media_url`); one pooled session for every route of the provider.

| Graph API answer | result |
| --- | --- |
| 2xx with `messages[0].id` | accepted under that id (its status callbacks name it) |
| 400 with `error.code` 131026 or 131030 | refused `invalid_number` |
| 4xx with a throttling `error.code` (4, 80007, 130429, 131056) | put off (a rate limit) |
| 429, 5xx | put off: `Retry-After` honoured, else the route's back-off window |
| any other 4xx | refused `delivery_failed` |
| could not connect | put off (it did not go out) |
| timeout or connection lost after sending | put off, `unknown` (it may have gone out) |

Callbacks (`GET|POST /v1/callbacks/{route}`): the verify handshake (`hub.mode=subscribe`,
`hub.verify_token`, `hub.challenge` -> 200 text/plain challenge, else 403); a POST must carry
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>` (compared in constant
time; bad or missing -> 401, nothing changes); what it carries (`whatsapp_events`) is handed to
the sink and the callback answered 200 once all of it is durable, 500 if any of it could not be
stored (Meta then sends it again; JetStream's duplicate window and the inbound de-duplication
make the resend one report, one message).

There is no capability lookup in the contract: `has_capability` answers True (nothing cached),
so a strict WhatsApp send goes out and a number without WhatsApp comes back as 131026.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
import structlog

from routing_svc.adapters.providers.config import RouteConfig, WhatsAppCloudSettings
from routing_svc.adapters.providers.http_common import (
    HttpProvider,
    count_callback,
    count_items,
    is_unsent,
    problem,
    retry_after_s,
)
from routing_svc.adapters.providers.whatsapp_events import (
    INVALID_NUMBER_CODES,
    Number,
    heard_from_meta,
)
from routing_svc.domain.channels import (
    CallbackAnswer,
    CallbackRequest,
    Channel,
    Outbound,
    SendResult,
)

log = structlog.get_logger("routing_svc.providers.whatsapp_cloud")

THROTTLING_CODES = frozenset({4, 80007, 130429, 131056})
"""Graph API rate limits (app, WABA, Cloud API throughput, business/user pair): Meta answers
them with a 400, but they are throttling, not a failure of the message."""


def request_body(message: Outbound) -> dict[str, Any]:
    """The Graph API body of one attempt (the recipient without `+`)."""
    text = message.content.get("text")
    media = message.content.get("media_url")
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to.removeprefix("+"),
    }
    if media:
        image: dict[str, Any] = {"link": media}
        if text:
            image["caption"] = text
        return body | {"type": "image", "image": image}
    return body | {"type": "text", "text": {"body": text or "", "preview_url": False}}


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is `sha256=<hex HMAC-SHA256(secret, body)>` (constant-time compare)."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[7:].strip().lower().encode())


def _error_code(raw: bytes) -> int | None:
    try:
        error = orjson.loads(raw).get("error")
        code = error.get("code")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return code if isinstance(code, int) else None


def _message_id(raw: bytes) -> str | None:
    try:
        found = orjson.loads(raw)["messages"][0]["id"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    return found if isinstance(found, str) and found else None


class WhatsAppCloudProvider(HttpProvider):
    """Every `whatsapp_cloud` route of the routes file, one WhatsApp phone number each."""

    kind = "whatsapp_cloud"
    profiles_cacheable = False
    needs_handover = True

    def __init__(self, configs: list[RouteConfig]) -> None:
        super().__init__([config.route for config in configs])
        self._settings: dict[str, WhatsAppCloudSettings] = {}
        self._own: dict[str, Number] = {}
        self._numbers: dict[str, Number] = {}
        for config in configs:
            settings = config.settings
            if not isinstance(settings, WhatsAppCloudSettings):
                raise TypeError(f"route {config.route.name!r} has no whatsapp_cloud settings")
            name = config.route.name
            self._settings[name] = settings
            self._own[name] = Number(name, settings.display_number)
            self._numbers.setdefault(settings.phone_number_id, self._own[name])

    async def has_capability(self, to: str, channel: Channel, route: str) -> bool:
        """No capability lookup exists for WhatsApp in the contract: always True."""
        return True

    async def send(self, message: Outbound) -> SendResult:
        """Hand one attempt to the Graph API (see the module docstring for the answers)."""
        route = message.route
        settings = self._settings[route]
        session = self._session
        if session is None:
            return SendResult.later(1.0, "provider_not_started")
        url = f"{settings.base_url}/{settings.api_version}/{settings.phone_number_id}/messages"
        headers = {"Authorization": f"Bearer {settings.token}"}
        try:
            async with session.post(url, json=request_body(message), headers=headers) as resp:
                raw = await resp.read()
                status, answer_headers = resp.status, resp.headers
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._health.unreachable(route)
            unsent = is_unsent(exc)
            log.warning(
                "whatsapp_send_unanswered",
                route=route,
                message_id=message.message_id,
                error=type(exc).__name__,
                may_have_gone=not unsent,
            )
            return SendResult.later(
                self._health.backoff_s(route), type(exc).__name__, unknown=not unsent
            )
        return self._answer(message, status, answer_headers, raw)

    def _answer(
        self, message: Outbound, status: int, headers: Mapping[str, str], raw: bytes
    ) -> SendResult:
        route = message.route
        if status == 429 or status >= 500:
            self._health.answered(route, throttled=True)
            return SendResult.later(
                self._health.backoff_s(route, retry_after_s(headers)), f"http_{status}"
            )
        code = _error_code(raw) if 400 <= status < 500 else None
        if code in THROTTLING_CODES:
            self._health.answered(route, throttled=True)
            return SendResult.later(
                self._health.backoff_s(route, retry_after_s(headers)), f"graph_{code}"
            )
        self._health.answered(route)
        if 200 <= status < 300:
            provider_id = _message_id(raw)
            if provider_id is None:
                log.error(
                    "whatsapp_accepted_without_id", route=route, message_id=message.message_id
                )
                return SendResult.ok()
            return SendResult.ok(provider_id)
        if status == 400 and code in INVALID_NUMBER_CODES:
            return SendResult.refused("invalid_number", f"graph_{code}")
        if status in (401, 403):
            log.error("whatsapp_token_refused", route=route, status=status, code=code)
        return SendResult.refused("delivery_failed", f"http_{status}_graph_{code}")

    async def callback(self, route: str, request: CallbackRequest) -> CallbackAnswer:
        """Meta's verify handshake (GET) or a signed notification (POST)."""
        settings = self._settings[route]
        if request.method == "GET":
            return self._handshake(route, settings, request.query)
        if not signature_ok(
            settings.app_secret, request.body, request.headers.get("x-hub-signature-256")
        ):
            count_callback(route, "refused")
            log.warning("callback_refused", route=route, reason="signature")
            return problem(401, "unauthorized", "X-Hub-Signature-256 does not match the body")
        sink = self._sink
        if sink is None:
            return problem(503, "service_unavailable", "the provider is not started")
        try:
            payload = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            payload = None
        heard = heard_from_meta(payload, self._own[route], self._numbers)
        try:
            await asyncio.gather(
                *(sink.receipt(report) for report in heard.reports),
                *(sink.inbound(message) for message in heard.messages),
            )
        except Exception as exc:  # not stored: Meta sends it again
            count_callback(route, "failed")
            log.exception("callback_not_stored", route=route, error=type(exc).__name__)
            return problem(500, "internal_error", "not stored; send it again")
        count_callback(route, "verified")
        count_items(route, "report", len(heard.reports))
        count_items(route, "message", len(heard.messages))
        if heard.ignored:
            count_items(route, "ignored", len(heard.ignored))
            log.info("callback_items_ignored", route=route, kinds=sorted(set(heard.ignored)))
        return CallbackAnswer(200, b"", "text/plain")

    @staticmethod
    def _handshake(
        route: str, settings: WhatsAppCloudSettings, query: Mapping[str, str]
    ) -> CallbackAnswer:
        token = query.get("hub.verify_token", "")
        challenge = query.get("hub.challenge", "")
        if (
            query.get("hub.mode") == "subscribe"
            and hmac.compare_digest(token.encode(), settings.verify_token.encode())
            and challenge
        ):
            count_callback(route, "handshake")
            return CallbackAnswer(200, challenge.encode(), "text/plain")
        count_callback(route, "refused")
        log.warning("callback_refused", route=route, reason="verify_token")
        return CallbackAnswer(403, b"", "text/plain")


async def build(configs: list[RouteConfig], nc: Any) -> WhatsAppCloudProvider:
    """The factory `bootstrap.FACTORIES` registers for `whatsapp_cloud`."""
    return WhatsAppCloudProvider(configs)
