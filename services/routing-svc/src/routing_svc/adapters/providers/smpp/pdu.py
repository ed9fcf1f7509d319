"""SMPP 3.4 PDUs as our session sends and reads them.

The library `smpp34` encodes `submit_sm` (`smpp34.SubmitSm(...).encode()`) and decodes every
frame (`smpp34.decode`: a typed `DeliverSm`, a `RawPdu` header + body for the rest); that is
used wherever it serves. smpp34 has no class for `bind_transceiver` / `bind_transceiver_resp`,
and nothing to build the header-only PDUs (`enquire_link(_resp)`, `unbind(_resp)`,
`generic_nack`) or the bodies of `deliver_sm_resp` and `submit_sm_resp`: those fixed-layout
PDUs (a 16-octet header and at most a few C strings) are built and read here, by hand, because
the only way smpp34 offers to send them is its `Client`, whose session we do not use (it
acknowledges receipts before the application has them, ignores its window and loses bytes on
short writes; see the service README, "SMPP").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import smpp34

from routing_svc.domain.sms_text import (
    Address,
    destination_address,
    segments,
    source_address,
    validity_period,
)

GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER = 0x00000009
BIND_TRANSCEIVER_RESP = 0x80000009
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
RESPONSE_BIT = 0x80000000

ESME_ROK = 0x00
ESME_RINVCMDID = 0x03
ESME_RSYSERR = 0x08
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64  # temporary application error: the SMSC delivers again later

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
HEADER_LENGTH = HEADER.size
# A deliver_sm may carry a message_payload TLV of up to 64 KiB; anything longer is not SMPP.
MAX_PDU_LENGTH = 70_000
MAX_SEQUENCE = 0x7FFFFFFF
INTERFACE_VERSION = 0x34
TLV_MESSAGE_PAYLOAD = 0x0424


def header_only(command_id: int, sequence: int, status: int = ESME_ROK) -> bytes:
    """A PDU with no body: enquire_link(_resp), unbind(_resp), generic_nack."""
    return HEADER.pack(HEADER_LENGTH, command_id, status, sequence)


def _c_string(value: str, max_octets: int, name: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) >= max_octets or b"\x00" in raw:
        raise ValueError(f"{name} must be ASCII, at most {max_octets - 1} characters")
    return raw + b"\x00"


def bind_transceiver(sequence: int, system_id: str, password: str, system_type: str) -> bytes:
    """`bind_transceiver` (SMPP 3.4 section 4.1.5): system_id (16), password (9), system_type
    (13) C strings, interface_version 0x34, addr_ton 0, addr_npi 0, empty address_range."""
    body = (
        _c_string(system_id, 16, "system_id")
        + _c_string(password, 9, "password")
        + _c_string(system_type, 13, "system_type")
        + bytes([INTERFACE_VERSION, 0, 0, 0])
    )
    return HEADER.pack(HEADER_LENGTH + len(body), BIND_TRANSCEIVER, ESME_ROK, sequence) + body


def deliver_sm_resp(sequence: int, status: int) -> bytes:
    """`deliver_sm_resp`: its body is a message_id that SMPP 3.4 says is unused (one NUL)."""
    return HEADER.pack(HEADER_LENGTH + 1, DELIVER_SM_RESP, status, sequence) + b"\x00"


def first_c_string(body: bytes) -> str | None:
    """The C string at the start of a response body (`submit_sm_resp`'s message_id, a bind
    response's system_id); None for an empty body (an error response may omit it)."""
    if not body:
        return None
    return body.split(b"\x00", 1)[0].decode("latin-1")


@dataclass(frozen=True, slots=True)
class SubmitPart:
    """One `submit_sm` as we send it (CONTRACT section 9): addresses with TON/NPI, the
    segment's payload, `registered_delivery` 1 and the relative validity."""

    source: Address
    destination: Address
    short_message: bytes
    esm_class: int = 0
    data_coding: int = 0
    validity_period: str = ""
    registered_delivery: int = 1

    def encode(self, sequence: int) -> bytes:
        """The wire bytes, by smpp34's codec. ValueError past 254 octets (smpp34 panics)."""
        if len(self.short_message) > 254:
            raise ValueError("short_message is at most 254 octets")
        return smpp34.SubmitSm(
            self.source.addr,
            self.destination.addr,
            self.short_message,
            source_addr_ton=self.source.ton,
            source_addr_npi=self.source.npi,
            dest_addr_ton=self.destination.ton,
            dest_addr_npi=self.destination.npi,
            esm_class=self.esm_class,
            data_coding=self.data_coding,
            validity_period=self.validity_period,
            registered_delivery=self.registered_delivery,
            sequence_number=sequence,
        ).encode()


def submit_parts(
    sender: str, recipient: str, text: str, *, ref: int, validity_seconds: int | None
) -> list[SubmitPart]:
    """Every `submit_sm` of one message, in order (ValueError on a bad address, validity or a
    text past 255 parts)."""
    source, destination = source_address(sender), destination_address(recipient)
    validity = validity_period(validity_seconds)
    return [
        SubmitPart(source, destination, s.short_message, s.esm_class, s.data_coding, validity)
        for s in segments(text, ref)
    ]


@dataclass(frozen=True, slots=True)
class Delivery:
    """An inbound `deliver_sm` (a receipt or a user's message), independent of the library."""

    sequence: int
    source: Address
    destination: Address
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def payload(self) -> bytes:
        """The message: `short_message`, or the `message_payload` TLV when that is empty."""
        return self.short_message or self.tlvs.get(TLV_MESSAGE_PAYLOAD, b"")

    @classmethod
    def from_pdu(cls, pdu: smpp34.DeliverSm) -> Delivery:
        """From smpp34's decoded `DeliverSm` (a repeated TLV: the first one counts)."""
        tlvs: dict[int, bytes] = {}
        for tlv in pdu.tlvs:
            tlvs.setdefault(tlv.tag, tlv.value)
        return cls(
            sequence=pdu.sequence_number,
            source=Address(pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi),
            destination=Address(pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi),
            esm_class=pdu.esm_class,
            data_coding=pdu.data_coding,
            short_message=pdu.short_message,
            tlvs=tlvs,
        )
