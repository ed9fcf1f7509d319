"""Webhook payload formats as pure functions (CONTRACT 7 and 8).

`render` maps one event to an `Item`: the JSON of that event in the format, and the group it
can share a body with; None when the format cannot express it (`unexpressible` says why).
`assemble` joins the items of one batch into the body that is sent.

- native: the CloudEvent itself, the webhook's metadata pairs merged into `data.metadata`
  (a pair wins over a message metadata key of the same name); a batch is a JSON array.
- clevertap: SMS `[{"event": "delivered"|"failed"|"clicked"|"replied", "data": [{...}]}]`,
  one element per event, `ts` unix seconds (`clicked`, URL Shortener, carries `url` and
  `shorturl`; `replied`, an inbound message, `meta`, `toPhone` and `incomingText`);
  WhatsApp/RCS/Truecaller statuses `{"payloadVersion": "0.1", "statuses": [{"msgId",
  "status", "timestamp", "error"?}]}`, and inbound messages CleverTap's WhatsApp incoming
  message callback `{"payloadVersion": "0.1", "from", "wabaNumber", "timestamp", "type":
  "text", "context"?: {"id"}, "text": {"body"}}` (one per body). SMS and the other channels
  never share a body (they are different shapes).
- moengage: `{"statuses": [{"callback_data", "status": "<CHANNEL>_SENT|..", "timestamp",
  "error_message"?}]}`.
- webengage: one object per event, `status` `<channel>_sent` (= delivered), `_failed`, `_read`.

Inbound messages (`parley.inbound.message`) exist in native and CleverTap only
(`INBOUND_FORMATS`): CleverTap documents an inbound shape (SMS `replied` callbacks, the
WhatsApp incoming message callback); MoEngage's and WebEngage's provider integrations
document none we could find, so account-svc refuses them for `webhooks.user_initiated` and
an inbound event that reaches one anyway (an account stored before that rule) is
dead-lettered by the intake with `unexpressible`'s reason, never skipped.

`late` and the metadata (the message's own plus the webhook's pairs, pairs winning) travel
only where a format has a documented place for keys of ours: native `data`, and the entries
of CleverTap SMS callbacks, whose documentation says keys it does not define are
disregarded without error (`late: true` only on a late report, `metadata` only when not
empty). Every other shape loses them (the pairs still travel as `x-parley-meta-*` headers);
the service README has the table.

Our choices where the contract is silent: an intermediate `fallback` event (a failed attempt)
is rendered as a failure; failures carry the `reason` as code and a short description;
`typing` exists only in the native format; `clicked` only in native and CleverTap SMS; an
event without a channel or a valid `time` cannot be expressed outside native.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from parley_shared.events import (
    INBOUND_MESSAGE,
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
INBOUND_FORMATS: Final = frozenset({NATIVE, CLEVERTAP})
"""Formats with a documented inbound shape (the only ones account-svc allows for
`webhooks.user_initiated`)."""
CHANNELS: Final = frozenset({"rcs", "sms", "truecaller", "whatsapp"})

GROUP_ANY: Final = ""
GROUP_SMS: Final = "sms"
GROUP_OTT: Final = "ott"
GROUP_OTT_INBOUND: Final = "ott_inbound"

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
CLEVERTAP_PAYLOAD_VERSION: Final = "0.1"


@dataclass(frozen=True, slots=True)
class Item:
    """One event rendered in a format, and the group of events it may be batched with."""

    group: str
    body: bytes


def merged_metadata(data: Mapping[str, Any], pairs: Mapping[str, str]) -> dict[str, Any]:
    """The message's own metadata with the webhook's pairs added (a pair wins)."""
    own = data.get("metadata")
    return {**(own if isinstance(own, Mapping) else {}), **pairs}


def native_event(event: Mapping[str, Any], pairs: Mapping[str, str]) -> dict[str, Any]:
    """The CloudEvent with the webhook's metadata pairs added to `data.metadata`."""
    data = dict(event.get("data") or {})
    data["metadata"] = merged_metadata(data, pairs)
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


def _no_plus(value: Any) -> str:
    return str(value or "").lstrip("+")


def _description(outcome: str, reason: str | None) -> str:
    if outcome == "failed":
        return DESCRIPTION.get(reason, DESCRIPTION[None])
    return SUCCESS_TEXT[outcome]


def _custom(data: Mapping[str, Any], pairs: Mapping[str, str]) -> dict[str, Any]:
    """`late` and the metadata, for a shape whose receiver disregards keys it does not define
    (CleverTap SMS callbacks): added only when there is something to say."""
    extra: dict[str, Any] = {}
    if data.get("late") is True:
        extra["late"] = True
    metadata = merged_metadata(data, pairs)
    if metadata:
        extra["metadata"] = metadata
    return extra


def _clevertap(
    outcome: str, data: Mapping[str, Any], ts: int, pairs: Mapping[str, str]
) -> Item | None:
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
        entry.update(_custom(data, pairs))
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


