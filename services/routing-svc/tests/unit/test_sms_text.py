"""SMS text rules of CONTRACT section 9 (SMPP 3.4), byte for byte."""

from __future__ import annotations

import pytest
from routing_svc.domain.sms_text import (
    GSM_BASIC,
    GSM_EXTENSION,
    Address,
    Concat,
    Segment,
    TextTooLong,
    UnsupportedCoding,
    decode_text,
    destination_address,
    fits_gsm,
    gsm_decode,
    gsm_encode,
    is_receipt,
    length_in_units,
    mo_sender,
    parse_receipt,
    parse_udh,
    reference_for,
    segments,
    source_address,
    validity_period,
)

RID = 0x001E
STATE = 0x0427


def udh(ref: int, total: int, seq: int) -> bytes:
    """The 8-bit-reference concatenation UDH the contract fixes."""
    return bytes([5, 0, 3, ref, total, seq])


# ---------------------------------------------------------------- GSM 03.38
def test_basic_table_has_128_septets_in_spec_order() -> None:
    """The basic set is 128 septets with the landmarks of GSM 03.38 where they belong."""
    assert len(GSM_BASIC) == 128
    assert GSM_BASIC[0x00] == "@"
    assert GSM_BASIC[0x02] == "$"
    assert GSM_BASIC[0x11] == "_"
    assert GSM_BASIC[0x24] == "¤"
    assert GSM_BASIC[0x40] == "¡"
    assert GSM_BASIC[0x5F] == "§"
    assert GSM_BASIC[0x60] == "¿"
    assert GSM_BASIC[0x7F] == "à"


def test_ascii_letters_are_one_septet_per_octet() -> None:
    """Plain GSM text goes as data_coding 0, unpacked, no UDH."""
    assert segments("Hello 42!", ref=7) == [Segment(b"Hello 42!", 0, 0)]


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("@", b"\x00"),
        ("£$¥", b"\x01\x02\x03"),
        ("§", b"\x5f"),
        ("¤", b"\x24"),
        ("_", b"\x11"),
        ("ÄÖÑÜ", b"\x5b\x5c\x5d\x5e"),
        ("äöñüà", b"\x7b\x7c\x7d\x7e\x7f"),
        ("ΔΩ", b"\x10\x15"),
        ("\n\r", b"\x0a\x0d"),
    ],
)
def test_basic_characters_map_to_their_septet(text: str, wire: bytes) -> None:
    """Characters whose GSM septet differs from ASCII are encoded at their GSM position."""
    assert gsm_encode(text) == wire
    assert segments(text, 0) == [Segment(wire, 0, 0)]


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("€", 0x65),
        ("^", 0x14),
        ("{", 0x28),
        ("}", 0x29),
        ("\\", 0x2F),
        ("[", 0x3C),
        ("~", 0x3D),
        ("]", 0x3E),
        ("|", 0x40),
        ("\f", 0x0A),
    ],
)
def test_extension_characters_are_escape_plus_code_and_count_two(char: str, code: int) -> None:
    """Each extension-table character is 0x1B + its code and counts two septets."""
    assert GSM_EXTENSION[char] == code
    assert gsm_encode("a" + char) == b"a\x1b" + bytes([code])
    assert length_in_units(char) == (0, 2)


def test_backtick_is_not_gsm_and_forces_ucs2() -> None:
    """A backtick has no GSM septet (never 0x5F, which is §): the text goes as UCS-2."""
    assert not fits_gsm("a`b")
    assert segments("a`b", 0) == [Segment(b"\x00a\x00`\x00b", 0, 8)]


def test_lowercase_c_cedilla_is_not_gsm() -> None:
    """Only capital Ç sits at 0x09; ç is not in the basic set, so the text is UCS-2."""
    assert gsm_encode("Ç") == b"\x09"
    assert length_in_units("ç") == (8, 1)


def test_emoji_is_a_surrogate_pair_in_ucs2() -> None:
    """A character outside the BMP goes as its UTF-16 surrogate pair and counts two units."""
    assert segments("hi 😀", 0) == [Segment(b"\x00h\x00i\x00 \xd8\x3d\xde\x00", 0, 8)]
    assert length_in_units("😀") == (8, 2)


def test_gsm_encode_refuses_a_foreign_character() -> None:
    """gsm_encode raises rather than substituting a character GSM 03.38 lacks."""
    with pytest.raises(ValueError, match="GSM"):
        gsm_encode("naïve")


