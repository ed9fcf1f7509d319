"""The SMPP session against the SMSC simulator: submits, window, statuses, receipts, user
messages and the acknowledgement order (CONTRACT section 9)."""

from __future__ import annotations

import asyncio
import struct

import pytest
from parley_devtools.smsc import Script, Smsc
from parley_devtools.waiting import eventually
from routing_svc.adapters.providers.smpp import PartResult, SmppUnavailable, submit_parts
from routing_svc.domain.sms_text import decode_text, is_receipt, parse_receipt, parse_udh
from smpp_kit import Inbox, bound, one


def c(value: str) -> bytes:
    """A C-Octet String."""
    return value.encode() + b"\x00"


async def test_submit_sm_is_byte_exact(smsc: Smsc) -> None:
    """An alphanumeric sender, a recipient, GSM text with € and a validity go out exactly as
    section 9 says: TON/NPI, registered_delivery 1, relative validity, data_coding 0."""
    async with bound(smsc) as bind:
        parts = submit_parts("Parley", "+919800000001", "Pay €5", ref=1, validity_seconds=300)
        [outcome] = await bind.submit(parts, wait_s=5)
    assert outcome.accepted
    assert outcome.message_id is not None
    [submitted] = smsc.submits
    body = (
        c("")  # service_type
        + bytes([5, 0]) + c("Parley")  # source TON 5, NPI 0
        + bytes([1, 1]) + c("919800000001")  # destination TON 1, NPI 1, no +
        + bytes([0, 0, 0])  # esm_class, protocol_id, priority_flag
        + c("")  # schedule_delivery_time
        + c("000000000500000R")  # validity_period, relative, 300 s
        + bytes([1, 0, 0, 0])  # registered_delivery 1, replace, data_coding 0, default msg
        + bytes([7]) + b"Pay \x1b\x655"  # sm_length, unpacked septets
    )  # fmt: skip
    sequence = struct.unpack(">I", submitted.raw[12:16])[0]
    assert submitted.raw == struct.pack(">IIII", 16 + len(body), 4, 0, sequence) + body


async def test_numeric_sender_and_no_validity(smsc: Smsc) -> None:
    """A `+` number as sender is TON 1 / NPI 1 without `+`; no validity is an empty field."""
    async with bound(smsc) as bind:
        await bind.submit(one(sender="+919800000009"), wait_s=5)
    pdu = smsc.submits[0].pdu
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("919800000009", 1, 1)
    assert pdu.validity_period == ""
    assert pdu.registered_delivery == 1


async def test_long_ucs2_message_goes_in_ordered_parts(smsc: Smsc) -> None:
    """71 UCS-2 units go as two parts in order, data_coding 8, esm_class 0x40, one ref."""
    async with bound(smsc) as bind:
        parts = submit_parts("Parley", "+919800000001", "я" * 71, ref=0x33, validity_seconds=None)
        outcomes = await bind.submit(parts, wait_s=5)
    assert [o.accepted for o in outcomes] == [True, True]
    got = [s.pdu for s in smsc.submits]
    assert [(p.esm_class, p.data_coding) for p in got] == [(0x40, 8), (0x40, 8)]
    assert [p.short_message[:6] for p in got] == [
        b"\x05\x00\x03\x33\x02\x01",
        b"\x05\x00\x03\x33\x02\x02",
    ]
    assert got[0].short_message[6:] == "я".encode("utf-16-be") * 67


async def test_window_is_never_exceeded(smsc: Smsc) -> None:
    """With answers held, at most `window` submits are outstanding on the bind at any time."""
    smsc.hold()
    async with bound(smsc, window=3) as bind:
        sends = [
            asyncio.create_task(bind.submit(one(to=f"+9198000000{i:02d}"), wait_s=30))
            for i in range(10)
        ]
        await eventually(lambda: smsc.outstanding == 3)
        assert bind.window_in_use == 3
        answered = 0
        while answered < 10:
            answered += smsc.release(1)
            expected = min(3, 10 - answered)
            await eventually(lambda expected=expected: smsc.outstanding == expected)
            assert bind.window_in_use <= 3
        smsc.release()
        results = await asyncio.gather(*sends)
    assert all(outcome.accepted for [outcome] in results)
    assert smsc.max_outstanding == 3


