"""The account's rules for one send: channel enabled, sender allowed, consent, and the plan.

The plan is the fallback chain fixed at acceptance: one `Hop` per channel the message may try,
in order, each with its sender, profile check, balancing strategy, DR TTL and the seed events
that move it on to the next hop. A chain stops where it would visit a channel again, so a
message never tries a channel twice. In-flight messages follow the plan they were accepted
with, whatever the account changes later.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parley_shared.timefmt import format_ts

from routing_svc.domain.accounts import AccountView
from routing_svc.domain.consent import refusal
from routing_svc.domain.msisdn import E164_PATTERN as E164
from routing_svc.domain.traffic import PROMOTIONAL

SENDER_FORMATS = {
    "sms": (re.compile(r"^[A-Za-z0-9]{3,15}$"), "an SMS sender id is 3..15 letters or digits"),
    "whatsapp": (E164, "a WABA number is E.164"),
    "truecaller": (E164, "a Truecaller number is E.164"),
    "rcs": (re.compile(r"^\S(.{0,126}\S)?$"), "an RCS agent id is 1..128 characters"),
}
TRIGGERS = {
    "delivery_failed": "delivery_failed",
    "invalid_number": "invalid_number",
    "validity_expired": "validity_expired",
    "dr_ttl_expired": "dr_ttl_expired",
    "profile_not_found": "delivery_failed",
    "expired_in_queue": "validity_expired",
}
"""The seed fallback event each failure reason counts as."""


class PolicyRefusal(Exception):
    """A send the account's settings refuse; `code` is the problem type, `loc` the field."""

    def __init__(
        self,
        code: str,
        detail: str,
        loc: list[str | int] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.loc = loc
        self.extra = extra or {}


@dataclass(frozen=True, slots=True)
class Hop:
    """One channel of a message's fallback chain."""

    channel: str
    sender: str
    verify_profile: str
    strategy: str | None
    agent_providers: tuple[str, ...]
    dr_ttl_s: int
    fallback_on: tuple[str, ...]  # seed events that move on to the next hop; () on the last

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Hop:
        """A hop from its stored form (orjson writes the dataclass's fields)."""
        return cls(
            raw["channel"],
            raw["sender"],
            raw["verify_profile"],
            raw["strategy"],
            tuple(raw["agent_providers"]),
            int(raw["dr_ttl_s"]),
            tuple(raw["fallback_on"]),
        )


def default_sender(account: AccountView, channel: str, defaults: Mapping[str, str]) -> str:
    """The first entry of the channel's allowlist, or the platform default."""
    senders = account.policies[channel].senders
    return senders[0] if senders else defaults[channel]


Registered = Callable[[str, str, str], bool]
"""Whether an enterprise owns a sender on a channel: (enterprise_id, channel, value)."""


def resolve_sender(
    account: AccountView,
    channel: str,
    requested: str | None,
    defaults: Mapping[str, str],
    registered: Registered | None = None,
) -> str:
    """The sender of a send on `channel`, checked against the channel's access list and the
    enterprise's registered senders (`registered`): access mode `all` means every sender the
    enterprise owns on the channel, an allowlist names some of them. An omitted sender is the
    allowlist's first entry (checked the same way) or, under mode `all`, the platform default
    (CONTRACT 3: the platform's, not one the enterprise registers)."""
    if channel not in account.policies:
        raise PolicyRefusal(
            "channel_not_enabled", f"channel {channel} is not enabled for this account"
        )
    senders = account.policies[channel].senders
    if requested is None:
        if senders is None:
            return defaults[channel]
        requested = senders[0]
    else:
        pattern, rule = SENDER_FORMATS[channel]
        if not pattern.match(requested):
            raise PolicyRefusal("validation_error", rule, ["sender"])
        if senders is not None and requested not in senders:
            raise PolicyRefusal(
                "sender_not_allowed", f"the sender is not in the {channel} access list", ["sender"]
            )
    if registered is not None and not registered(account.enterprise_id, channel, requested):
        raise PolicyRefusal(
            "sender_not_allowed",
            f"the sender is not a registered {channel} sender of the account's enterprise",
            ["sender"],
        )
    return requested


APP_FIELDS = (
    ("campaign_manager", ("campaign_id",)),
    ("digital_asset_manager", ("content", "media_url")),
    ("template_lookup", ("content", "template")),
)
"""The request fields only an app switched on allows, by app."""


def check_apps(account: AccountView, given: set[tuple[str, ...]]) -> None:
    """Refuse (422 `validation_error`) a field in `given` whose app the account has not on."""
    for app, loc in APP_FIELDS:
        if loc in given and app not in account.apps:
            raise PolicyRefusal("validation_error", f"requires the {app} app", list(loc))


def check_window(account: AccountView, at: datetime) -> None:
    """Refuse a promotional send outside the account's promotional window (422
    `outside_promotional_window`, with `next_window_at`)."""
    window = account.promotional_window
    if account.traffic_class != PROMOTIONAL or window is None or window.is_open(at):
        return
    opening = format_ts(window.next_opening(at))
    raise PolicyRefusal(
        "outside_promotional_window",
        f"promotional sends are accepted {window.describe()}; the window opens next at {opening}",
        extra={"promotional_window": window.describe(), "next_window_at": opening},
    )


def check_consent(account: AccountView, status: str) -> None:
    """Refuse the send when the account's consent lookups say so."""
    code = refusal(account.lookup_opt_in, account.lookup_opt_out, status)
    if code == "opted_out":
        raise PolicyRefusal(code, "the recipient opted out", ["to"])
    if code == "opt_in_required":
        raise PolicyRefusal(code, "the recipient has not opted in", ["to"])


def needs_consent(account: AccountView) -> bool:
    """Whether a send must read the consent record at all."""
    return account.lookup_opt_in or account.lookup_opt_out


def plan(
    account: AccountView,
    channel: str,
    sender: str,
    defaults: Mapping[str, str],
    default_dr_ttl_s: int,
) -> list[Hop]:
    """The fallback chain of a send, first hop first; it never visits a channel twice."""
    hops: list[Hop] = []
    seen: set[str] = set()
    current: str | None = channel
    while current is not None and current not in seen and current in account.policies:
        seen.add(current)
        policy = account.policies[current]
        after = policy.fallback_channel
        reachable = after is not None and after not in seen and after in account.policies
        ttl = policy.dr_ttl_seconds if "dr_ttl_expired" in policy.fallback_events else None
        hops.append(
            Hop(
                channel=current,
                sender=sender if not hops else default_sender(account, current, defaults),
                verify_profile=policy.verify_profile,
                strategy=policy.strategy,
                agent_providers=policy.agent_providers,
                dr_ttl_s=int(ttl or default_dr_ttl_s),
                fallback_on=tuple(sorted(policy.fallback_events)) if reachable else (),
            )
        )
        current = after if reachable else None
    return hops