# ---------------------------------------------------------------- parts
def test_160_septets_fit_one_submit() -> None:
    """Exactly 160 septets go in one submit_sm without a UDH."""
    assert segments("a" * 160, 9) == [Segment(b"a" * 160, 0, 0)]


def test_161_septets_go_in_two_parts_of_153_and_8() -> None:
    """161 septets are two parts: 153 then 8, each with UDH 05 00 03 ref 02 seq and esm 0x40."""
    parts = segments("a" * 161, 0xAB)
    assert parts == [
        Segment(udh(0xAB, 2, 1) + b"a" * 153, 0x40, 0),
        Segment(udh(0xAB, 2, 2) + b"a" * 8, 0x40, 0),
    ]


def test_euro_signs_count_two_septets_toward_160() -> None:
    """80 euro signs are 160 septets (one submit); one more septet makes it two parts."""
    assert segments("€" * 80, 0) == [Segment(b"\x1b\x65" * 80, 0, 0)]
    parts = segments("€" * 80 + "a", 3)
    assert [len(p.short_message) - 6 for p in parts] == [152, 9]
    assert parts[0].short_message == udh(3, 2, 1) + b"\x1b\x65" * 76
    assert parts[1].short_message == udh(3, 2, 2) + b"\x1b\x65" * 4 + b"a"


def test_extension_character_at_a_part_boundary_moves_whole_to_the_next_part() -> None:
    """An escape pair never straddles parts: 152 septets + € would be 154, so € opens part 2."""
    parts = segments("a" * 152 + "€" + "b" * 10, 1)
    assert parts == [
        Segment(udh(1, 2, 1) + b"a" * 152, 0x40, 0),
        Segment(udh(1, 2, 2) + b"\x1b\x65" + b"b" * 10, 0x40, 0),
    ]


def test_70_ucs2_units_fit_one_submit() -> None:
    """Exactly 70 UCS-2 units go in one submit_sm."""
    assert segments("я" * 70, 0) == [Segment("я".encode("utf-16-be") * 70, 0, 8)]


def test_71_ucs2_units_go_in_parts_of_67() -> None:
    """71 UCS-2 units are two parts: 67 units then 4, with the UDH and esm_class 0x40."""
    ya = "я".encode("utf-16-be")
    assert segments("я" * 71, 0x10) == [
        Segment(udh(0x10, 2, 1) + ya * 67, 0x40, 8),
        Segment(udh(0x10, 2, 2) + ya * 4, 0x40, 8),
    ]


def test_surrogate_pair_at_a_part_boundary_is_not_split() -> None:
    """66 units + an emoji would be 68: the emoji's pair opens part 2 whole."""
    ya = "я".encode("utf-16-be")
    parts = segments("я" * 66 + "😀" + "я" * 10, 5)
    assert parts == [
        Segment(udh(5, 2, 1) + ya * 66, 0x40, 8),
        Segment(udh(5, 2, 2) + b"\xd8\x3d\xde\x00" + ya * 10, 0x40, 8),
    ]


def test_one_non_gsm_character_makes_the_whole_message_ucs2() -> None:
    """GSM letters beside an emoji are sent as UCS-2 too: one data_coding per message."""
    [segment] = segments("ok 😀", 0)
    assert segment.data_coding == 8
    assert segment.short_message.decode("utf-16-be") == "ok 😀"


def test_parts_are_numbered_in_order_with_one_reference() -> None:
    """Every part carries the same ref and total, and seq 1..total in order."""
    parts = segments("x" * 153 * 3, 0x42)
    assert [p.short_message[:6] for p in parts] == [udh(0x42, 3, s) for s in (1, 2, 3)]


def test_more_than_255_parts_is_refused() -> None:
    """A text needing 256 parts cannot be concatenated: TextTooLong."""
    assert len(segments("a" * 153 * 255, 0)) == 255
    with pytest.raises(TextTooLong):
        segments("a" * (153 * 255 + 1), 0)


def test_reference_is_stable_per_key() -> None:
    """The reference derived from a key is in 0..255 and the same every time."""
    assert reference_for("msg_1:1") == reference_for("msg_1:1")
    assert all(0 <= reference_for(f"m{i}") <= 255 for i in range(50))


# ---------------------------------------------------------------- MO decoding and UDH
def test_gsm_mo_decodes_basic_and_extension() -> None:
    """Unpacked GSM septets decode to text, escape pairs to their extension character."""
    assert decode_text(0, b"Pay \x1b\x65" + b"5 \x5f\x00") == "Pay €5 §@"


