"""Rules of the access-account config that span fields (CONTRACT sections 2 and 8).

The models in `account_models` check each field alone; these rules relate fields to each other
and name the field at fault. They read the raw body, so they run even when some field has the
wrong type (such a field is skipped here: its type error is reported by the models), and one
answer lists every broken rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

from account_svc.domain.account_models import CHANNELS, ENCRYPTION_BLOCKS, PayloadFormat

Loc = list[str | int]
Error = dict[str, Any]

ACCESS_LIST_KEYS: dict[str, str] = {
    "rcs": "agents",
    "whatsapp": "wabas",
    "truecaller": "numbers",
    "sms": "sender_ids",
}
"""The access list of each channel's settings."""

INBOUND_FORMATS: tuple[str, ...] = ("native", "clevertap")
"""Payload formats with a documented shape for inbound (user-initiated) messages. MoEngage's
and WebEngage's provider integrations document none (webhook-svc's README lists the sources),
so `webhooks.user_initiated` refuses them rather than accept a webhook that could never
receive anything. Beyond CONTRACT 2, which lists all four formats for every webhook."""


def error(loc: Loc, msg: str, type_: str) -> Error:
    """One entry of `errors[]`: where, what, and a stable code."""
    return {"loc": loc, "msg": msg, "type": type_}


