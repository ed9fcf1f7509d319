"""Every mapping of a Meta callback body to reports and users' messages (CONTRACT section 9)."""

from __future__ import annotations

from typing import Any

import pytest
from routing_svc.adapters.providers.whatsapp_events import Number, heard_from_meta

OWN = Number("wa-1", "+919800000001")
OTHER = Number("wa-2", "+919800000002")
NUMBERS = {"111": OWN, "222": OTHER}


def body(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    """Meta's envelope around one change `value`."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "9", "changes": [{"field": field, "value": value}]}],
    }


def status(name: str, code: int | None = None) -> dict[str, Any]:
    """One status entry of wamid.A at 1700000000."""
    item: dict[str, Any] = {
        "id": "wamid.A",
        "status": name,
        "timestamp": "1700000000",
        "recipient_id": "919876543210",
    }
    if code is not None:
        item["errors"] = [{"code": code, "title": "t"}]
    return item


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (status("delivered"), ("delivered", None)),
        (status("read"), ("read", None)),
        (status("failed", 131000), ("failed", "delivery_failed")),
        (status("failed"), ("failed", "delivery_failed")),
        (status("failed", 131026), ("failed", "invalid_number")),
        (status("failed", 131030), ("failed", "invalid_number")),
    ],
)
def test_statuses_map_to_outcomes(item: dict[str, Any], expected: tuple[str, str | None]) -> None:
    """delivered, read and failed (with its reason) become one report keyed id|status|time."""
    heard = heard_from_meta(
        body({"metadata": {"phone_number_id": "111"}, "statuses": [item]}), OWN, NUMBERS
    )
    [report] = heard.reports
    assert (report.outcome, report.reason) == expected
    assert (report.route, report.provider_id) == ("wa-1", "wamid.A")
    assert report.key == f"wamid.A|{item['status']}|1700000000"
    assert report.at.timestamp() == 1700000000


def test_sent_and_unknown_statuses_change_nothing() -> None:
    """`sent` and statuses the contract does not name make no report."""
    heard = heard_from_meta(body({"statuses": [status("sent"), status("deleted")]}), OWN, NUMBERS)
    assert heard.reports == []
    assert heard.ignored == ["status_sent", "status_deleted"]


def test_text_is_a_user_message_to_the_display_number() -> None:
    """A text message is from `+<from>` to the route's display number, keyed by its id."""
    message = {
        "from": "919876543210",
        "id": "wamid.M",
        "timestamp": "1700000001",
        "type": "text",
        "text": {"body": "STOP"},
    }
    heard = heard_from_meta(body({"messages": [message]}), OWN, NUMBERS)
    [user] = heard.messages
    assert (user.route, user.channel, user.sender, user.to, user.text, user.key) == (
        "wa-1",
        "whatsapp",
        "+919876543210",
        "+919800000001",
        "STOP",
        "wamid.M",
    )
    assert user.typing is False


@pytest.mark.parametrize("kind", ["image", "audio", "location", "reaction", "interactive"])
def test_other_message_types_are_acknowledged_not_carried(kind: str) -> None:
    """A non-text message makes no user message and is listed as ignored by its type."""
    message = {"from": "919876543210", "id": "wamid.M", "timestamp": "1", "type": kind, kind: {}}
    heard = heard_from_meta(body({"messages": [message]}), OWN, NUMBERS)
    assert (heard.messages, heard.ignored) == ([], [f"message_{kind}"])


def test_a_change_for_another_number_goes_to_that_numbers_route() -> None:
    """Meta sends every number of an app to one URL: the phone number id picks the route."""
    message = {
        "from": "919876543210",
        "id": "wamid.M",
        "timestamp": "1",
        "type": "text",
        "text": {"body": "hi"},
    }
    value = {
        "metadata": {"phone_number_id": "222"},
        "statuses": [status("read")],
        "messages": [message],
    }
    heard = heard_from_meta(body(value), OWN, NUMBERS)
    assert heard.reports[0].route == "wa-2"
    assert (heard.messages[0].route, heard.messages[0].to) == ("wa-2", "+919800000002")


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"entry": "x"},
        {"entry": [{"changes": [{"field": "messages", "value": 3}]}]},
        body({"statuses": [{"status": "read"}], "messages": ["x"]}),
        body({"statuses": "nope"}),
        body({"statuses": [status("read")]}, field="account_update"),
    ],
)
def test_malformed_bodies_carry_nothing_and_do_not_raise(payload: Any) -> None:
    """Odd shapes are skipped item by item; nothing raises, nothing is invented."""
    heard = heard_from_meta(payload, OWN, NUMBERS)
    assert heard.reports == []
    assert heard.messages == []