def test_gsm_decode_tolerates_unknown_escape_and_trailing_escape() -> None:
    """An unknown extension code reads as its basic character; a lone final escape as U+FFFD."""
    assert gsm_decode(b"\x1b\x41") == "A"
    assert gsm_decode(b"a\x1b") == "a\ufffd"


def test_latin1_and_ascii_mo_decode() -> None:
    """data_coding 3 is Latin-1 and 1 is ASCII."""
    assert decode_text(3, b"caf\xe9") == "café"
    assert decode_text(1, b"STOP") == "STOP"


def test_ucs2_mo_decodes_surrogate_pairs() -> None:
    """data_coding 8 joins surrogate pairs into one character."""
    assert decode_text(8, b"\x04\x4f\xd8\x3d\xde\x00") == "я😀"


def test_gsm_with_message_class_decodes_as_gsm() -> None:
    """data_coding 0xF0..0xF3 (GSM default alphabet with a message class) reads as GSM."""
    assert decode_text(0xF1, b"START") == "START"


def test_binary_mo_is_unsupported() -> None:
    """An 8-bit binary data_coding is not text: UnsupportedCoding."""
    with pytest.raises(UnsupportedCoding):
        decode_text(4, b"\x01\x02")
    with pytest.raises(UnsupportedCoding):
        decode_text(0xF4, b"\x01")


def test_udh_with_8_bit_reference() -> None:
    """05 00 03 ref total seq is parsed and the payload follows it."""
    assert parse_udh(udh(0x2A, 3, 2) + b"hi") == (Concat(0x2A, 8, 3, 2), b"hi")


def test_udh_with_16_bit_reference() -> None:
    """06 08 04 refhi reflo total seq is parsed as a 16-bit reference."""
    assert parse_udh(b"\x06\x08\x04\x12\x34\x02\x01abc") == (Concat(0x1234, 16, 2, 1), b"abc")


def test_udh_skips_other_elements() -> None:
    """An element before the concatenation one is skipped, not misread."""
    message = b"\x08\x70\x01\x00\x00\x03\x09\x02\x02xy"
    assert parse_udh(message) == (Concat(9, 8, 2, 2), b"xy")


def test_udh_without_concatenation_gives_none() -> None:
    """A UDH holding only other elements gives no concatenation and the payload."""
    assert parse_udh(b"\x03\x70\x01\x00body") == (None, b"body")


def test_malformed_udh_is_refused() -> None:
    """A UDH length past the end of the message raises ValueError."""
    with pytest.raises(ValueError, match="UDH"):
        parse_udh(b"\x09\x00\x03\x01")
    with pytest.raises(ValueError, match="UDH"):
        parse_udh(b"")


def test_part_number_outside_total_is_not_joined() -> None:
    """A seq of 0 or above total cannot be joined: no concatenation is reported."""
    assert parse_udh(udh(1, 2, 3) + b"x") == (None, b"x")


# ---------------------------------------------------------------- addresses and validity
def test_alphanumeric_sender_is_ton5_npi0() -> None:
    """An alphanumeric sender keeps its text with TON 5, NPI 0."""
    assert source_address("Parley") == Address("Parley", 5, 0)
    assert source_address("MY BANK") == Address("MY BANK", 5, 0)


def test_numeric_sender_is_ton1_npi1_without_plus() -> None:
    """A `+` and digits sender loses the `+` and is TON 1, NPI 1."""
    assert source_address("+919800000001") == Address("919800000001", 1, 1)
    assert source_address("12345") == Address("12345", 1, 1)


def test_bad_senders_are_refused() -> None:
    """An empty, non-ASCII or over-long sender raises ValueError."""
    for sender in ("", "Pärley", "x" * 21, "+"):
        with pytest.raises(ValueError, match="sender"):
            source_address(sender)


def test_destination_is_digits_ton1_npi1() -> None:
    """The recipient loses its `+` and is TON 1, NPI 1."""
    assert destination_address("+447911123456") == Address("447911123456", 1, 1)
    with pytest.raises(ValueError, match="recipient"):
        destination_address("+44 7911")


def test_mo_sender_gets_plus_for_international_ton() -> None:
    """A user's number gets `+` when its TON is 1, and stays as it is otherwise."""
    assert mo_sender("919876543210", 1) == "+919876543210"
    assert mo_sender("12345", 3) == "12345"


@pytest.mark.parametrize(
    ("seconds", "period"),
    [
        (None, ""),
        (300, "000000000500000R"),
        (1, "000000000001000R"),
        (3661, "000000010101000R"),
        (7 * 86400, "000007000000000R"),
        (86400 + 59, "000001000059000R"),
    ],
)
def test_validity_period_is_relative(seconds: int | None, period: str) -> None:
    """validity_seconds becomes the relative YYMMDDhhmmss000R form, or empty without one."""
    assert validity_period(seconds) == period


