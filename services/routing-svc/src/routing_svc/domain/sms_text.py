"""SMS text over SMPP 3.4 (CONTRACT section 9, "SMPP 3.4"): encodings, parts, addresses,
validity and delivery receipts.

- Text that GSM 03.38 can carry (the basic set and the extension table) goes as `data_coding`
  0, one septet per octet (unpacked): an extension character is `0x1B` + its code and counts
  two septets. Any other text goes as `data_coding` 8, UCS-2 big-endian; a character outside
  the BMP is a UTF-16 surrogate pair and counts two units.
- Up to 160 septets (70 units) fit one `submit_sm`; longer text goes in parts of at most 153
  septets (67 units), each behind the UDH `05 00 03 <ref> <total> <seq>` with `esm_class`
  0x40. A part never ends between `0x1B` and its code, nor inside a surrogate pair.
- A user's message (MO) is decoded from `data_coding` 0 (GSM, unpacked), 1 (ASCII), 3
  (Latin-1) or 8 (UCS-2 / UTF-16BE); its UDH (8-bit `00 03` or 16-bit `08 04` references)
  says which part of which message it is.
- A `deliver_sm` with `esm_class & 0x3C == 0x04` is a receipt: its id and state come from the
  `receipted_message_id` / `message_state` TLVs, else from the text's `id:` / `stat:` fields.

Pure: the standard library only. Nothing here logs (texts and numbers are personal data).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

# ------------------------------------------------------------------------ GSM 03.38 tables
# The basic set, indexed by septet value (0x1B is the escape to the extension table).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip
ESCAPE = 0x1B
_ENCODE: dict[str, bytes] = {ch: bytes([i]) for i, ch in enumerate(GSM_BASIC) if i != ESCAPE}
_ENCODE.update({ch: bytes([ESCAPE, code]) for ch, code in GSM_EXTENSION.items()})
_DECODE_EXTENSION = {code: ch for ch, code in GSM_EXTENSION.items()}

DC_GSM = 0
DC_ASCII = 1
DC_LATIN1 = 3
DC_UCS2 = 8
ESM_UDHI = 0x40

SINGLE_GSM_SEPTETS = 160
PART_GSM_SEPTETS = 153
SINGLE_UCS2_UNITS = 70
PART_UCS2_UNITS = 67
MAX_PARTS = 255  # <total> is one octet


class TextTooLong(ValueError):
    """The text needs more than 255 parts: a concatenated SMS cannot carry it."""


class UnsupportedCoding(ValueError):
    """A user's message in a `data_coding` that is not text we can read (binary, say)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One `submit_sm`'s payload: `short_message` (UDH included), `esm_class`, `data_coding`."""

    short_message: bytes
    esm_class: int
    data_coding: int


def fits_gsm(text: str) -> bool:
    """Whether GSM 03.38 (basic set + extension table) can carry every character of `text`."""
    return all(ch in _ENCODE for ch in text)


def gsm_encode(text: str) -> bytes:
    """`text` as unpacked GSM septets (one per octet); ValueError on a character outside it."""
    try:
        return b"".join(_ENCODE[ch] for ch in text)
    except KeyError as exc:
        raise ValueError("text has a character outside GSM 03.38") from exc


def ucs2_encode(text: str) -> bytes:
    """`text` as UCS-2 big-endian (UTF-16BE: a non-BMP character is a surrogate pair)."""
    return text.encode("utf-16-be")


def length_in_units(text: str) -> tuple[int, int]:
    """(`data_coding`, length): septets for GSM text (an extension character counts 2), else
    UTF-16 units (a non-BMP character counts 2)."""
    if fits_gsm(text):
        return DC_GSM, sum(len(_ENCODE[ch]) for ch in text)
    return DC_UCS2, len(ucs2_encode(text)) // 2


def _chunks(pieces: list[bytes], limit: int) -> list[bytes]:
    """Pack whole `pieces` (each a character's bytes) into runs of at most `limit` bytes."""
    runs: list[bytes] = []
    current = bytearray()
    for piece in pieces:
        if len(current) + len(piece) > limit:
            runs.append(bytes(current))
            current = bytearray()
        current += piece
    runs.append(bytes(current))
    return runs


def segments(text: str, ref: int) -> list[Segment]:
    """The `submit_sm` payloads that carry `text`, in order; `ref` (0..255) is the message's
    concatenation reference, the same in every part. TextTooLong past 255 parts."""
    if not 0 <= ref <= 0xFF:
        raise ValueError("ref must be 0..255")
    if fits_gsm(text):
        coding, single, part = DC_GSM, SINGLE_GSM_SEPTETS, PART_GSM_SEPTETS
        pieces = [_ENCODE[ch] for ch in text]
    else:
        coding, single, part = DC_UCS2, SINGLE_UCS2_UNITS * 2, PART_UCS2_UNITS * 2
        pieces = [ch.encode("utf-16-be") for ch in text]
    body = b"".join(pieces)
    if len(body) <= single:
        return [Segment(body, 0, coding)]
    runs = _chunks(pieces, part)
    if len(runs) > MAX_PARTS:
        raise TextTooLong(f"text needs {len(runs)} parts; at most {MAX_PARTS} fit")
    total = len(runs)
    return [
        Segment(bytes([5, 0, 3, ref, total, seq]) + run, ESM_UDHI, coding)
        for seq, run in enumerate(runs, start=1)
    ]


def reference_for(key: str) -> int:
    """A concatenation reference (0..255) derived from `key` (e.g. message id and attempt), so
    every part of one message, and a re-send of it, carries the same one."""
    return zlib.crc32(key.encode()) & 0xFF


# ------------------------------------------------------------------------ user messages (MO)
def gsm_decode(data: bytes) -> str:
    """Unpacked GSM septets to text. An unknown extension code reads as its basic character
    (GSM 03.38's rule); a lone trailing escape, and octets above 0x7F, as U+FFFD."""
    out: list[str] = []
    i = 0
    while i < len(data):
        octet = data[i]
        if octet == ESCAPE:
            if i + 1 >= len(data):
                out.append("\ufffd")
                break
            code = data[i + 1]
            out.append(_DECODE_EXTENSION.get(code, GSM_BASIC[code] if code < 0x80 else "\ufffd"))
            i += 2
            continue
        out.append(GSM_BASIC[octet] if octet < 0x80 else "\ufffd")
        i += 1
    return "".join(out)


def decode_text(data_coding: int, payload: bytes) -> str:
    """A user's text from its `data_coding`: 0 and 0xF0..0xF3 GSM (unpacked), 1 ASCII,
    3 Latin-1, 8 UCS-2 (UTF-16BE, surrogate pairs joined); UnsupportedCoding otherwise."""
    if data_coding == DC_GSM or data_coding & 0xFC == 0xF0:
        return gsm_decode(payload)
    if data_coding == DC_ASCII:
        return payload.decode("ascii", errors="replace")
    if data_coding == DC_LATIN1:
        return payload.decode("latin-1")
    if data_coding == DC_UCS2:
        return payload.decode("utf-16-be", errors="replace")
    raise UnsupportedCoding(f"data_coding {data_coding:#04x} is not text")


@dataclass(frozen=True, slots=True)
class Concat:
    """Where a part belongs: reference (8 or 16 bits wide), total parts, this part's number."""

    ref: int
    ref_bits: Literal[8, 16]
    total: int
    seq: int


def parse_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """Split a `short_message` whose `esm_class` has UDHI (0x40) into its concatenation
    element (None when the UDH has none) and the payload after the UDH. Other information
    elements are skipped; ValueError when the UDH runs past the message."""
    if not short_message:
        raise ValueError("UDH indicated but the message is empty")
    udh_len = short_message[0]
    if udh_len + 1 > len(short_message):
        raise ValueError("UDH longer than the message")
    udh, payload = short_message[1 : udh_len + 1], short_message[udh_len + 1 :]
    concat: Concat | None = None
    i = 0
    while i + 2 <= len(udh):
        iei, length = udh[i], udh[i + 1]
        value = udh[i + 2 : i + 2 + length]
        if len(value) != length:
            raise ValueError("UDH element runs past the header")
        if iei == 0x00 and length == 3:
            concat = Concat(value[0], 8, value[1], value[2])
        elif iei == 0x08 and length == 4:
            concat = Concat(int.from_bytes(value[:2], "big"), 16, value[2], value[3])
        i += 2 + length
    if concat is not None and not 1 <= concat.seq <= concat.total:
        concat = None  # a part number outside 1..total cannot be joined: read it alone
    return concat, payload


# ------------------------------------------------------------------------ addresses, validity
@dataclass(frozen=True, slots=True)
class Address:
    """An SMPP address with its type of number and numbering plan indicator."""

    addr: str
    ton: int
    npi: int


_NUMBER = re.compile(r"\+?[0-9]+")
MAX_ADDRESS = 20  # source_addr / destination_addr are C-Octet Strings of at most 21 octets


def source_address(sender: str) -> Address:
    """`source_addr` for a sender: `+` and digits -> TON 1, NPI 1 without the `+`; anything
    else is alphanumeric -> TON 5, NPI 0. ValueError when empty, non-ASCII, too long, or a
    `+` not followed by digits only."""
    if _NUMBER.fullmatch(sender):
        address = Address(sender.removeprefix("+"), 1, 1)
    elif sender.startswith("+"):
        raise ValueError("sender starting with + must be digits")
    else:
        address = Address(sender, 5, 0)
    if not address.addr or not address.addr.isascii() or len(address.addr) > MAX_ADDRESS:
        raise ValueError("sender must be 1..20 ASCII characters")
    return address


def destination_address(recipient: str) -> Address:
    """`destination_addr` for an E.164 recipient: without the `+`, TON 1, NPI 1."""
    digits = recipient.removeprefix("+")
    if not digits.isdigit() or not digits.isascii() or len(digits) > MAX_ADDRESS:
        raise ValueError("recipient must be + and 1..20 digits")
    return Address(digits, 1, 1)


def mo_sender(source_addr: str, ton: int) -> str:
    """The sender of a user's message: `+` added when the TON is 1 (international)."""
    return "+" + source_addr if ton == 1 and not source_addr.startswith("+") else source_addr


MAX_VALIDITY_S = 99 * 86400 + 86399  # DD is two digits


def validity_period(seconds: int | None) -> str:
    """`validity_period` in SMPP's relative format `YYMMDDhhmmss000R` (300 s ->
    `000000000500000R`), or "" when the message has no validity."""
    if seconds is None:
        return ""
    if not 1 <= seconds <= MAX_VALIDITY_S:
        raise ValueError(f"validity must be 1..{MAX_VALIDITY_S} seconds")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"


# ------------------------------------------------------------------------ delivery receipts
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
ReceiptOutcome = Literal["delivered", "failed"]
ReceiptReason = Literal["delivery_failed", "validity_expired"]

# message_state values (SMPP 3.4 section 5.2.28) and the text's `stat:` words
STATES = {
    1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED",
    5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD",
}  # fmt: skip
_WORDS = {name: name for name in STATES.values()} | {
    "DELIVERED": "DELIVRD", "UNDELIVERABLE": "UNDELIV", "ACCEPTED": "ACCEPTD",
    "REJECTED": "REJECTD",
}  # fmt: skip
_OUTCOMES: dict[str, tuple[ReceiptOutcome, ReceiptReason | None]] = {
    "DELIVRD": ("delivered", None),
    "EXPIRED": ("failed", "validity_expired"),
    "UNDELIV": ("failed", "delivery_failed"),
    "REJECTD": ("failed", "delivery_failed"),
    "DELETED": ("failed", "delivery_failed"),
    "UNKNOWN": ("failed", "delivery_failed"),
}
_ID_FIELD = re.compile(rb"(?:^|\s)id:\s*([^\s]+)", re.IGNORECASE)
_STAT_FIELD = re.compile(rb"(?:^|\s)stat:\s*([A-Za-z_]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt: the provider's message id, its state word (`DELIVRD`, ...; None when
    neither TLV nor text has one) and what it means (None: changes nothing)."""

    message_id: str | None
    state: str | None
    outcome: ReceiptOutcome | None
    reason: ReceiptReason | None


def is_receipt(esm_class: int) -> bool:
    """Whether a `deliver_sm` with this `esm_class` is an SMSC delivery receipt."""
    return esm_class & 0x3C == 0x04


def parse_receipt(short_message: bytes, tlvs: Mapping[int, bytes]) -> Receipt:
    """A receipt's id and state: the `receipted_message_id` and `message_state` TLVs when
    present, else the text's `id:` and `stat:` fields (any case, any order, extra fields and
    dates with or without seconds tolerated). ENROUTE, ACCEPTD and unknown words change
    nothing."""
    message_id: str | None = None
    raw_id = tlvs.get(TLV_RECEIPTED_MESSAGE_ID)
    if raw_id is not None:
        message_id = raw_id.split(b"\x00", 1)[0].decode("latin-1").strip() or None
    if message_id is None and (found := _ID_FIELD.search(short_message)):
        message_id = found.group(1).decode("latin-1")
    state: str | None = None
    raw_state = tlvs.get(TLV_MESSAGE_STATE)
    if raw_state:
        state = STATES.get(raw_state[0], f"STATE_{raw_state[0]}")
    elif found := _STAT_FIELD.search(short_message):
        word = found.group(1).decode("ascii").upper()
        state = _WORDS.get(word, word)
    outcome, reason = _OUTCOMES.get(state or "", (None, None))
    return Receipt(message_id, state, outcome, reason)
