"""Account rules of a send: channel, sender, consent, and the fallback plan."""

from __future__ import annotations

import pytest
from parley_shared.accounts import OpenedSecrets
from parley_shared.events import AccountConfigData
from routing_svc.domain.accounts import AccountView, account_view
from routing_svc.domain.policy import PolicyRefusal, check_consent, plan, resolve_sender
from routing_svc.settings import DEFAULT_SENDERS
from routing_testkit import account_config, allow, fallback

SEEDS = ("delivery_failed", "dr_ttl_expired", "invalid_number", "validity_expired")


def view(channels: list[str], settings: dict | None = None, **top: object) -> AccountView:
    """The view of a normalized config."""
    config = account_config("ent_1", channels, settings, **top)
    data = AccountConfigData(
        account_id="acc_1", version=1, status="active", enterprise_id="ent_1", account=config
    )
    return account_view(data, OpenedSecrets())


def test_channel_not_enabled() -> None:
    """A channel the account did not select is refused as channel_not_enabled."""
    with pytest.raises(PolicyRefusal) as caught:
        resolve_sender(view(["sms"]), "rcs", None, DEFAULT_SENDERS)
    assert caught.value.code == "channel_not_enabled"


@pytest.mark.parametrize(
    ("channel", "settings", "sender"),
    [
        ("sms", {"sender_ids": allow("PARLEY")}, "OTHER"),
        ("rcs", {"agents": allow("agent-otp")}, "agent-promo"),
        ("whatsapp", {"wabas": allow("+919800000001")}, "+919800000002"),
        ("truecaller", {"numbers": allow("+919800000001")}, "+919800000009"),
    ],
)
def test_sender_outside_the_access_list(channel: str, settings: dict, sender: str) -> None:
    """Each channel checks its sender against its own access list."""
    account = view([channel], {channel: settings})
    with pytest.raises(PolicyRefusal) as caught:
        resolve_sender(account, channel, sender, DEFAULT_SENDERS)
    assert caught.value.code == "sender_not_allowed"


def test_omitted_sender_is_first_allowlist_entry_or_platform_default() -> None:
    """No sender: the first allowlist entry, or the platform default under mode all."""
    listed = view(["sms"], {"sms": {"sender_ids": allow("FIRST", "SECOND")}})
    assert resolve_sender(listed, "sms", None, DEFAULT_SENDERS) == "FIRST"
    assert resolve_sender(view(["sms"]), "sms", None, DEFAULT_SENDERS) == DEFAULT_SENDERS["sms"]
    assert resolve_sender(listed, "sms", "SECOND", DEFAULT_SENDERS) == "SECOND"


def test_sender_format_is_checked_per_channel() -> None:
    """A WABA sender that is not E.164 is a validation error naming `sender`."""
    with pytest.raises(PolicyRefusal) as caught:
        resolve_sender(view(["whatsapp"]), "whatsapp", "PARLEY", DEFAULT_SENDERS)
    assert (caught.value.code, caught.value.loc) == ("validation_error", ["sender"])


def test_consent_precedence() -> None:
    """Opt-out lookups refuse opted-out users; opt-in lookups refuse anyone not opted in."""
    out_only = view(["sms"], consent={"lookup_opt_in": False, "lookup_opt_out": True})
    in_only = view(["sms"], consent={"lookup_opt_in": True, "lookup_opt_out": False})
    both = view(["sms"], consent={"lookup_opt_in": True, "lookup_opt_out": True})
    check_consent(out_only, "none")
    check_consent(in_only, "opted_in")
    cases = [
        (out_only, "opted_out", "opted_out"),
        (in_only, "none", "opt_in_required"),
        (in_only, "opted_out", "opt_in_required"),
        (both, "opted_out", "opted_out"),
        (both, "none", "opt_in_required"),
    ]
    for account, status, code in cases:
        with pytest.raises(PolicyRefusal) as caught:
            check_consent(account, status)
        assert caught.value.code == code


def test_plan_follows_the_chain_and_stops_before_a_loop() -> None:
    """rcs -> sms -> rcs is cut where it would try rcs again; senders default per hop."""
    account = view(
        ["rcs", "sms"],
        {
            "rcs": {"fallback": fallback("sms", 20, *SEEDS)},
            "sms": {"sender_ids": allow("PARLEY"), "fallback": fallback("rcs", 5, *SEEDS)},
        },
    )
    hops = plan(account, "rcs", "agent-otp", DEFAULT_SENDERS, 86400)
    assert [(h.channel, h.sender, h.dr_ttl_s) for h in hops] == [
        ("rcs", "agent-otp", 20),
        ("sms", "PARLEY", 5),
    ]
    assert hops[0].fallback_on == SEEDS
    assert hops[1].fallback_on == ()


def test_plan_without_dr_ttl_event_uses_the_default_ttl() -> None:
    """A hop whose fallback does not list dr_ttl_expired waits the platform default."""
    account = view(["rcs", "sms"], {"rcs": {"fallback": fallback("sms", None, "delivery_failed")}})
    hops = plan(account, "rcs", "a", DEFAULT_SENDERS, 3600)
    assert [h.dr_ttl_s for h in hops] == [3600, 3600]


def test_three_channel_chain() -> None:
    """Chains go as far as the settings lead: whatsapp -> rcs -> sms."""
    account = view(
        ["rcs", "sms", "whatsapp"],
        {
            "whatsapp": {"fallback": fallback("rcs", 10, *SEEDS)},
            "rcs": {"fallback": fallback("sms", 10, *SEEDS)},
        },
    )
    hops = plan(account, "whatsapp", "+919800000001", DEFAULT_SENDERS, 86400)
    assert [h.channel for h in hops] == ["whatsapp", "rcs", "sms"]
