"""Webhook payload formats as pure functions (CONTRACT 7 and 8).

`render` maps one event to an `Item`: the JSON of that event in the format, and the group it
can share a body with; None when the format cannot express it (the caller skips and counts
it). `assemble` joins the items of one batch into the body that is sent.

- native: the CloudEvent itself, the webhook's metadata pairs merged into `data.metadata`
  (a pair wins over a message metadata key of the same name); a batch is a JSON array.
- clevertap: SMS `[{"event": "delivered"|"failed"|"clicked", "data": [{"ts", "meta",
  "code"?, "url"?, "shorturl"?, "description"}]}]`, one element per event, `ts` unix seconds
  (`clicked`, URL Shortener, carries `url` and `shorturl`); WhatsApp/RCS/Truecaller
  `{"payloadVersion": "0.1", "statuses": [{"msgId", "status", "timestamp", "error"?}]}`.
  SMS and the other channels never share a body (they are different shapes).
- moengage: `{"statuses": [{"callback_data", "status": "<CHANNEL>_SENT|..", "timestamp",
  "error_message"?}]}`.
- webengage: one object per event, `status` `<channel>_sent` (= delivered), `_failed`, `_read`.

Our choices where the contract is silent: an intermediate `fallback` event (a failed attempt)
is rendered as a failure; failures carry the `reason` as code and a short description;
`typing` and inbound messages exist only in the native format; `clicked` only in native and
CleverTap SMS; an event without a channel
or a valid `time` cannot be expressed outside native.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from parley_shared.events import (
    MESSAGE_CLICKED,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    MESSAGE_FALLBACK,
    MESSAGE_READ,
    MESSAGE_SENT,
    dumps,
)
from parley_shared.timefmt import parse_ts

NATIVE: Final = "native"
CLEVERTAP: Final = "clevertap"
MOENGAGE: Final = "moengage"
WEBENGAGE: Final = "webengage"
FORMATS: Final = frozenset({NATIVE, CLEVERTAP, MOENGAGE, WEBENGAGE})
CHANNELS: Final = frozenset({"rcs", "sms", "truecaller", "whatsapp"})

GROUP_ANY: Final = ""
GROUP_SMS: Final = "sms"
GROUP_OTT: Final = "ott"

OUTCOME: Final[dict[str, str]] = {
    MESSAGE_SENT: "sent",
    MESSAGE_DELIVERED: "delivered",
    MESSAGE_READ: "read",
    MESSAGE_FAILED: "failed",
    MESSAGE_FALLBACK: "failed",
    MESSAGE_CLICKED: "clicked",
}
"""Status event type -> the outcome non-native formats report (typing has none)."""

DESCRIPTION: Final[dict[str | None, str]] = {
    "delivery_failed": "Delivery failed",
    "invalid_number": "Invalid number",
    "validity_expired": "Validity expired",
    "dr_ttl_expired": "No delivery report within the DR TTL",
    "profile_not_found": "Recipient profile not found",
    "expired_in_queue": "Expired before dispatch",
    None: "Failed",
}
SUCCESS_TEXT: Final = {
    "sent": "Sent",
    "delivered": "Delivered",
    "read": "Read",
    "clicked": "Clicked",
}
MOENGAGE_SUFFIX: Final = {
    "sent": "SENT",
    "delivered": "DELIVERED",
    "read": "READ",
    "failed": "DELIVERY_FAILED",
}
WEBENGAGE_SUFFIX: Final = {"delivered": "sent", "failed": "failed", "read": "read"}
WEBENGAGE_OK: Final = 0
WEBENGAGE_FAILED: Final = 2009


@dataclass(frozen=True, slots=True)
class Item:
    """One event rendered in a format, and the group of events it may be batched with."""

    group: str
    body: bytes


def native_event(event: Mapping[str, Any], pairs: Mapping[str, str]) -> dict[str, Any]:
    """The CloudEvent with the webhook's metadata pairs added to `data.metadata`."""
    data = dict(event.get("data") or {})
    data["metadata"] = {**(data.get("metadata") or {}), **pairs}
    return {**event, "data": data}


