"""RBM message ids and every mapping of RBM push data (CONTRACT section 9)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from routing_svc.adapters.providers.rbm_events import (
    Agent,
    heard_from_rbm,
    message_uuid,
    route_tag,
    tag_of,
)

AGENT = Agent("rcs-rbm-airtel", "parley_agent")
TAGS = {route_tag("rcs-rbm-airtel"): "rcs-rbm-airtel", route_tag("rcs-rbm-jio"): "rcs-rbm-jio"}
USER = "+919876543210"


def data(**fields: Any) -> bytes:
    """Push data as RBM encodes it before base64."""
    return orjson.dumps(
        {
            "senderPhoneNumber": USER,
            "agentId": "parley_agent@rbm.goog",
            "sendTime": "2026-11-26T10:00:00.123456789Z",
            **fields,
        }
    )


def test_message_ids_are_uuid4_stable_per_attempt_and_route() -> None:
    """The same attempt on the same route always gets the same UUID; anything else another."""
    first = message_uuid("msg_1", 1, "rcs-rbm-airtel")
    assert first == message_uuid("msg_1", 1, "rcs-rbm-airtel")
    assert uuid.UUID(first).version == 4
    assert uuid.UUID(first).variant == uuid.RFC_4122
    others = {
        message_uuid("msg_1", 2, "rcs-rbm-airtel"),
        message_uuid("msg_2", 1, "rcs-rbm-airtel"),
    }
    assert first not in others
    assert tag_of(message_uuid("msg_1", 1, "rcs-rbm-jio")) == route_tag("rcs-rbm-jio")
    assert tag_of("not-a-uuid") is None


@pytest.mark.parametrize(("event", "outcome"), [("DELIVERED", "delivered"), ("READ", "read")])
def test_delivered_and_read_are_reports_on_the_sending_route(event: str, outcome: str) -> None:
    """An event for a message sent on route jio, pushed to airtel's URL, reports on jio."""
    ours = message_uuid("msg_1", 1, "rcs-rbm-jio")
    heard = heard_from_rbm(data(eventType=event, eventId="E", messageId=ours), "ps-1", AGENT, TAGS)
    [report] = heard.reports
    assert (report.route, report.provider_id, report.outcome, report.reason, report.key) == (
        "rcs-rbm-jio",
        ours,
        outcome,
        None,
        "ps-1",
    )
    assert report.at.year == 2026


def test_an_event_for_a_foreign_message_id_reports_on_the_callback_route() -> None:
    """A messageId that is not one of ours (no known tag) is reported on the callback's route."""
    heard = heard_from_rbm(data(eventType="DELIVERED", messageId="123"), "ps", AGENT, TAGS)
    assert heard.reports[0].route == "rcs-rbm-airtel"


def test_typing_and_text_are_users_messages_to_the_agent() -> None:
    """IS_TYPING is typing, a text a message, both from the sender to the route's agent id."""
    typing = heard_from_rbm(data(eventType="IS_TYPING", eventId="E"), "ps-1", AGENT, TAGS)
    text = heard_from_rbm(data(messageId="MsX", text="hello"), "ps-2", AGENT, TAGS)
    [t], [m] = typing.messages, text.messages
    assert (t.typing, t.text, t.sender, t.to, t.key, t.channel) == (
        True,
        None,
        USER,
        "parley_agent",
        "ps-1",
        "rcs",
    )
    assert (m.typing, m.text, m.sender, m.to, m.key) == (
        False,
        "hello",
        USER,
        "parley_agent",
        "ps-2",
    )


@pytest.mark.parametrize(
    ("raw", "ignored"),
    [
        (b"not json", "data_unreadable"),
        (data(eventType="DELIVERED"), "event_without_message_id"),
        (data(eventType="IS_READING"), "event_IS_READING"),
        (data(suggestionResponse={"postbackData": "x", "text": "Yes"}), "message_not_text"),
        (orjson.dumps({"text": "hi"}), "without_sender"),
    ],
)
def test_anything_else_is_acknowledged_not_carried(raw: bytes, ignored: str) -> None:
    """Other events, suggestion responses, unreadable data: nothing carried, one ignored item."""
    heard = heard_from_rbm(raw, "ps", AGENT, TAGS)
    assert (heard.reports, heard.messages, heard.ignored) == ([], [], [ignored])
