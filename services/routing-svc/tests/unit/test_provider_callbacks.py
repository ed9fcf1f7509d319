"""The callback answer rule of both HTTP providers, on an in-memory sink: 200 only once every
item is stored, 500 when the sink fails (the provider resends), 401 without touching the sink."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from routing_svc.adapters.providers.config import RbmSettings, RouteConfig, WhatsAppCloudSettings
from routing_svc.adapters.providers.rbm import RbmProvider
from routing_svc.adapters.providers.whatsapp_cloud import WhatsAppCloudProvider
from routing_svc.domain.channels import CallbackRequest, Route

SECRET, TOKEN = "app-secret", "client-token"


class Sink:
    """Keeps what it is given; fails every call when `fail` is set."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.items: list[Any] = []

    async def report(self, report: Any, delay_s: float = 0.0) -> None:
        raise AssertionError("HTTP providers report by the provider's id")

    async def receipt(self, report: Any) -> None:
        if self.fail:
            raise RuntimeError("JetStream refused")
        self.items.append(report)

    async def inbound(self, message: Any) -> None:
        if self.fail:
            raise RuntimeError("JetStream refused")
        self.items.append(message)


@pytest.fixture
async def whatsapp() -> AsyncIterator[WhatsAppCloudProvider]:
    """A WhatsApp provider for route wa-1 (no network is used by callbacks)."""
    settings = WhatsAppCloudSettings(
        "http://127.0.0.1:9", "v21.0", "111", "+919800000001", "token", SECRET, "verify"
    )
    provider = WhatsAppCloudProvider(
        [RouteConfig(Route("wa-1", "whatsapp", 10, None, "whatsapp_cloud"), settings)]
    )
    yield provider
    await provider.stop()


@pytest.fixture
async def rbm() -> AsyncIterator[RbmProvider]:
    """An RBM provider for route rcs-1."""
    account = {"client_email": "a@b", "private_key": "unused", "token_uri": "http://127.0.0.1:9"}
    settings = RbmSettings("http://127.0.0.1:9", "agent", account, TOKEN)
    provider = RbmProvider([RouteConfig(Route("rcs-1", "rcs", 10, "airtel", "rbm"), settings)])
    yield provider
    await provider.stop()


def meta_request(signature: str | None = None) -> CallbackRequest:
    """A Meta POST with one delivered status and one text message."""
    value = {
        "statuses": [{"id": "wamid.A", "status": "delivered", "timestamp": "1"}],
        "messages": [
            {
                "from": "919876543210",
                "id": "wamid.M",
                "timestamp": "1",
                "type": "text",
                "text": {"body": "hi"},
            }
        ],
    }
    raw = orjson.dumps({"entry": [{"changes": [{"field": "messages", "value": value}]}]})
    good = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return CallbackRequest("POST", {}, {"x-hub-signature-256": signature or good}, raw)


def rbm_request(signature: str | None = None) -> CallbackRequest:
    """An RBM push of a user's text."""
    data = orjson.dumps({"senderPhoneNumber": "+919876543210", "text": "hi", "messageId": "m"})
    good = base64.b64encode(hmac.new(TOKEN.encode(), data, hashlib.sha512).digest()).decode()
    body = {"message": {"data": base64.b64encode(data).decode(), "messageId": "77"}}
    headers = {"x-goog-signature": signature or good}
    return CallbackRequest("POST", {}, headers, orjson.dumps(body))


async def test_whatsapp_answers_200_once_stored_and_500_when_not(
    whatsapp: WhatsAppCloudProvider,
) -> None:
    """Both items are stored before the 200; a failing sink gives 500 so Meta resends."""
    sink = Sink()
    await whatsapp.start(sink)
    assert (await whatsapp.callback("wa-1", meta_request())).status == 200
    assert len(sink.items) == 2
    sink.fail = True
    assert (await whatsapp.callback("wa-1", meta_request())).status == 500


async def test_whatsapp_bad_signature_never_reaches_the_sink(
    whatsapp: WhatsAppCloudProvider,
) -> None:
    """A wrong signature answers 401 and hands nothing over."""
    sink = Sink()
    await whatsapp.start(sink)
    answer = await whatsapp.callback("wa-1", meta_request("sha256=" + "0" * 64))
    assert (answer.status, sink.items) == (401, [])


async def test_rbm_answers_200_once_stored_and_500_when_not(rbm: RbmProvider) -> None:
    """A user's text is stored before the 200; a failing sink gives 500 so Google resends."""
    sink = Sink()
    await rbm.start(sink)
    assert (await rbm.callback("rcs-1", rbm_request())).status == 200
    assert [item.text for item in sink.items] == ["hi"]
    sink.fail = True
    assert (await rbm.callback("rcs-1", rbm_request())).status == 500


async def test_rbm_bad_signature_or_body_never_reaches_the_sink(rbm: RbmProvider) -> None:
    """A wrong signature, a body that is not JSON, or data that is not base64: 401, no items."""
    sink = Sink()
    await rbm.start(sink)
    assert (await rbm.callback("rcs-1", rbm_request("AAAA"))).status == 401
    junk = CallbackRequest("POST", {}, {}, b"<xml/>")
    assert (await rbm.callback("rcs-1", junk)).status == 401
    bad = CallbackRequest(
        "POST", {}, {"x-goog-signature": "x"}, orjson.dumps({"message": {"data": "%%%"}})
    )
    assert (await rbm.callback("rcs-1", bad)).status == 401
    assert sink.items == []
