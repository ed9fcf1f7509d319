"""The app toggles of an account: Campaign Manager (`campaign_id`) and Digital Asset Manager
(`content.media_url`) allow their fields only when switched on."""

from __future__ import annotations

from typing import Any

from parley_devtools.waiting import eventually
from parley_shared.events import CloudEvent, StatusData
from routing_testkit import Routing

TEXT = "Your code is 4821"
MEDIA = "https://cdn.example.com/a/banner.png"


def apps(**on: bool) -> dict[str, Any]:
    """An `apps` block with the named apps switched on."""
    names = ("template_lookup", "url_shortener", "campaign_manager", "digital_asset_manager")
    return {name: on.get(name, False) for name in names}


async def test_campaign_id_is_refused_without_campaign_manager(routing: Routing) -> None:
    """A campaign_id on an account without Campaign Manager is 422 naming the field and the app."""
    account = await routing.account(["sms"])
    status, body = await routing.api.send(account, campaign_id="spring-sale")
    assert (status, body["type"]) == (422, "validation_error")
    assert body["errors"][0]["loc"] == ["campaign_id"]
    assert "campaign_manager" in body["errors"][0]["msg"]


async def test_campaign_id_is_logged_and_echoed_in_events(routing: Routing) -> None:
    """With Campaign Manager on, campaign_id is in the message log and in every status event."""
    account = await routing.account(["sms"], apps=apps(campaign_manager=True))
    message_id = await routing.api.sent(account, campaign_id="spring-sale")
    final = await routing.events.final(message_id)
    for event in routing.events.of(message_id):
        assert event["data"]["campaign_id"] == "spring-sale"
    CloudEvent[StatusData].model_validate(final)
    status, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert (status, body["campaign_id"]) == (200, "spring-sale")


async def test_campaign_id_is_null_when_not_given(routing: Routing) -> None:
    """Without a campaign_id the events and the log carry `campaign_id: null`."""
    account = await routing.account(["sms"], apps=apps(campaign_manager=True))
    message_id = await routing.api.sent(account)
    final = await routing.events.final(message_id)
    assert final["data"]["campaign_id"] is None
    _, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert body["campaign_id"] is None


async def test_campaign_id_length_is_validated(routing: Routing) -> None:
    """A campaign_id longer than 64 characters is 422 on campaign_id."""
    account = await routing.account(["sms"], apps=apps(campaign_manager=True))
    status, body = await routing.api.send(account, campaign_id="c" * 65)
    assert (status, body["errors"][0]["loc"]) == (422, ["campaign_id"])


async def test_media_url_is_refused_without_digital_asset_manager(routing: Routing) -> None:
    """A media_url without Digital Asset Manager is 422 on content.media_url naming the app."""
    account = await routing.account(["whatsapp"])
    content = {"text": TEXT, "media_url": MEDIA}
    status, body = await routing.api.send(account, channel="whatsapp", content=content)
    assert (status, body["type"]) == (422, "validation_error")
    assert body["errors"][0]["loc"] == ["content", "media_url"]
    assert "digital_asset_manager" in body["errors"][0]["msg"]


async def test_media_url_is_kept_with_digital_asset_manager(routing: Routing) -> None:
    """With Digital Asset Manager on, a media-only message is accepted and its URL is logged."""
    account = await routing.account(["whatsapp"], apps=apps(digital_asset_manager=True))
    message_id = await routing.api.sent(account, channel="whatsapp", content={"media_url": MEDIA})
    await routing.events.final(message_id)
    _, body = await routing.api.call("GET", f"/v1/messages/{message_id}", key=account.api_key)
    assert body["content"] == {"media_url": MEDIA}


async def test_media_url_must_be_https(routing: Routing) -> None:
    """A media_url that is not an https URL is 422 on content.media_url."""
    account = await routing.account(["whatsapp"], apps=apps(digital_asset_manager=True))
    content = {"media_url": "http://cdn.example.com/a.png"}
    status, body = await routing.api.send(account, channel="whatsapp", content=content)
    assert (status, body["errors"][0]["loc"]) == (422, ["content", "media_url"])


async def test_app_toggle_takes_effect_on_config_change(routing: Routing) -> None:
    """Switching Campaign Manager on in a newer config lets the next send carry a campaign_id."""
    account = await routing.account(["sms"])
    status, _ = await routing.api.send(account, campaign_id="c1")
    assert status == 422
    account.config["apps"] = apps(campaign_manager=True)
    account.version += 1
    await routing.accounts.publish(account)

    async def accepted() -> bool:
        status, _ = await routing.api.send(account, campaign_id="c1")
        return status == 202

    await eventually(accepted, 5)