def test_validity_out_of_range_is_refused() -> None:
    """Zero seconds, or more than DD can hold, raises ValueError."""
    for seconds in (0, 100 * 86400):
        with pytest.raises(ValueError, match="validity"):
            validity_period(seconds)


# ---------------------------------------------------------------- receipts
def test_receipt_esm_class() -> None:
    """esm_class & 0x3C == 0x04 is a receipt (UDHI and other bits aside); others are not."""
    assert is_receipt(0x04)
    assert is_receipt(0x44)
    assert not is_receipt(0x00)
    assert not is_receipt(0x08)
    assert not is_receipt(0x40)


def test_receipt_by_tlv() -> None:
    """receipted_message_id (a C string) and message_state give id and state."""
    receipt = parse_receipt(b"", {RID: b"abc123\x00", STATE: b"\x02"})
    assert (receipt.message_id, receipt.state, receipt.outcome, receipt.reason) == (
        "abc123",
        "DELIVRD",
        "delivered",
        None,
    )


def test_tlvs_win_over_text() -> None:
    """With both TLVs and text, the TLVs count."""
    text = b"id:old stat:UNDELIV"
    receipt = parse_receipt(text, {RID: b"new", STATE: b"\x02"})
    assert (receipt.message_id, receipt.state) == ("new", "DELIVRD")


def test_receipt_by_standard_text() -> None:
    """The usual SMPP appendix B text yields id and stat."""
    text = (
        b"id:0123456789 sub:001 dlvrd:001 submit date:2612011200 done date:2612011201 "
        b"stat:DELIVRD err:000 text:Hello"
    )
    receipt = parse_receipt(text, {})
    assert (receipt.message_id, receipt.outcome) == ("0123456789", "delivered")


def test_receipt_text_tolerates_seconds_case_and_extra_fields() -> None:
    """Dates with seconds, upper/lower case keys and extra fields still parse."""
    text = (
        b"ID:7f3a-22 SUB:001 DLVRD:000 SUBMIT DATE:261201120005 DONE DATE:261201120107 "
        b"STAT:undeliv ERR:012 mccmnc:40410 Text:x"
    )
    receipt = parse_receipt(text, {})
    assert (receipt.message_id, receipt.state, receipt.reason) == (
        "7f3a-22",
        "UNDELIV",
        "delivery_failed",
    )


def test_text_id_is_taken_from_the_text_when_tlv_id_absent() -> None:
    """A message_state TLV with only a text id combines both sources."""
    receipt = parse_receipt(b"id:99 stat:DELIVRD", {STATE: b"\x03"})
    assert (receipt.message_id, receipt.state, receipt.reason) == (
        "99",
        "EXPIRED",
        "validity_expired",
    )


@pytest.mark.parametrize(
    ("state", "word", "outcome", "reason"),
    [
        (2, "DELIVRD", "delivered", None),
        (3, "EXPIRED", "failed", "validity_expired"),
        (4, "DELETED", "failed", "delivery_failed"),
        (5, "UNDELIV", "failed", "delivery_failed"),
        (7, "UNKNOWN", "failed", "delivery_failed"),
        (8, "REJECTD", "failed", "delivery_failed"),
        (1, "ENROUTE", None, None),
        (6, "ACCEPTD", None, None),
    ],
)
def test_each_state_maps_as_the_contract_says(
    state: int, word: str, outcome: str | None, reason: str | None
) -> None:
    """Every message_state, by TLV and by text word, maps to the contract's outcome."""
    by_tlv = parse_receipt(b"", {RID: b"m", STATE: bytes([state])})
    by_text = parse_receipt(b"id:m stat:" + word.encode(), {})
    for receipt in (by_tlv, by_text):
        assert (receipt.state, receipt.outcome, receipt.reason) == (word, outcome, reason)


def test_unknown_word_changes_nothing_and_missing_id_is_none() -> None:
    """An unrecognised stat word has no outcome; a receipt without any id has id None."""
    receipt = parse_receipt(b"stat:WEIRD", {})
    assert (receipt.message_id, receipt.state, receipt.outcome) == (None, "WEIRD", None)


def test_text_id_does_not_match_inside_another_field() -> None:
    """`id:` is read only as a field of its own, not from inside a word such as `msgid:`."""
    receipt = parse_receipt(b"msgid:zzz id:good stat:DELIVRD", {})
    assert receipt.message_id == "good"
