"""Small pure rules: masking, client addresses, consent records, event shapes and ids."""

from __future__ import annotations

import ipaddress

from parley_runtime.addresses import client_address
from parley_shared.events import CloudEvent, InboundData, StatusData
from routing_svc.domain import consent
from routing_svc.domain.events import event_id, inbound_event, status_event, typing_event
from routing_svc.domain.lifecycle import Attempt, EventSpec, Message
from routing_svc.domain.masking import mask_msisdn
from routing_svc.domain.network import ip_allowed
from routing_svc.domain.policy import Hop

NETS = (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32"))
PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)
STATUS_KEYS = {
    "message_id",
    "account_id",
    "client_ref",
    "channel",
    "route",
    "sender",
    "recipient",
    "status",
    "reason",
    "attempt",
    "fallback_from",
    "fallback_to",
    "final",
    "metadata",
    "campaign_id",  # Campaign Manager: a compatible addition, null without a campaign
}


def test_masking_keeps_plus_two_digits_and_last_four() -> None:
    """+919876543210 is shown as +91******3210."""
    assert mask_msisdn("+919876543210") == "+91******3210"
    assert mask_msisdn("+14155550100") == "+14*****0100"


def test_ip_allowlist_ipv4_and_ipv6() -> None:
    """Addresses inside a listed CIDR pass, others do not; mode all passes everything."""
    assert ip_allowed(ipaddress.ip_address("203.0.113.9"), NETS)
    assert ip_allowed(ipaddress.ip_address("2001:db8::1"), NETS)
    assert not ip_allowed(ipaddress.ip_address("198.51.100.1"), NETS)
    assert not ip_allowed(None, NETS)
    assert ip_allowed(ipaddress.ip_address("198.51.100.1"), None)


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    """X-Forwarded-For names the client only when the peer is a trusted proxy."""
    xff = "203.0.113.7, 10.1.1.1"
    assert str(client_address("10.2.2.2", xff, PROXIES)) == "203.0.113.7"
    assert str(client_address("198.51.100.1", xff, PROXIES)) == "198.51.100.1"
    assert str(client_address("10.2.2.2", None, PROXIES)) == "10.2.2.2"
    assert str(client_address("::ffff:203.0.113.5", None, ())) == "203.0.113.5"


def test_a_garbled_forwarded_for_passes_no_ip_restriction() -> None:
    """For an allowlist a hop that is not an address gives no client at all (fails closed),
    where the login limits take the last trusted hop."""
    xff = "203.0.113.7, junk, 10.1.1.1"
    assert client_address("10.2.2.2", xff, PROXIES, malformed="refuse") is None
    assert str(client_address("10.2.2.2", xff, PROXIES)) == "10.1.1.1"


def test_consent_channel_record_overrides_the_all_channels_record() -> None:
    """A channel record wins for its channel; the record without channel covers the rest."""
    record = consent.with_status(consent.ConsentRecord(), "opted_out", None, "t1")
    record = consent.with_status(record, "opted_in", "sms", "t2")
    assert record.status_for("sms") == "opted_in"
    assert record.status_for("rcs") == "opted_out"
    assert consent.answer("+919876543210", record) == {
        "msisdn": "+919876543210",
        "status": "opted_out",
        "channels": {"sms": "opted_in"},
        "updated_at": "t2",
    }
    assert consent.ConsentRecord().status_for("sms") == "none"


def test_keywords_match_the_whole_trimmed_text_in_any_case() -> None:
    """STOP/UNSUBSCRIBE opt out, START opts in; anything else is just text."""
    assert consent.keyword("  stop ") == "opted_out"
    assert consent.keyword("Unsubscribe") == "opted_out"
    assert consent.keyword("START") == "opted_in"
    assert consent.keyword("please stop") is None
    cleared = consent.from_keyword("opted_out", "t")
    assert (cleared.all, cleared.channels) == ("opted_out", {})


def _message() -> Message:
    hop = Hop("sms", "PARLEY", "non_strict", None, (), 20, ())
    return Message(
        id="msg_1",
        account_id="acc_1",
        enterprise_id="ent_1",
        protection="store",
        to_masked="+91******3210",
        created_at="t",
        hops=[hop],
        attempts=[Attempt(1, "sms", "t", "sent", "sms-1", "PARLEY")],
        to="+919876543210",
        client_ref="order-77",
        metadata={"campaign": "c1"},
    )


def test_status_event_has_every_key_and_a_stable_id() -> None:
    """Every data key is present; the id depends only on message, attempt and kind."""
    msg = _message()
    spec = EventSpec(1, "delivered", "2026-11-26T10:00:00.123Z", final=True)
    event = status_event(msg, spec, "+919876543210")
    assert set(event["data"]) == STATUS_KEYS
    assert event["type"] == "parley.message.delivered"
    assert event["data"]["metadata"] == {"campaign": "c1"}
    CloudEvent[StatusData].model_validate(event)
    assert event["id"] == status_event(msg, spec, "x")["id"] == event_id("msg_1", spec)
    late = EventSpec(1, "delivered", "t", late=True)
    assert status_event(msg, late, "x")["data"]["late"] is True
    assert event_id("msg_1", late) != event["id"]


def test_inbound_and_typing_events_validate() -> None:
    """Inbound and typing events carry the contract's data keys."""
    inbound = inbound_event(
        inbound_id="inb_1",
        account_id="acc_1",
        channel="sms",
        user="+919876543210",
        to="PARLEY",
        text="hello",
        in_reply_to=None,
        at="t",
    )
    CloudEvent[InboundData].model_validate(inbound)
    assert set(inbound["data"]) == {
        "inbound_id",
        "account_id",
        "channel",
        "from",
        "to",
        "text",
        "in_reply_to",
        "received_at",
        "metadata",
    }
    typing = typing_event(
        account_id="acc_1",
        subject_id="msg_1",
        inbound_id="inb_1",
        channel="rcs",
        sender="agent",
        user="+919876543210",
        at="t",
    )
    CloudEvent[StatusData].model_validate(typing)
    assert typing["type"] == "parley.message.typing"
    assert set(typing["data"]) == STATUS_KEYS
