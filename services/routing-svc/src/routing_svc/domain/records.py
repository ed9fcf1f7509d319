"""The stored form of a message (the message log record) and its `GET /v1/messages/{id}` view."""

from __future__ import annotations

from typing import Any

import orjson

from routing_svc.domain.lifecycle import Attempt, Message
from routing_svc.domain.policy import Hop


def dumps(msg: Message) -> bytes:
    """The record as stored: the dataclass's fields as JSON (what it holds in clear depends on
    the data protection)."""
    return orjson.dumps(msg)


def to_json(msg: Message) -> dict[str, Any]:
    """The stored record as a JSON object."""
    value: dict[str, Any] = orjson.loads(dumps(msg))
    return value


def from_json(raw: dict[str, Any]) -> Message:
    """A message from its stored form."""
    return Message(
        id=raw["id"],
        account_id=raw["account_id"],
        enterprise_id=raw["enterprise_id"],
        protection=raw["protection"],
        to_masked=raw["to_masked"],
        created_at=raw["created_at"],
        hops=[Hop.from_json(hop) for hop in raw["hops"]],
        attempts=[Attempt.from_json(attempt) for attempt in raw["attempts"]],
        conversational=bool(raw.get("conversational")),
        to=raw.get("to"),
        to_sealed=raw.get("to_sealed"),
        content=raw.get("content"),
        content_sealed=raw.get("content_sealed"),
        client_ref=raw.get("client_ref"),
        metadata=raw.get("metadata"),
        validity_s=raw.get("validity_s"),
        campaign_id=raw.get("campaign_id"),
        final=raw.get("final"),
        applied=raw.get("applied") or {},
        traffic_class=str(raw.get("traffic_class") or "transactional"),
        trace=raw.get("trace"),
    )


def view(msg: Message, to: str, content: dict[str, Any] | None) -> dict[str, Any]:
    """The message as `GET /v1/messages/{id}` answers it (`to`/`content` as the caller may see)."""
    return {
        "message_id": msg.id,
        "status": msg.status,
        "channel": msg.hops[0].channel if msg.hops else None,
        "to": to,
        "content": content,
        "attempts": [
            {
                "channel": attempt.channel,
                "route": attempt.route,
                "status": attempt.status,
                "reason": attempt.reason,
                "at": attempt.at,
            }
            for attempt in msg.attempts
        ],
        "client_ref": msg.client_ref,
        "campaign_id": msg.campaign_id,
    }
