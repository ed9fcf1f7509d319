"""What routing-svc needs of an access account, read once from its config event.

account-svc publishes the normalized config (every field present, defaults filled in); this
module turns it into an `AccountView` whose lookups are plain attribute reads on the hot path:
the channel policies, the IP allowlist as networks, the consent lookups, the payload keys.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley_runtime.addresses import Network
from parley_shared.accounts import OpenedSecrets
from parley_shared.envelope import KeyVersion
from parley_shared.events import AccountConfigData

from routing_svc.domain.traffic import PromotionalWindow, traffic_class, window_from

CHANNELS = ("rcs", "sms", "truecaller", "whatsapp")
SENDER_LISTS = {"sms": "sender_ids", "rcs": "agents", "whatsapp": "wabas", "truecaller": "numbers"}
"""The access list of each channel that names its senders."""
ALL_PROVIDERS = ("reliance-jio", "vodafone-idea", "airtel")


@dataclass(frozen=True)
class ChannelPolicy:
    """One channel's settings, as routing applies them."""

    channel: str
    senders: tuple[str, ...] | None  # None: access list mode `all`
    verify_profile: str = "non_strict"
    strategy: str | None = None  # round_robin | capacity_based | None (no traffic management)
    agent_providers: tuple[str, ...] = ()
    fallback_channel: str | None = None
    fallback_events: frozenset[str] = frozenset()
    dr_ttl_seconds: int | None = None


@dataclass(frozen=True)
class AccountView:
    """An active account as routing-svc sees it."""

    account_id: str
    version: int
    enterprise_id: str
    communication_type: str
    channels: tuple[str, ...]
    policies: dict[str, ChannelPolicy]
    ip_allowlist: tuple[Network, ...] | None  # None: mode `all`
    data_protection: str
    payload_encryption: bool
    lookup_opt_in: bool
    lookup_opt_out: bool
    secrets: OpenedSecrets = field(repr=False)
    apps: frozenset[str] = frozenset()  # the apps switched on (`template_lookup`, ...)
    traffic_class: str = "transactional"  # otp | transactional | promotional (`domain.traffic`)
    promotional_window: PromotionalWindow | None = None

    @property
    def conversational(self) -> bool:
        """Whether users may write to it (inbound messages reach it)."""
        return self.communication_type == "conversational"

    def payload_keys(self, at: datetime) -> list[KeyVersion]:
        """The API payload keys valid at `at`, current first."""
        return self.secrets.payload_keys_at(at)


def _senders(access: Any) -> tuple[str, ...] | None:
    if not isinstance(access, dict) or access.get("mode") != "allowlist":
        return None
    return tuple(str(item) for item in access.get("allowlist") or ())


def _policy(channel: str, settings: dict[str, Any]) -> ChannelPolicy:
    fallback = settings.get("fallback") or {}
    traffic = settings.get("traffic_management") or {}
    providers = settings.get("agent_providers") or (ALL_PROVIDERS if channel == "rcs" else ())
    enabled = bool(fallback.get("enabled"))
    return ChannelPolicy(
        channel=channel,
        senders=_senders(settings.get(SENDER_LISTS[channel])),
        verify_profile=str(settings.get("verify_profile") or "non_strict"),
        strategy=traffic.get("strategy") if traffic.get("enabled") else None,
        agent_providers=tuple(providers),
        fallback_channel=fallback.get("channel") if enabled else None,
        fallback_events=frozenset(fallback.get("events") or ()) if enabled else frozenset(),
        dr_ttl_seconds=fallback.get("dr_ttl_seconds") if enabled else None,
    )


def _allowlist(restriction: Any) -> tuple[Network, ...] | None:
    if not isinstance(restriction, dict) or restriction.get("mode") != "allowlist":
        return None
    return tuple(
        ipaddress.ip_network(str(item), strict=False) for item in restriction.get("allowlist") or ()
    )


def account_view(data: AccountConfigData, secrets: OpenedSecrets) -> AccountView:
    """The view of an active account's config event (not of a tombstone)."""
    config = data.account or {}
    security = config.get("security") or {}
    consent = config.get("consent") or {}
    channels = tuple(ch for ch in config.get("channels") or () if ch in CHANNELS)
    settings = config.get("channel_settings") or {}
    encryption = security.get("payload_encryption") or {}
    return AccountView(
        account_id=data.account_id,
        version=data.version,
        enterprise_id=data.enterprise_id,
        communication_type=str(config.get("communication_type") or "outgoing"),
        channels=channels,
        policies={ch: _policy(ch, settings.get(ch) or {}) for ch in channels},
        ip_allowlist=_allowlist(security.get("ip_restriction")),
        data_protection=str(security.get("data_protection") or "store"),
        payload_encryption=bool(encryption.get("enabled")),
        lookup_opt_in=bool(consent.get("lookup_opt_in")),
        lookup_opt_out=bool(consent.get("lookup_opt_out")),
        secrets=secrets,
        apps=frozenset(name for name, on in (config.get("apps") or {}).items() if on is True),
        traffic_class=traffic_class(config.get("traffic_type")),
        promotional_window=window_from(config.get("promotional_window")),
    )
