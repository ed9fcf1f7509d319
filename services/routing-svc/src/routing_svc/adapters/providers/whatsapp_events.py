"""What a verified WhatsApp Cloud API callback body says (CONTRACT section 9), as reports and
users' messages: pure, so every mapping is unit-tested without a network.

Meta's body: `{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field":
"messages", "value": {"metadata": {"display_phone_number", "phone_number_id"}, "statuses":
[...], "messages": [...]}}]}]}`.

- status `delivered` -> delivered, `read` -> read, `failed` -> failed `delivery_failed`, or
  `invalid_number` when its `errors[].code` is 131026 (undeliverable: not a WhatsApp user) or
  131030 (not in the test number's allowed list) — the same codes a send's 400 maps to
  `invalid_number`; `sent` (and any other status) changes nothing;
- a message of type `text` is a user's message from `+<from>` to the route's display number;
  every other type (image, audio, video, document, sticker, location, contacts, reaction,
  button, interactive, order, system, unsupported) is acknowledged and counted, not carried:
  an inbound event has only `text`.

The report key is the status's `id|status|timestamp` (Meta resends the same status with the
same values), the message key its `id`. A change for another phone number of the same app
(Meta sends every number's callbacks to the app's one URL) goes to the route of that number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from routing_svc.adapters.providers.heard import Heard
from routing_svc.domain.channels import FailureReason, InboundMessage, Outcome, ProviderReport

INVALID_NUMBER_CODES = frozenset({131026, 131030})
OUTCOMES: dict[str, Outcome] = {"delivered": "delivered", "read": "read", "failed": "failed"}


@dataclass(frozen=True)
class Number:
    """A route's WhatsApp phone number: the route and the number users write to."""

    route: str
    display_number: str


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _at(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def _reason(status: Mapping[str, Any]) -> FailureReason:
    errors = status.get("errors")
    codes = set()
    if isinstance(errors, list):
        codes = {e.get("code") for e in errors if isinstance(e, dict)}
    return "invalid_number" if codes & INVALID_NUMBER_CODES else "delivery_failed"


def _status(item: Any, route: str, heard: Heard) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        heard.ignored.append("status_unreadable")
        return
    outcome = OUTCOMES.get(str(item.get("status")))
    if outcome is None:
        heard.ignored.append(f"status_{str(item.get('status'))[:20]}")
        return
    reason = _reason(item) if outcome == "failed" else None
    stamp = item.get("timestamp")
    heard.reports.append(
        ProviderReport(
            route,
            item["id"],
            outcome,
            reason,
            _at(stamp),
            key=f"{item['id']}|{item.get('status')}|{stamp}",
        )
    )


def _message(item: Any, number: Number, heard: Heard) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        heard.ignored.append("message_unreadable")
        return
    kind = str(item.get("type"))
    text = item.get("text", {}).get("body") if isinstance(item.get("text"), dict) else None
    sender = str(item.get("from", ""))
    if kind != "text" or not isinstance(text, str) or not text or not sender.isdigit():
        heard.ignored.append(f"message_{kind[:20]}")
        return
    heard.messages.append(
        InboundMessage(
            number.route,
            "whatsapp",
            "+" + sender,
            number.display_number,
            text[:4096],
            _at(item.get("timestamp")),
            key=item["id"],
        )
    )


def heard_from_meta(payload: Any, route: Number, numbers: Mapping[str, Number]) -> Heard:
    """The reports and messages of a Meta callback body arriving on `route`; `numbers` maps
    each phone number id of the provider to its route."""
    heard = Heard()
    entries = _list(payload.get("entry")) if isinstance(payload, dict) else []
    for entry in entries:
        for change in _list(entry.get("changes")) if isinstance(entry, dict) else []:
            if not isinstance(change, dict) or change.get("field") != "messages":
                heard.ignored.append("change_other_field")
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                heard.ignored.append("change_unreadable")
                continue
            metadata = value.get("metadata")
            number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            number = numbers.get(str(number_id), route)
            for status in _list(value.get("statuses")):
                _status(status, number.route, heard)
            for message in _list(value.get("messages")):
                _message(message, number, heard)
    return heard
