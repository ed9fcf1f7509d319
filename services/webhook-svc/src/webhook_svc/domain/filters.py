"""Which events a webhook subscribed to (CONTRACT 4 and 8).

A status webhook's `events` name filters: `delivery_status` = delivered + failed (+ fallback
when `intermediate_delivery_notification` is on) + clicked (URL Shortener); `sent`; `read`;
`typing`. Late reports
(`data.late: true`) are judged by their type like any other event. The `user_initiated`
webhook takes inbound messages only.
"""

from __future__ import annotations

from typing import Final

from parley_shared.events import (
    INBOUND_MESSAGE,
    MESSAGE_CLICKED,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    MESSAGE_FALLBACK,
    MESSAGE_READ,
    MESSAGE_SENT,
    MESSAGE_TYPING,
)

from webhook_svc.domain.webhooks import STATUS, USER_INITIATED, Webhook

FILTER_OF: Final[dict[str, str]] = {
    MESSAGE_DELIVERED: "delivery_status",
    MESSAGE_FAILED: "delivery_status",
    MESSAGE_FALLBACK: "delivery_status",
    MESSAGE_SENT: "sent",
    MESSAGE_READ: "read",
    MESSAGE_TYPING: "typing",
    MESSAGE_CLICKED: "delivery_status",
}
"""Status event type -> the webhook filter that selects it."""


def status_wanted(events: frozenset[str], intermediate: bool, event_type: str) -> bool:
    """Whether a status webhook with these filters takes an event of `event_type`."""
    name = FILTER_OF.get(event_type)
    if name is None or name not in events:
        return False
    return event_type != MESSAGE_FALLBACK or intermediate


def wanted(hook: Webhook, event_type: str) -> bool:
    """Whether `hook` takes an event of `event_type`."""
    if hook.kind == STATUS:
        return status_wanted(hook.events, hook.intermediate, event_type)
    return hook.kind == USER_INITIATED and event_type == INBOUND_MESSAGE
