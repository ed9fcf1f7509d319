"""What the SMSC simulator is told and what it records (`parley_devtools.smsc`): the
per-destination `Script`, the records of binds, submits and deliveries, and the receipt it
builds (by TLV, or as the usual `id:... stat:...` text)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import smpp34

BIND_IDS = {0x01, 0x02, 0x09}  # bind_receiver, bind_transmitter, bind_transceiver
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x04, 0x05, 0x06, 0x15
ENQUIRE_LINK_RESP, DELIVER_SM_RESP = 0x80000015, 0x80000005
ESME_RINVPASWD = 0x0E
TLV_RECEIPTED_MESSAGE_ID, TLV_MESSAGE_STATE = 0x001E, 0x0427
STATE_VALUES = {
    "ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4,
    "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7, "REJECTD": 8,
}  # fmt: skip
INJECTED_SEQUENCE = 0x7FFF0000  # our own enquire_links, far from the server's numbers


@dataclass(frozen=True)
class Script:
    """How submits to one destination are answered."""

    status: int = 0  # submit_sm_resp command_status
    receipt: str | None = "DELIVRD"  # the receipt's state word; None: no receipt
    receipt_by: Literal["tlv", "text"] = "tlv"
    receipt_delay_s: float = 0.0
    receipt_first: bool = False  # the receipt goes out before the submit_sm_resp
    receipt_on: Literal["same", "other"] = "same"  # the submitting bind, or another one
    answer: bool = True  # False: the submit_sm is never answered


@dataclass(frozen=True)
class Submitted:
    """A `submit_sm` as it arrived at the relay."""

    pdu: smpp34.SubmitSm
    raw: bytes
    connection: int
    at: float


@dataclass(frozen=True)
class BindRecord:
    """A bind request, what it carried and whether it was let through."""

    command_id: int
    system_id: str
    password: str
    system_type: str
    interface_version: int
    connection: int
    accepted: bool
    at: float


@dataclass
class Delivered:
    """A `deliver_sm` the SMSC sent (and re-sent): each answer's status (None: no answer)."""

    kind: Literal["receipt", "mo"]
    message_id: str | None
    statuses: list[int | None] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def acknowledged(self) -> bool:
        """Whether an ESME answered it with status 0."""
        return 0 in self.statuses


def c_strings(body: bytes, count: int) -> tuple[list[str], bytes]:
    parts = body.split(b"\x00", count)
    rest = parts[count] if len(parts) > count else b""
    return [p.decode("latin-1") for p in parts[:count]] + [""] * (count - len(parts)), rest


def receipt_fields(event: smpp34.SubmitSmEvent, script: Script, message_id: str) -> dict[str, Any]:
    """The `deliver_sm` fields of the receipt for a submit (addresses swapped, esm_class 4):
    TLVs `receipted_message_id` + `message_state` and no text, or the text alone."""
    state = script.receipt or "DELIVRD"
    tlvs: list[smpp34.Tlv] = []
    if script.receipt_by == "tlv":
        message = b""
        tlvs = [
            smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\x00"),
            smpp34.Tlv(TLV_MESSAGE_STATE, bytes([STATE_VALUES[state]])),
        ]
    else:
        stamp = time.strftime("%y%m%d%H%M", time.gmtime())
        delivered = "001" if state == "DELIVRD" else "000"
        message = (
            f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{stamp} "
            f"done date:{stamp} stat:{state} err:000 text:"
        ).encode()
    return {
        "destination_addr": event.source_addr,
        "short_message": message,
        "source_addr": event.destination_addr,
        "source_addr_ton": event.dest_addr_ton,
        "source_addr_npi": event.dest_addr_npi,
        "dest_addr_ton": event.source_addr_ton,
        "dest_addr_npi": event.source_addr_npi,
        "esm_class": 0x04,
        "tlvs": tlvs,
    }
