"""URL Shortener: URLs in the text become short links served by `GET /s/{code}` (302 to the
original), clicks are published as `parley.message.clicked`, and links expire."""

from __future__ import annotations

import re
from typing import Any

import pytest
from parley_devtools.waiting import eventually
from parley_shared.events import CloudEvent, StatusData
from routing_svc.adapters.kv import SHORT_LINKS
from routing_testkit import Routing

ON = {
    "template_lookup": False,
    "url_shortener": True,
    "campaign_manager": False,
    "digital_asset_manager": False,
}
TEXT = "Track it at https://shop.example.com/o/77?x=1. Or http://b.example/p"


async def _content(routing: Routing, key: str, message_id: str) -> str:
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=key)
    assert status == 200
    return str(body["content"]["text"])


async def _follow(routing: Routing, shorturl: str) -> tuple[int, str | None]:
    path = shorturl[shorturl.index("/s/") :]
    async with routing.api.session.get(routing.api.base + path, allow_redirects=False) as resp:
        return resp.status, resp.headers.get("Location")


async def test_urls_are_replaced_by_short_links(routing: Routing) -> None:
    """With the app on every http(s) URL of the text is a short link; punctuation stays."""
    account = await routing.account(["sms"], apps=ON)
    message_id = await routing.api.sent(account, content={"text": TEXT})
    text = await _content(routing, account.api_key, message_id)
    links = re.findall(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{12,}", text)
    assert len(links) == 2
    assert "shop.example.com" not in text
    assert "b.example" not in text
    assert text.startswith("Track it at http://127.0.0.1:")
    assert re.search(r"/s/[A-Za-z0-9_-]{12,}\. Or ", text)


async def test_short_link_redirects_and_publishes_clicked(routing: Routing) -> None:
    """A click answers 302 to the original URL and publishes clicked with url and shorturl."""
    account = await routing.account(["sms"], apps=ON)
    message_id = await routing.api.sent(account, content={"text": TEXT}, client_ref="r1")
    await routing.events.final(message_id)
    text = await _content(routing, account.api_key, message_id)
    shorturl = re.findall(r"http://\S+/s/[A-Za-z0-9_-]+", text)[0]
    status, location = await _follow(routing, shorturl)
    assert (status, location) == (302, "https://shop.example.com/o/77?x=1")
    event = await routing.events.wait(message_id, "clicked")
    CloudEvent[StatusData].model_validate(event)
    data = event["data"]
    assert (data["url"], data["shorturl"]) == ("https://shop.example.com/o/77?x=1", shorturl)
    assert (data["client_ref"], data["channel"], data["final"]) == ("r1", "sms", False)
    assert data["account_id"] == account.account_id


async def test_link_urls_are_sealed_unless_the_account_stores_content(routing: Routing) -> None:
    """Under encrypt_and_store the link bucket holds the URL sealed; the link still works."""
    account = await routing.account(["sms"], apps=ON, data_protection="encrypt_and_store")
    message_id = await routing.api.sent(account, content={"text": "see https://a.example/x"})
    text = await _content(routing, account.api_key, message_id)
    kv = await routing.js.key_value(SHORT_LINKS)
    entry = await kv.get(text.rsplit("/", 1)[-1])
    assert b"a.example" not in bytes(entry.value)
    assert await _follow(routing, text) == (302, "https://a.example/x")


async def test_text_is_unchanged_with_the_app_off(routing: Routing) -> None:
    """Without the URL Shortener the text is sent as given."""
    account = await routing.account(["sms"])
    message_id = await routing.api.sent(account, content={"text": TEXT})
    assert await _content(routing, account.api_key, message_id) == TEXT


async def test_unknown_code_is_404(routing: Routing) -> None:
    """An unknown short-link code answers 404 not_found."""
    status, body = await routing.api.call("GET", "/s/AAAAAAAAAAAA")
    assert (status, body["type"]) == (404, "not_found")


@pytest.fixture
def routing_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Setting overrides from a test's parameters (none by default)."""
    return dict(getattr(request, "param", {}))


@pytest.mark.parametrize(
    "routing_settings",
    [{"short_link_ttl_seconds": 1, "short_url_base": "https://sho.rt/s/"}],
    indirect=True,
)
async def test_links_use_the_base_and_expire_after_the_ttl(routing: Routing) -> None:
    """Links are made on ROUTING_SHORT_URL_BASE and stop working after the link TTL."""
    account = await routing.account(["sms"], apps=ON)
    message_id = await routing.api.sent(account, content={"text": "see https://a.example/x"})
    text = await _content(routing, account.api_key, message_id)
    assert re.fullmatch(r"see https://sho\.rt/s/[A-Za-z0-9_-]{12,}", text)
    status, location = await _follow(routing, text)
    assert (status, location) == (302, "https://a.example/x")

    async def expired() -> bool:
        return (await _follow(routing, text))[0] == 404

    await eventually(expired, 10)