def _clevertap_inbound(data: Mapping[str, Any], ts: int, pairs: Mapping[str, str]) -> Item | None:
    """SMS: a `replied` callback, which CleverTap attributes by `meta` alone (the message
    replied to), so a message that answers none cannot be expressed. Other channels:
    CleverTap's WhatsApp incoming message callback, `context` only when it answers one."""
    reply_to = data.get("in_reply_to")
    text = str(data.get("text") or "")
    if data.get("channel") == "sms":
        if not reply_to:
            return None
        entry: dict[str, Any] = {
            "ts": ts,
            "meta": reply_to,
            "toPhone": _no_plus(data.get("to")),
            "incomingText": text,
            **_custom(data, pairs),
        }
        return Item(GROUP_SMS, dumps({"event": "replied", "data": [entry]}))
    body: dict[str, Any] = {
        "payloadVersion": CLEVERTAP_PAYLOAD_VERSION,
        "from": _no_plus(data.get("from")),
        "wabaNumber": _no_plus(data.get("to")),
        "timestamp": str(ts),
        "type": "text",
    }
    if reply_to:
        body["context"] = {"id": reply_to}
    body["text"] = {"body": text}
    return Item(GROUP_OTT_INBOUND, dumps(body))


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
        "toNumber": _no_plus(data.get("recipient")),
        "status": f"{data['channel']}_{suffix}",
        "statusCode": WEBENGAGE_FAILED if failed else WEBENGAGE_OK,
        "message": _description(outcome, data.get("reason")),
    }
    return Item(GROUP_ANY, dumps(body))


def _inbound(
    payload_format: str, event: Mapping[str, Any], data: Mapping[str, Any], pairs: Mapping[str, str]
) -> Item | None:
    if payload_format != CLEVERTAP:
        return None
    ts = _unix(data.get("received_at"))
    ts = _unix(event.get("time")) if ts is None else ts
    if ts is None:
        return None
    return _clevertap_inbound(data, ts, pairs)


def _status(
    payload_format: str, event: Mapping[str, Any], data: Mapping[str, Any], pairs: Mapping[str, str]
) -> Item | None:
    outcome = OUTCOME.get(str(event.get("type")))
    if outcome is None:
        return None
    if payload_format == WEBENGAGE:
        return _webengage(outcome, data)
    ts = _unix(event.get("time"))
    if ts is None:
        return None
    if payload_format == CLEVERTAP:
        return _clevertap(outcome, data, ts, pairs)
    if payload_format == MOENGAGE:
        return _moengage(outcome, data, ts)
    return None


def render(
    payload_format: str,
    event: Mapping[str, Any],
    pairs: Mapping[str, str],
    raw: bytes | None = None,
) -> Item | None:
    """`event` in `payload_format` (`raw`: its JSON as received, reused when unchanged)."""
    if payload_format == NATIVE:
        return Item(GROUP_ANY, _native(event, raw, pairs))
    data = event.get("data")
    if not isinstance(data, Mapping) or data.get("channel") not in CHANNELS:
        return None
    if event.get("type") == INBOUND_MESSAGE:
        return _inbound(payload_format, event, data, pairs)
    return _status(payload_format, event, data, pairs)


def unexpressible(payload_format: str, event: Mapping[str, Any]) -> str:
    """Why `render` gave None for an inbound event (the dead letter's `last_error`): what to
    change so that a replay of it can be delivered."""
    allowed = " or ".join(sorted(INBOUND_FORMATS))
    if payload_format not in INBOUND_FORMATS:
        return (
            f"the {payload_format} payload format has no shape for inbound messages: set "
            f"webhooks.user_initiated.payload_format to {allowed}, then replay"
        )
    data = event.get("data")
    if isinstance(data, Mapping) and data.get("channel") == "sms" and not data.get("in_reply_to"):
        return (
            "a CleverTap SMS reply needs the message it answers and this inbound message "
            "answers none: set webhooks.user_initiated.payload_format to native to receive "
            "such messages, then replay"
        )
    return f"the {payload_format} payload format cannot express this inbound message"


def _array(items: Sequence[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


def assemble(payload_format: str, group: str, items: Sequence[bytes], batched: bool) -> bytes:
    """The body of one delivery: the items of one batch (one item when not batched)."""
    if not items:
        raise ValueError("a delivery needs at least one event")
    if payload_format == CLEVERTAP and group != GROUP_OTT_INBOUND:
        if group == GROUP_SMS:
            return _array(items)
        return b'{"payloadVersion":"0.1","statuses":' + _array(items) + b"}"
    if payload_format == MOENGAGE:
        return b'{"statuses":' + _array(items) + b"}"
    if batched and payload_format == NATIVE:
        return _array(items)
    if len(items) != 1:
        raise ValueError(f"{payload_format} takes one event per body here (group {group!r})")
    return items[0]