async def test_a_full_window_past_wait_s_sends_nothing(smsc: Smsc) -> None:
    """A submit that finds the window full for longer than its wait_s raises SmppUnavailable
    and was never written; the waiting submits go out in arrival order once slots free up."""
    smsc.hold()
    async with bound(smsc, window=1) as bind:
        first = asyncio.create_task(bind.submit(one(to="+919800000001"), wait_s=5))
        await eventually(lambda: smsc.outstanding == 1)
        with pytest.raises(SmppUnavailable, match="window_wait_timeout"):
            await bind.submit(one(to="+919800000009"), wait_s=0.1)
        queued = []
        for i in (2, 3, 4):
            queued.append(asyncio.create_task(bind.submit(one(to=f"+91980000000{i}"), wait_s=5)))
            await asyncio.sleep(0)  # each starts waiting before the next
        smsc.release()
        await asyncio.gather(first, *queued)
    destinations = [submitted.pdu.destination_addr for submitted in smsc.submits]
    assert destinations == [f"91980000000{i}" for i in (1, 2, 3, 4)]


@pytest.mark.parametrize(
    ("status", "meaning"),
    [(0x0B, "invalid number"), (0x58, "throttled"), (0x14, "queue full"), (0x45, "other")],
)
async def test_submit_sm_resp_status_is_surfaced(smsc: Smsc, status: int, meaning: str) -> None:
    """A scripted error status comes back as the part's command_status, with no message id."""
    smsc.script("919800000001", Script(status=status))
    async with bound(smsc) as bind:
        [outcome] = await bind.submit(one(), wait_s=5)
    assert (outcome.result, outcome.command_status, outcome.message_id) == (
        PartResult.ANSWERED,
        status,
        None,
    ), meaning


async def test_throttling_for_the_next_submits_then_accepted(smsc: Smsc) -> None:
    """0x58 and 0x14 for the next two submits, then acceptance: each is surfaced as it came."""
    smsc.throttle(1, 0x58)
    smsc.throttle(1, 0x14)
    async with bound(smsc) as bind:
        statuses = [(await bind.submit(one(), wait_s=5))[0].command_status for _ in range(3)]
        assert bind.stats.answers == {0x58: 1, 0x14: 1, 0: 1}
    assert statuses == [0x58, 0x14, 0]


async def test_a_refused_part_stops_the_rest_of_the_message(smsc: Smsc) -> None:
    """When part 1 is throttled, part 2 is never sent (NOT_SENT), so nothing half goes out."""
    smsc.throttle(1, 0x58)
    async with bound(smsc) as bind:
        outcomes = await bind.submit(one("a" * 200), wait_s=5)
    assert [o.result for o in outcomes] == [PartResult.ANSWERED, PartResult.NOT_SENT]
    assert len(smsc.submits) == 1


async def test_receipts_by_tlv_and_by_text_reach_the_callback(smsc: Smsc) -> None:
    """A receipt by TLV and one by text both reach on_deliver with the submit's message id."""
    smsc.script("919800000001", Script(receipt="DELIVRD", receipt_by="tlv"))
    smsc.script("919800000002", Script(receipt="UNDELIV", receipt_by="text"))
    inbox = Inbox()
    async with bound(smsc, inbox) as bind:
        [first] = await bind.submit(one(to="+919800000001"), wait_s=5)
        [second] = await bind.submit(one(to="+919800000002"), wait_s=5)
        await eventually(lambda: len(inbox.items) == 2)
    receipts = {}
    for item in inbox.items:
        assert is_receipt(item.esm_class)
        receipt = parse_receipt(item.short_message, item.tlvs)
        receipts[receipt.message_id] = (receipt.outcome, receipt.reason)
    assert receipts == {
        first.message_id: ("delivered", None),
        second.message_id: ("failed", "delivery_failed"),
    }


async def test_receipt_before_its_submit_sm_resp(smsc: Smsc) -> None:
    """A receipt sent before the submit_sm_resp is handed over, and its callback may even wait
    for that submit to finish: a callback never holds up the reading of responses."""
    smsc.script("919800000001", Script(receipt_first=True))
    inbox = Inbox()
    inbox.gate = asyncio.Event()
    async with bound(smsc, inbox) as bind:
        send = asyncio.create_task(bind.submit(one(), wait_s=5))
        await eventually(lambda: inbox.entered == 1)
        [outcome] = await asyncio.wait_for(send, 5)  # answered while the callback still waits
        inbox.gate.set()
        await eventually(lambda: len(inbox.items) == 1)
    assert outcome.accepted
    assert parse_receipt(inbox.items[0].short_message, inbox.items[0].tlvs).message_id == (
        outcome.message_id
    )
    await eventually(lambda: smsc.deliveries[0].statuses == [0])


