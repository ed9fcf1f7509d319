"""A local fake of Meta's Graph API messages endpoint (WhatsApp Cloud API) and of Meta's
webhook calls, following Meta's documented shapes (nothing here was tried against Meta).

- `POST /{api_version}/{phone_number_id}/messages` with `Authorization: Bearer <token>`:
  checks the path, the token (else 401, Graph error code 190) and the body (`messaging_product`
  "whatsapp", `recipient_type` "individual", `to` digits, `type` text with `text.body` or image
  with `image.link`; else 400 code 100); answers 200 `{"messaging_product": "whatsapp",
  "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid...."}]}`. A number in `invalid`
  answers 400 code 131026, one in `not_allowed` 400 code 131030. Errors use Graph's body
  `{"error": {"message", "type", "code", "error_data": {"messaging_product", "details"},
  "error_subcode", "fbtrace_id"}}`.
- `script(status, times, ...)`: the next `times` sends answer that (429, 500, a 400 with a
  throttling code, ...) before the fake recovers; `drop(times)` closes connections unanswered.
- Callbacks: `status(...)` / `user_message(...)` build the `whatsapp_business_account` body,
  `notify(url, body)` posts it signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app
  secret, raw body)>` (or with a given signature), `verify(url, ...)` plays the GET handshake.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from parley_devtools.fakes.server import FakeServer

WABA_ID = "102290129340398"
ERROR_TITLES = {
    100: "Invalid parameter",
    190: "Invalid OAuth access token",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131026: "Message undeliverable",
    131030: "Recipient phone number not in allowed list",
}


def graph_error(code: int, details: str = "", subcode: int | None = None) -> dict[str, Any]:
    """Graph API's error body for `code`."""
    title = ERROR_TITLES.get(code, "Error")
    error: dict[str, Any] = {
        "message": f"(#{code}) {title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or title},
        "fbtrace_id": "A" + secrets.token_urlsafe(16),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@dataclass
class Sent:
    """A message the fake accepted."""

    wamid: str
    to: str
    body: dict[str, Any]


@dataclass
class Script:
    """An answer to give instead of the normal one, `times` times."""

    status: int
    times: int
    code: int | None = None
    retry_after: str | None = None
    drop: bool = False


@dataclass
class GraphApi(FakeServer):
    """The fake Graph API for one WhatsApp phone number."""

    phone_number_id: str = "106540352242922"
    display_number: str = "+919800000001"
    api_version: str = "v21.0"
    token: str = field(default_factory=lambda: "EAAG" + secrets.token_urlsafe(24))
    app_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    verify_token: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    invalid: set[str] = field(default_factory=set)  # numbers (E.164) that are not on WhatsApp
    not_allowed: set[str] = field(default_factory=set)  # numbers outside the allowed list
    sent: list[Sent] = field(default_factory=list)
    requests: int = 0  # every request to the messages endpoint, answered or not
    answers: list[int] = field(default_factory=list)  # HTTP status of each answered request
    _scripts: deque[Script] = field(default_factory=deque)

    def __post_init__(self) -> None:
        FakeServer.__init__(self)

    def app(self) -> web.Application:
        """The messages endpoint."""
        app = web.Application()
        app.router.add_post("/{version}/{number_id}/messages", self._messages)
        return app

    # ------------------------------------------------------------------ scripting
    def script(
        self, status: int, times: int, *, code: int | None = None, retry_after: str | None = None
    ) -> None:
        """Answer the next `times` sends with `status` (a Graph error body with `code`)."""
        self._scripts.append(Script(status, times, code, retry_after))

    def drop(self, times: int) -> None:
        """Close the connection of the next `times` sends without answering."""
        self._scripts.append(Script(0, times, drop=True))

    def sent_to(self, number: str) -> list[Sent]:
        """The accepted messages to `number` (E.164), oldest first."""
        return [item for item in self.sent if item.to == number.removeprefix("+")]

    # ------------------------------------------------------------------ the endpoint
    def _answer(self, status: int, body: dict[str, Any], **headers: str) -> web.Response:
        self.answers.append(status)
        return web.Response(
            status=status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers=headers,
        )

    def _scripted(self, request: web.Request) -> web.StreamResponse | None:
        if not self._scripts:
            return None
        script = self._scripts[0]
        script.times -= 1
        if script.times <= 0:
            self._scripts.popleft()
        if script.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)
        code = script.code or (130429 if script.status == 429 else 131000)
        headers = {"Retry-After": script.retry_after} if script.retry_after else {}
        return self._answer(script.status, graph_error(code), **headers)

    @staticmethod
    def _invalid_body(body: Any) -> str | None:  # noqa: PLR0911 - one answer per check
        if not isinstance(body, dict):
            return "the body is not a JSON object"
        if body.get("messaging_product") != "whatsapp":
            return "messaging_product must be whatsapp"
        if body.get("recipient_type", "individual") != "individual":
            return "recipient_type must be individual"
        to = body.get("to")
        if not isinstance(to, str) or not to.isdigit():
            return "to must be the recipient's number in digits"
        kind = body.get("type")
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, dict) or not isinstance(text.get("body"), str):
                return "text.body is required"
            if not 1 <= len(text["body"]) <= 4096:
                return "text.body must be 1..4096 characters"
            return None
        if kind == "image":
            image = body.get("image")
            if not isinstance(image, dict) or not str(image.get("link", "")).startswith("https://"):
                return "image.link must be an https URL"
            if len(str(image.get("caption", ""))) > 1024:
                return "image.caption is longer than 1024 characters"
            return None
        return f"type {kind!r} is not supported by this fake"

    async def _messages(self, request: web.Request) -> web.StreamResponse:  # noqa: PLR0911
        self.requests += 1
        if request.match_info["version"] != self.api_version:
            return self._answer(400, graph_error(100, "unknown API version"))
        if request.match_info["number_id"] != self.phone_number_id:
            return self._answer(400, graph_error(100, "unknown phone number id", 33))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._answer(401, graph_error(190, "the access token is invalid"))
        scripted = self._scripted(request)
        if scripted is not None:
            return scripted
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        problem = self._invalid_body(body)
        if problem is not None:
            return self._answer(400, graph_error(100, problem))
        number = "+" + body["to"]
        if number in self.invalid:
            return self._answer(400, graph_error(131026, "the recipient is not a WhatsApp user"))
        if number in self.not_allowed:
            return self._answer(400, graph_error(131030, "add the number to the allowed list"))
        wamid = "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()
        self.sent.append(Sent(wamid, body["to"], body))
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": wamid}],
        }
        return self._answer(200, answer)

    # ------------------------------------------------------------------ callbacks
    def notification(self, *, statuses: Any = (), messages: Any = ()) -> dict[str, Any]:
        """Meta's webhook body for this phone number with `statuses` and/or `messages`."""
        value: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.display_number.removeprefix("+"),
                "phone_number_id": self.phone_number_id,
            },
        }
        if statuses:
            value["statuses"] = list(statuses)
        if messages:
            value["contacts"] = [
                {"profile": {"name": "Test User"}, "wa_id": m.get("from")} for m in messages
            ]
            value["messages"] = list(messages)
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
        }

    @staticmethod
    def status(
        wamid: str,
        status: str,
        recipient: str,
        *,
        error_code: int | None = None,
        timestamp: int | None = None,
    ) -> dict[str, Any]:
        """One entry of `statuses`: `sent`, `delivered`, `read` or `failed` (with `errors`)."""
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(timestamp if timestamp is not None else int(time.time())),
            "recipient_id": recipient.removeprefix("+"),
        }
        if status in ("sent", "delivered"):
            item["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": "service"}}
            item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
        if status == "failed":
            code = error_code or 131000
            title = ERROR_TITLES.get(code, "Error")
            item["errors"] = [
                {"code": code, "title": title, "message": title, "error_data": {"details": title}}
            ]
        return item

    @staticmethod
    def user_message(
        sender: str, text: str | None = None, *, kind: str = "text", wamid: str | None = None
    ) -> dict[str, Any]:
        """One entry of `messages` from `sender` (E.164): a text, or another `kind`."""
        item: dict[str, Any] = {
            "from": sender.removeprefix("+"),
            "id": wamid or "wamid." + base64.b64encode(secrets.token_bytes(30)).decode(),
            "timestamp": str(int(time.time())),
            "type": kind,
        }
        if kind == "text":
            item["text"] = {"body": text or ""}
        elif kind == "image":
            item["image"] = {"mime_type": "image/jpeg", "sha256": "x", "id": "1234567890"}
        else:
            item[kind] = {}
        return item

    def sign(self, body: bytes, secret: str | None = None) -> str:
        """The `X-Hub-Signature-256` value of `body`."""
        key = (secret or self.app_secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    async def notify(
        self,
        url: str,
        body: dict[str, Any] | bytes,
        *,
        signature: str | None = None,
        unsigned: bool = False,
    ) -> tuple[int, bytes, str]:
        """POST a webhook body to `url`, signed with the app secret (or `signature`)."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        headers = {"Content-Type": "application/json"}
        if not unsigned:
            headers["X-Hub-Signature-256"] = signature or self.sign(raw)
        return await self.post(url, raw, headers)

    async def verify(
        self, url: str, *, verify_token: str | None = None, challenge: str = "1158201444"
    ) -> tuple[int, bytes, str]:
        """Meta's subscription handshake: GET `hub.mode`, `hub.verify_token`, `hub.challenge`."""
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": verify_token if verify_token is not None else self.verify_token,
            "hub.challenge": challenge,
        }
        return await self.get(url, params)
