"""Whether a message from STATUS, INBOUND or WEBHOOK_RETRY can ever be handled.

A message that fails here never will, however often it is delivered: its consumer terminates
it (`term`), logs it once (ids and the reason, never the body) and counts it, instead of
giving it back forever. The checks are what the rest of webhook-svc relies on, no more: an
event is a JSON object with a string `id` and `type` and an object `data` whose `account_id`
is the account its subject names (an event never reaches another account's webhook); a
`metadata` is an object or null. An unknown event `type` is *not* invalid: it is skipped as
not subscribed, so a new kind of event cannot set off the poison alarms.
"""

from __future__ import annotations

from typing import Any, Final

from webhook_svc.domain.records import Delivery
from webhook_svc.domain.webhooks import KINDS

MAX_ID_LENGTH: Final = 256


def event_problem(event: Any, account_id: str) -> str | None:
    """Why a decoded STATUS / INBOUND event can never be delivered, or None when it can."""
    if not isinstance(event, dict):
        return "not a JSON object"
    data = event.get("data")
    has_data = isinstance(data, dict)
    fields: dict[str, Any] = data if isinstance(data, dict) else {}
    checks = (
        (_text(event.get("id")), "id is not a non-empty string"),
        (_text(event.get("type")), "type is not a non-empty string"),
        (has_data, "data is not an object"),
        (fields.get("account_id") == account_id, _NOT_HERE),
        (isinstance(fields.get("metadata"), dict | None), _METADATA),
        (isinstance(event.get("time"), str | None), "time is not a string"),
    )
    return _first_failed(checks)


def delivery_problem(delivery: Delivery, account_id: str) -> str | None:
    """Why a decoded WEBHOOK_RETRY record can never be attempted, or None when it can."""
    checks = (
        (delivery.account_id == account_id, "account_id is not the account of the subject"),
        (delivery.kind in KINDS, "kind is not a webhook kind"),
        (_text(delivery.batch_id), "batch_id is not a non-empty string"),
        (bool(delivery.event_ids), "event_ids is empty"),
        (delivery.attempt >= 1, "attempt is below 1"),
        (bool(delivery.body), "the body is empty"),
    )
    return _first_failed(checks)


_NOT_HERE: Final = "data.account_id is not the account of the subject"
_METADATA: Final = "data.metadata is not an object"


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _first_failed(checks: tuple[tuple[bool, str], ...]) -> str | None:
    return next((why for passed, why in checks if not passed), None)
