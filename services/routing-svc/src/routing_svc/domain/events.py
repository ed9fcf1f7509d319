"""Native CloudEvents of CONTRACT section 4, with ids that never change across republishes.

An event id is derived from what it reports (message, attempt, kind), so a handler that
republishes after a crash sends the same id and the same `Nats-Msg-Id`, and JetStream drops the
duplicate. Every `data` key is present, `null` when it does not apply (`campaign_id` too, a
compatible addition for the Campaign Manager app); `late` only when true.
"""

from __future__ import annotations

import hashlib
from typing import Any

from parley_shared.events import (
    INBOUND_MESSAGE,
    MESSAGE_CLICKED,
    MESSAGE_TYPING,
    new_event_id,
    source_for,
)

from routing_svc.domain.lifecycle import EventSpec, Message
from routing_svc.domain.links import Link

EVENT_PREFIX = "parley.message."


def stable_id(*parts: object) -> str:
    """`evt_` + 26 hex digits of sha256 over the parts."""
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).hexdigest()
    return "evt_" + digest[:26]


def event_id(message_id: str, spec: EventSpec) -> str:
    """The id of one status event of a message."""
    return stable_id(message_id, spec.attempt, spec.kind, "late" if spec.late else "")


def _cloud_event(
    *, event_id_: str, kind: str, account_id: str, subject: str, at: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id_,
        "type": kind,
        "source": source_for(account_id),
        "subject": subject,
        "time": at,
        "datacontenttype": "application/json",
        "data": data,
    }


def status_event(msg: Message, spec: EventSpec, recipient: str) -> dict[str, Any]:
    """The status event of `spec` (recipient already masked where the account wants it)."""
    attempt = msg.attempts[spec.attempt - 1]
    data: dict[str, Any] = {
        "message_id": msg.id,
        "account_id": msg.account_id,
        "client_ref": msg.client_ref,
        "channel": attempt.channel,
        "route": attempt.route,
        "sender": attempt.sender,
        "recipient": recipient,
        "status": spec.status,
        "reason": spec.reason,
        "attempt": spec.attempt,
        "fallback_from": msg.fallback_from(spec.attempt),
        "fallback_to": spec.fallback_to,
        "final": spec.final,
        "metadata": msg.metadata,
        "campaign_id": msg.campaign_id,
    }
    if spec.late:
        data["late"] = True
    return _cloud_event(
        event_id_=event_id(msg.id, spec),
        kind=EVENT_PREFIX + spec.kind,
        account_id=msg.account_id,
        subject=msg.id,
        at=spec.at,
        data=data,
    )


def click_event(
    *,
    account_id: str,
    message_id: str,
    msg: Message | None,
    recipient: str | None,
    link: Link,
    at: str,
) -> dict[str, Any]:
    """`parley.message.clicked`: the recipient followed a short link of the message (a new id
    per click; `msg` is None once the message log forgot the message)."""
    last = msg.attempts[-1] if msg is not None and msg.attempts else None
    data: dict[str, Any] = {
        "message_id": message_id,
        "account_id": account_id,
        "client_ref": msg.client_ref if msg is not None else None,
        "channel": last.channel if last is not None else None,
        "route": last.route if last is not None else None,
        "sender": last.sender if last is not None else None,
        "recipient": recipient,
        "status": None,
        "reason": None,
        "attempt": last.n if last is not None else None,
        "fallback_from": msg.fallback_from(last.n) if msg is not None and last else None,
        "fallback_to": None,
        "final": False,
        "metadata": msg.metadata if msg is not None else None,
        "campaign_id": msg.campaign_id if msg is not None else None,
        "url": link.url,
        "shorturl": link.shorturl,
    }
    return _cloud_event(
        event_id_=new_event_id(),
        kind=MESSAGE_CLICKED,
        account_id=account_id,
        subject=message_id,
        at=at,
        data=data,
    )


def typing_event(
    *,
    account_id: str,
    subject_id: str,
    inbound_id: str,
    channel: str,
    sender: str,
    user: str,
    at: str,
) -> dict[str, Any]:
    """`parley.message.typing`: a user is typing to `sender` (`subject_id`: their thread)."""
    data: dict[str, Any] = {
        "message_id": subject_id,
        "account_id": account_id,
        "client_ref": None,
        "channel": channel,
        "route": None,
        "sender": sender,
        "recipient": user,
        "status": None,
        "reason": None,
        "attempt": None,
        "fallback_from": None,
        "fallback_to": None,
        "final": False,
        "metadata": None,
        "campaign_id": None,
    }
    eid = stable_id(inbound_id, account_id, "typing")
    return _cloud_event(
        event_id_=eid,
        kind=MESSAGE_TYPING,
        account_id=account_id,
        subject=subject_id,
        at=at,
        data=data,
    )


def inbound_event(
    *,
    inbound_id: str,
    account_id: str,
    channel: str,
    user: str,
    to: str,
    text: str,
    in_reply_to: str | None,
    at: str,
) -> dict[str, Any]:
    """`parley.inbound.message`: a user wrote `text` to the account's sender `to`."""
    data: dict[str, Any] = {
        "inbound_id": inbound_id,
        "account_id": account_id,
        "channel": channel,
        "from": user,
        "to": to,
        "text": text,
        "in_reply_to": in_reply_to,
        "received_at": at,
        "metadata": None,
    }
    eid = stable_id(inbound_id, account_id, "inbound")
    return _cloud_event(
        event_id_=eid,
        kind=INBOUND_MESSAGE,
        account_id=account_id,
        subject=inbound_id,
        at=at,
        data=data,
    )
