"""RBM message ids and what a verified RBM callback says (CONTRACT section 9): pure, so every
mapping is unit-tested without a network.

Message ids. RBM wants a UUID per agent message and ignores a message whose id was used
before, so an attempt's id is derived, not drawn: the same attempt sent again (after a timeout)
carries the same id and cannot reach the user twice. Its last two bytes are a tag of the route
that sent it: an agent has one webhook, so when several routes (one per carrier) carry the same
agent, a DELIVERED event for a message of route B may arrive at route A's callback URL; the tag
says it belongs to B, under whose name routing-svc recorded the id.

Callback data (the base64-decoded `message.data` of a Pub/Sub push):
- `eventType` DELIVERED / READ with our `messageId` -> delivered / read (keyed by that id);
- `eventType` IS_TYPING -> typing from `senderPhoneNumber` to the agent;
- `text` -> a user's message from `senderPhoneNumber` to the agent (the route's `agent_id`);
- anything else (other events, suggestion responses, locations, files) is acknowledged and
  counted, not carried.
The report or message key is Pub/Sub's `messageId` (a redelivery carries the same one).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from routing_svc.adapters.providers.heard import Heard
from routing_svc.domain.channels import InboundMessage, Outcome, ProviderReport
from routing_svc.domain.msisdn import is_e164

OUTCOMES: dict[str, Outcome] = {"DELIVERED": "delivered", "READ": "read"}
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True)
class Agent:
    """A route's RBM agent: the route, and the agent id users write to."""

    route: str
    agent_id: str


def route_tag(route: str) -> bytes:
    """The two bytes of a route's name carried in its message ids."""
    return hashlib.sha256(route.encode()).digest()[:2]


def message_uuid(message_id: str, attempt: int, route: str) -> str:
    """The RBM `messageId` of attempt `attempt` of a message on `route` (a version 4 UUID)."""
    raw = bytearray(hashlib.sha256(f"{message_id}/{attempt}".encode()).digest()[:14])
    raw += route_tag(route)
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def tag_of(message_id: str) -> bytes | None:
    """The route tag of one of our message ids (None when it is not a UUID)."""
    try:
        return uuid.UUID(message_id).bytes[14:]
    except (ValueError, AttributeError, TypeError):
        return None


def _at(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
        except ValueError:
            return datetime.now(UTC)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def heard_from_rbm(
    data: bytes, key: str, agent: Agent, tags: Mapping[bytes, str], publish_time: Any = None
) -> Heard:
    """What the decoded `data` of a push arriving on `agent.route` carries; `tags` maps the
    route tags of the provider's routes to their names."""
    heard = Heard()
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        event = None
    if not isinstance(event, dict):
        heard.ignored.append("data_unreadable")
        return heard
    at = _at(event.get("sendTime") or publish_time)
    sender = event.get("senderPhoneNumber")
    kind = event.get("eventType")
    if kind in OUTCOMES:
        ours = event.get("messageId")
        if not isinstance(ours, str) or not ours:
            heard.ignored.append("event_without_message_id")
            return heard
        route = tags.get(tag_of(ours) or b"", agent.route)
        heard.reports.append(ProviderReport(route, ours, OUTCOMES[kind], None, at, key=key))
        return heard
    if not isinstance(sender, str) or not is_e164(sender):
        heard.ignored.append(f"event_{str(kind)[:24]}" if kind else "without_sender")
        return heard
    if kind == "IS_TYPING":
        heard.messages.append(
            InboundMessage(agent.route, "rcs", sender, agent.agent_id, None, at, key, typing=True)
        )
    elif kind is not None:
        heard.ignored.append(f"event_{str(kind)[:24]}")
    elif isinstance(event.get("text"), str) and event["text"]:
        text = event["text"][:4096]
        heard.messages.append(
            InboundMessage(agent.route, "rcs", sender, agent.agent_id, text, at, key)
        )
    else:
        heard.ignored.append("message_not_text")
    return heard
