"""URL Shortener clicks at the status webhook: `parley.message.clicked` goes with the
`delivery_status` filter, natively and in the CleverTap SMS format with `url` and `shorturl`."""

from __future__ import annotations

from typing import Any

from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from webhook_testkit import Account, publish_events, status_event

URL = "https://shop.example.com/o/77"
SHORT = "https://sho.rt/s/Ab3dE6gH9jK2"


def _clicked(account_id: str) -> dict[str, Any]:
    return status_event(account_id, "clicked", url=URL, shorturl=SHORT)


async def test_clicked_reaches_a_delivery_status_webhook(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """A click reaches a webhook subscribed to delivery_status, and not one subscribed to sent."""
    subscribed = Account(master, status_webhook=status_hook(receiver.url("/ds")))
    other = Account(master, status_webhook=status_hook(receiver.url("/sent"), events=["sent"]))
    for account in (subscribed, other):
        await account.publish(js)
    await start_service()
    event, ignored = _clicked(subscribed.account_id), _clicked(other.account_id)
    marker = status_event(other.account_id, "sent")
    await publish_events(js, [event, ignored, marker])
    await eventually(lambda: receiver.event_ids("/ds") == [event["id"]], 5, "clicked delivered")
    await eventually(lambda: receiver.event_ids("/sent") == [marker["id"]], 5, "marker delivered")
    (received,) = receiver.on("/ds")[0].events()
    assert (received["data"]["url"], received["data"]["shorturl"]) == (URL, SHORT)


async def test_clicked_in_clevertap_sms_carries_url_and_shorturl(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """In the CleverTap SMS format a click is a `clicked` event with `url` and `shorturl`."""
    hook = status_hook(receiver.url("/ct"), payload_format="clevertap")
    account = Account(master, status_webhook=hook)
    await account.publish(js)
    await start_service()
    await publish_events(js, [_clicked(account.account_id)])
    await eventually(lambda: len(receiver.on("/ct")) == 1, 5, "clevertap click delivered")
    (item,) = receiver.on("/ct")[0].json()
    assert item["event"] == "clicked"
    (entry,) = item["data"]
    assert (entry["url"], entry["shorturl"], entry["meta"]) == (URL, SHORT, "order-77")
