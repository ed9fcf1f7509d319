"""The SMPP PDUs our session builds by hand or through smpp34, byte for byte."""

from __future__ import annotations

import struct

import pytest
import smpp34
from routing_svc.adapters.providers.smpp.pdu import (
    Delivery,
    SubmitPart,
    bind_transceiver,
    deliver_sm_resp,
    first_c_string,
    header_only,
    submit_parts,
)
from routing_svc.domain.sms_text import Address


def test_bind_transceiver_layout() -> None:
    """bind_transceiver: header, system_id, password, system_type, version 0x34, TON, NPI, range."""
    body = b"parley\x00secret\x00\x00\x34\x00\x00\x00"
    assert (
        bind_transceiver(1, "parley", "secret", "")
        == struct.pack(">IIII", 16 + len(body), 0x09, 0, 1) + body
    )


def test_bind_fields_over_their_limits_are_refused() -> None:
    """A system_id over 15 or a password over 8 characters cannot be sent."""
    with pytest.raises(ValueError, match="system_id"):
        bind_transceiver(1, "x" * 16, "pw", "")
    with pytest.raises(ValueError, match="password"):
        bind_transceiver(1, "parley", "123456789", "")


def test_header_only_pdus() -> None:
    """enquire_link, unbind_resp and generic_nack are a 16-octet header."""
    assert header_only(0x15, 7) == bytes.fromhex("00000010 00000015 00000000 00000007")
    assert header_only(0x80000000, 9, 0x03) == bytes.fromhex("00000010 80000000 00000003 00000009")


def test_deliver_sm_resp_has_an_empty_message_id() -> None:
    """deliver_sm_resp carries the status and a single NUL as its message_id."""
    assert deliver_sm_resp(5, 0x64) == bytes.fromhex("00000011 80000005 00000064 00000005 00")


def test_first_c_string() -> None:
    """A response body's first C string, and None for an empty body."""
    assert first_c_string(b"abc123\x00") == "abc123"
    assert first_c_string(b"SIM\x00\x02\x10\x00\x01\x34") == "SIM"
    assert first_c_string(b"") is None


def test_submit_part_round_trips_through_smpp34() -> None:
    """A SubmitPart encoded by smpp34 decodes back to every field we set."""
    [part] = submit_parts("+919800000009", "+447911123456", "hi €", ref=3, validity_seconds=60)
    pdu = smpp34.decode(part.encode(42))
    assert isinstance(pdu, smpp34.SubmitSm)
    got = (pdu.sequence_number, pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi)
    assert got == (42, "919800000009", 1, 1)
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == ("447911123456", 1, 1)
    assert (pdu.validity_period, pdu.registered_delivery, pdu.data_coding) == (
        "000000000100000R",
        1,
        0,
    )
    assert pdu.short_message == b"hi \x1b\x65"


def test_submit_part_over_254_octets_is_refused() -> None:
    """A short_message over 254 octets raises ValueError instead of smpp34's panic."""
    part = SubmitPart(Address("a", 5, 0), Address("1", 1, 1), b"x" * 255)
    with pytest.raises(ValueError, match="254"):
        part.encode(1)


def test_delivery_from_a_decoded_deliver_sm() -> None:
    """Delivery keeps addresses, TON/NPI, esm_class, coding and TLVs; payload falls back to
    message_payload when short_message is empty."""
    wire = smpp34.DeliverSm(
        "919876543210",
        "12345",
        b"",
        source_addr_ton=1,
        source_addr_npi=1,
        esm_class=0,
        data_coding=8,
        tlvs=[smpp34.Tlv(0x0424, b"\x00h\x00i")],
        sequence_number=11,
    ).encode()
    pdu = smpp34.decode(wire)
    assert isinstance(pdu, smpp34.DeliverSm)
    delivery = Delivery.from_pdu(pdu)
    assert (delivery.sequence, delivery.source, delivery.destination.addr) == (
        11,
        Address("919876543210", 1, 1),
        "12345",
    )
    assert (delivery.esm_class, delivery.data_coding, delivery.payload) == (0, 8, b"\x00h\x00i")