def _native(event: Mapping[str, Any], raw: bytes | None, pairs: Mapping[str, str]) -> bytes:
    if pairs:
        return dumps(native_event(event, pairs))
    return raw if raw is not None else dumps(dict(event))


def _unix(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(parse_ts(value).timestamp())
    except ValueError:
        return None


def _description(outcome: str, reason: str | None) -> str:
    if outcome == "failed":
        return DESCRIPTION.get(reason, DESCRIPTION[None])
    return SUCCESS_TEXT[outcome]


def _clevertap(outcome: str, data: Mapping[str, Any], ts: int) -> Item | None:
    reason = data.get("reason")
    if data.get("channel") == "sms":
        if outcome not in ("delivered", "failed", "clicked"):
            return None
        entry: dict[str, Any] = {"ts": ts, "meta": data.get("client_ref")}
        if outcome == "failed":
            entry["code"] = reason
        if outcome == "clicked":
            entry["url"], entry["shorturl"] = data.get("url"), data.get("shorturl")
        entry["description"] = _description(outcome, reason)
        return Item(GROUP_SMS, dumps({"event": outcome, "data": [entry]}))
    status: dict[str, Any] = {
        "msgId": data.get("client_ref") or data.get("message_id"),
        "status": outcome,
        "timestamp": str(ts),
    }
    if outcome == "clicked":
        return None
    if outcome == "failed":
        status["error"] = {"code": reason, "title": _description(outcome, reason)}
    return Item(GROUP_OTT, dumps(status))


def _moengage(outcome: str, data: Mapping[str, Any], ts: int) -> Item | None:
    if outcome not in MOENGAGE_SUFFIX:
        return None
    status: dict[str, Any] = {
        "callback_data": data.get("client_ref"),
        "status": f"{str(data['channel']).upper()}_{MOENGAGE_SUFFIX[outcome]}",
        "timestamp": str(ts),
    }
    if outcome == "failed":
        status["error_message"] = _description(outcome, data.get("reason"))
    return Item(GROUP_ANY, dumps(status))


def _webengage(outcome: str, data: Mapping[str, Any]) -> Item | None:
    suffix = WEBENGAGE_SUFFIX.get(outcome)
    if suffix is None:
        return None
    failed = outcome == "failed"
    body = {
        "version": "1.0",
        "messageId": data.get("client_ref"),
        "toNumber": str(data.get("recipient") or "").lstrip("+"),
        "status": f"{data['channel']}_{suffix}",
        "statusCode": WEBENGAGE_FAILED if failed else WEBENGAGE_OK,
        "message": _description(outcome, data.get("reason")),
    }
    return Item(GROUP_ANY, dumps(body))


def render(
    payload_format: str,
    event: Mapping[str, Any],
    pairs: Mapping[str, str],
    raw: bytes | None = None,
) -> Item | None:
    """`event` in `payload_format` (`raw`: its JSON as received, reused when unchanged)."""
    if payload_format == NATIVE:
        return Item(GROUP_ANY, _native(event, raw, pairs))
    outcome = OUTCOME.get(str(event.get("type")))
    data = event.get("data")
    if outcome is None or not isinstance(data, Mapping) or data.get("channel") not in CHANNELS:
        return None
    if payload_format == WEBENGAGE:
        return _webengage(outcome, data)
    ts = _unix(event.get("time"))
    if ts is None or payload_format not in (CLEVERTAP, MOENGAGE):
        return None
    if payload_format == CLEVERTAP:
        return _clevertap(outcome, data, ts)
    return _moengage(outcome, data, ts)


def _array(items: Sequence[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


def assemble(payload_format: str, group: str, items: Sequence[bytes], batched: bool) -> bytes:
    """The body of one delivery: the items of one batch (one item when not batched)."""
    if not items:
        raise ValueError("a delivery needs at least one event")
    if payload_format == CLEVERTAP:
        if group == GROUP_SMS:
            return _array(items)
        return b'{"payloadVersion":"0.1","statuses":' + _array(items) + b"}"
    if payload_format == MOENGAGE:
        return b'{"statuses":' + _array(items) + b"}"
    if batched and payload_format == NATIVE:
        return _array(items)
    if len(items) != 1:
        raise ValueError(f"{payload_format} without batching takes one event per body")
    return items[0]