def _dig(node: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` inside nested objects, or None where the path breaks off."""
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _repeats(items: Any, loc: Loc, what: str) -> Iterator[Error]:
    """An error at each position whose string value already appeared earlier in the list."""
    if not isinstance(items, list):
        return
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, str):
            continue
        if item in seen:
            yield error([*loc, index], f"{what} {item!r} is repeated", "duplicate")
        seen.add(item)


def cross_field_errors(
    body: dict[str, Any], *, existing_passphrases: frozenset[tuple[str, ...]]
) -> list[Error]:
    """Every broken cross-field rule of `body`."""
    errors: list[Error] = []
    kind = body.get("communication_type")
    errors.extend(_traffic_type(kind, body.get("traffic_type")))
    errors.extend(_promotional_window(body.get("traffic_type"), body.get("promotional_window")))
    channels = body.get("channels")
    errors.extend(_repeats(channels, ["channels"], "Channel"))
    selected: frozenset[str] | None = None
    if isinstance(channels, list):
        selected = frozenset(ch for ch in channels if isinstance(ch, str) and ch in CHANNELS)
    ip_loc: Loc = ["security", "ip_restriction"]
    errors.extend(_access_list(_dig(body, ("security", "ip_restriction")), ip_loc))
    settings = body.get("channel_settings")
    if isinstance(settings, dict):
        for channel in CHANNELS:
            errors.extend(_channel_entry(channel, settings.get(channel), selected))
    errors.extend(_webhooks(kind, body.get("webhooks")))
    for path in ENCRYPTION_BLOCKS:
        errors.extend(_encryption(_dig(body, path), path, path in existing_passphrases))
    return errors


def _traffic_type(kind: Any, traffic_type: Any) -> Iterator[Error]:
    if kind == "outgoing" and traffic_type is None:
        yield error(
            ["traffic_type"],
            "traffic_type is required for outgoing accounts (otp, transactional or promotional)",
            "missing",
        )
    if kind == "conversational" and traffic_type is not None:
        yield error(
            ["traffic_type"],
            "traffic_type must be absent for conversational accounts",
            "not_allowed",
        )


def _promotional_window(traffic_type: Any, window: Any) -> Iterator[Error]:
    """A window only for promotional traffic; its start and end differ (an empty window would
    refuse every send: remove the window instead)."""
    if window is None:
        return
    if traffic_type != "promotional":
        yield error(
            ["promotional_window"],
            "promotional_window is only for promotional accounts (set it to null to remove it)",
            "not_allowed",
        )
        return
    if (
        isinstance(window, dict)
        and window.get("start") is not None
        and window.get("start") == window.get("end")
    ):
        yield error(
            ["promotional_window", "end"],
            "end must differ from start (remove the window to accept sends at any time)",
            "empty_window",
        )


def _access_list(value: Any, loc: Loc) -> Iterator[Error]:
    """Mode `allowlist` needs its list (mode `all` ignores one)."""
    if (
        isinstance(value, dict)
        and value.get("mode") == "allowlist"
        and value.get("allowlist") is None
    ):
        yield error(
            [*loc, "allowlist"], "allowlist is required when mode is 'allowlist'", "missing"
        )


def _channel_entry(channel: str, entry: Any, selected: frozenset[str] | None) -> Iterator[Error]:
    loc: Loc = ["channel_settings", channel]
    if entry is None:
        return
    if selected is not None and channel not in selected:
        yield error(
            loc,
            f"channel_settings has an entry for {channel!r}, which is not among channels "
            "(set it to null to remove it)",
            "unselected_channel",
        )
        return
    if not isinstance(entry, dict):
        return
    access_key = ACCESS_LIST_KEYS[channel]
    yield from _access_list(entry.get(access_key), [*loc, access_key])
    if channel == "rcs":
        yield from _repeats(entry.get("agent_providers"), [*loc, "agent_providers"], "Provider")
    management = entry.get("traffic_management")
    if (
        isinstance(management, dict)
        and management.get("enabled") is True
        and management.get("strategy") is None
    ):
        yield error(
            [*loc, "traffic_management", "strategy"],
            "strategy is required when traffic management is enabled",
            "missing",
        )
    yield from _fallback(channel, entry.get("fallback"), selected, [*loc, "fallback"])


def _fallback(
    channel: str, fallback: Any, selected: frozenset[str] | None, loc: Loc
) -> Iterator[Error]:
    """An enabled fallback names another selected channel, its events and, if needed, a TTL."""
    if not isinstance(fallback, dict) or fallback.get("enabled") is not True:
        return
    target = fallback.get("channel")
    if target is None:
        yield error([*loc, "channel"], "channel is required when fallback is enabled", "missing")
    elif target == channel:
        yield error([*loc, "channel"], "A channel cannot fall back to itself", "fallback_channel")
    elif (
        isinstance(target, str)
        and target in CHANNELS
        and selected is not None
        and target not in selected
    ):
        yield error(
            [*loc, "channel"],
            f"Fallback channel {target!r} is not among the account's channels",
            "fallback_channel",
        )
    events = fallback.get("events")
    if events is None or events == []:
        yield error(
            [*loc, "events"], "At least one event is required when fallback is enabled", "missing"
        )
    yield from _repeats(events, [*loc, "events"], "Event")
    if (
        isinstance(events, list)
        and "dr_ttl_expired" in events
        and fallback.get("dr_ttl_seconds") is None
    ):
        yield error(
            [*loc, "dr_ttl_seconds"],
            "dr_ttl_seconds (1..86400) is required when dr_ttl_expired is among the events",
            "missing",
        )


def _webhooks(kind: Any, webhooks: Any) -> Iterator[Error]:
    if not isinstance(webhooks, dict):
        return
    status = webhooks.get("status")
    if isinstance(status, dict):
        loc: Loc = ["webhooks", "status"]
        events = status.get("events")
        yield from _repeats(events, [*loc, "events"], "Event")
        if kind == "outgoing" and isinstance(events, list):
            for index, event in enumerate(events):
                if event == "typing":
                    yield error(
                        [*loc, "events", index],
                        "typing events exist only for conversational accounts",
                        "not_allowed",
                    )
        batch = status.get("batch")
        if (
            status.get("payload_format") == "webengage"
            and isinstance(batch, dict)
            and batch.get("enabled") is True
        ):
            yield error(
                [*loc, "batch", "enabled"],
                "The webengage format cannot batch events",
                "not_allowed",
            )
    user_initiated = webhooks.get("user_initiated")
    if kind == "outgoing" and user_initiated is not None:
        yield error(
            ["webhooks", "user_initiated"],
            "A user_initiated webhook is only for conversational accounts",
            "not_allowed",
        )
    elif isinstance(user_initiated, dict):
        yield from _inbound_format(user_initiated.get("payload_format"))


def _inbound_format(payload_format: Any) -> Iterator[Error]:
    """The user_initiated webhook takes only a format that can carry inbound messages (an
    unknown value is the model's error, reported there)."""
    if payload_format in get_args(PayloadFormat) and payload_format not in INBOUND_FORMATS:
        allowed = " or ".join(INBOUND_FORMATS)
        yield error(
            ["webhooks", "user_initiated", "payload_format"],
            f"The {payload_format} format has no shape for user-initiated (inbound) messages; "
            f"use {allowed}",
            "not_allowed",
        )


def _encryption(block: Any, path: tuple[str, ...], has_passphrase: bool) -> Iterator[Error]:
    """An enabled block names its algorithm, version code and (unless one is kept) passphrase."""
    if not isinstance(block, dict) or block.get("enabled") is not True:
        return
    for field in ("algorithm", "passphrase", "version_code"):
        if field == "passphrase" and has_passphrase:
            continue
        if block.get(field) is None:
            yield error(
                [*path, field], f"{field} is required when encryption is enabled", "missing"
            )