async def test_deliver_sm_resp_only_after_the_callback_returned(smsc: Smsc) -> None:
    """While the callback has not returned the SMSC gets no deliver_sm_resp; after, it gets 0."""
    inbox = Inbox()
    inbox.gate = asyncio.Event()
    async with bound(smsc, inbox):
        mo = asyncio.create_task(smsc.deliver_mo("919876543210", "12345", b"STOP"))
        await eventually(lambda: inbox.entered == 1)
        with pytest.raises(TimeoutError):  # half a second for a wrong early answer to arrive
            await asyncio.wait_for(smsc.deliveries[0].done.wait(), 0.5)
        assert smsc.deliveries[0].statuses == []
        inbox.gate.set()
        record = await asyncio.wait_for(mo, 10)
    assert record.statuses == [0]
    assert record.answered_at[0] >= inbox.returned_at[0]


async def test_failed_callback_answers_temporary_error_and_redelivery_succeeds(
    smsc: Smsc,
) -> None:
    """A raising callback gets ESME_RX_T_APPN (0x64), never 0; the SMSC's redelivery succeeds."""
    inbox = Inbox()
    inbox.fail_next = 1
    async with bound(smsc, inbox) as bind:
        record = await asyncio.wait_for(smsc.deliver_mo("919876543210", "12345", b"hi"), 10)
        assert (bind.stats.deliveries_failed, bind.stats.deliveries_ok) == (1, 1)
    assert record.statuses == [0x64, 0]
    assert [item.short_message for item in inbox.items] == [b"hi"]


@pytest.mark.parametrize(
    ("coding", "wire", "text"),
    [
        (0, b"Caf\x05 \x1b\x65", "Café €"),
        (3, b"Caf\xe9", "Café"),
        (8, b"\x04\x4f\xd8\x3d\xde\x00", "я😀"),
    ],
)
async def test_user_message_in_each_coding(smsc: Smsc, coding: int, wire: bytes, text: str) -> None:
    """A user's message arrives with its addresses, TON and data_coding, and decodes to text."""
    inbox = Inbox()
    async with bound(smsc, inbox):
        await smsc.deliver_mo("919876543210", "12345", wire, data_coding=coding)
    [item] = inbox.items
    assert not is_receipt(item.esm_class)
    assert (item.source.addr, item.source.ton, item.destination.addr) == (
        "919876543210",
        1,
        "12345",
    )
    assert decode_text(item.data_coding, item.payload) == text


async def test_multipart_user_message_arrives_as_parts_with_udh(smsc: Smsc) -> None:
    """The parts of a long user's message each arrive with their UDH, ready to be joined."""
    inbox = Inbox()
    async with bound(smsc, inbox):
        await smsc.deliver_mo_parts(
            "919876543210", "12345", [b"Hello ", b"world"], ref=0x5A, data_coding=0
        )
    parsed = [parse_udh(item.short_message) for item in inbox.items]
    assert all(item.esm_class & 0x40 for item in inbox.items)
    assert [(c.ref, c.total, c.seq) for c, _ in parsed if c] == [(0x5A, 2, 1), (0x5A, 2, 2)]
    assert b"".join(payload for _, payload in parsed) == b"Hello world"


async def test_receipt_on_another_bind_reaches_that_binds_callback(smsc: Smsc) -> None:
    """A receipt the SMSC sends on another bind than the submit's is handed to that bind."""
    smsc.script("919800000001", Script(receipt_on="other"))
    first, second = Inbox(), Inbox()
    async with bound(smsc, first) as submitting, bound(smsc, second):
        await eventually(lambda: smsc.bound == 2)
        [outcome] = await submitting.submit(one(), wait_s=5)
        await eventually(lambda: len(second.items) == 1)
    assert first.items == []
    receipt = parse_receipt(second.items[0].short_message, second.items[0].tlvs)
    assert receipt.message_id == outcome.message_id
