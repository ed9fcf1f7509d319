"""The SMPP connector end to end: routing-svc with an `smpp` route against the SMSC simulator
(CONTRACT section 9, "SMPP 3.4" and "Common to every connector")."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import smpp34
from parley_devtools.smsc import Script, Smsc
from parley_devtools.waiting import eventually
from routing_testkit import NUMBER, Routing, allow, fallback

PASSWORD_ENV = "PARLEY_TEST_SMSC_PASSWORD"
OUT = {"lookup_opt_in": False, "lookup_opt_out": True}
DIGITS = NUMBER.removeprefix("+")


def routes(smsc: Smsc, *, binds: int = 1, capacity: float = 1000, sandbox: bool = True) -> Any:
    """A routes file: one SMPP route at the simulator, and sandbox WhatsApp for fallbacks."""
    entries: list[dict[str, Any]] = [
        {
            "name": "sms-smsc",
            "channel": "sms",
            "capacity_per_s": capacity,
            "provider": "smpp",
            "smpp": {
                "host": smsc.host,
                "port": smsc.port,
                "system_id": "parley",
                "password_env": PASSWORD_ENV,
                "binds": binds,
                "window": 10,
                "enquire_link_s": 30,
            },
        }
    ]
    if sandbox:
        entries.append({"name": "wa-1", "channel": "whatsapp", "capacity_per_s": 1000})
    return {"routes": entries}


@pytest.fixture
def smpp_routes(
    smsc: Smsc,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    routing_settings: dict[str, Any],
) -> Callable[..., Path]:
    """Write a routes file for the simulator and point the service at it (before `routing`)."""
    monkeypatch.setenv(PASSWORD_ENV, "secret")

    def write(**options: Any) -> Path:
        path = tmp_path / "routes.json"
        path.write_text(json.dumps(routes(smsc, **options)), "utf-8")
        routing_settings["routes_file"] = path
        routing_settings["timer_grace_seconds"] = 0.2
        return path

    write()
    return write


@pytest.fixture
async def smpp(smpp_routes: Callable[..., Path], routing: Routing) -> Routing:
    """routing-svc with the SMPP route bound to the simulator."""
    await eventually(lambda: route_up(routing, "sms-smsc"), 15)
    return routing


async def metrics(routing: Routing) -> str:
    """routing-svc's `/metrics` text."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(routing.api.base + "/metrics") as response,
    ):
        return await response.text()


async def route_up(routing: Routing, route: str) -> bool:
    """Whether `/metrics` shows the route up."""
    return f'parley_route_up{{route="{route}"}} 1.0' in await metrics(routing)


def submits_to(smsc: Smsc, digits: str = DIGITS) -> list[smpp34.SubmitSm]:
    """Every submit_sm the simulator received for `digits`."""
    return [s.pdu for s in smsc.submits if s.pdu.destination_addr == digits]


async def test_a_short_gsm_message_is_one_submit_sm_with_the_contracts_fields(
    smpp: Routing, smsc: Smsc
) -> None:
    """One part: sender TON 5 / NPI 0, recipient without + TON 1 / NPI 1, data_coding 0,
    registered_delivery 1, relative validity; sent then delivered by the receipt."""
    account = await smpp.account(["sms"], {"sms": {"sender_ids": allow("PARLEY")}})
    message_id = await smpp.api.sent(
        account, content={"text": "Code 4821 {ok} €"}, validity_seconds=300
    )
    final = await smpp.events.final(message_id)
    assert final["data"]["status"] == "delivered"
    assert final["data"]["route"] == "sms-smsc"
    assert smpp.events.kinds(message_id) == ["sent", "delivered"]
    [pdu] = submits_to(smsc)
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("PARLEY", 5, 0)
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == (DIGITS, 1, 1)
    assert (pdu.data_coding, pdu.esm_class, pdu.registered_delivery) == (0, 0, 1)
    assert pdu.short_message == b"Code 4821 \x1b(ok\x1b) \x1be"
    assert pdu.validity_period in ("000000000500000R", "000000000459000R")


async def test_a_long_ucs2_message_goes_in_udh_parts_and_is_delivered_once_all_are(
    smpp: Routing, smsc: Smsc
) -> None:
    """150 characters of Devanagari: three UCS-2 parts of at most 67 units, each with the UDH
    `05 00 03 ref 3 seq`, one ref; `delivered` once all three receipts came."""
    account = await smpp.account(["sms"])
    text = "नमस्ते" * 25
    message_id = await smpp.api.sent(account, content={"text": text})
    final = await smpp.events.final(message_id)
    assert final["data"]["status"] == "delivered"
    parts = submits_to(smsc)
    assert len(parts) == 3
    refs = {pdu.short_message[3] for pdu in parts}
    assert len(refs) == 1
    for seq, pdu in enumerate(parts, start=1):
        assert (pdu.data_coding, pdu.esm_class) == (8, 0x40)
        assert pdu.short_message[:6] == bytes(
            [5, 0, 3, refs.pop() if False else pdu.short_message[3], 3, seq]
        )
        assert len(pdu.short_message) - 6 <= 134
    joined = b"".join(pdu.short_message[6:] for pdu in parts)
    assert joined.decode("utf-16-be") == text


async def test_invalid_destination_fails_invalid_number_and_falls_back(
    smpp: Routing, smsc: Smsc
) -> None:
    """submit_sm_resp 0x0B fails the attempt `invalid_number`; the account's SMS -> WhatsApp
    fallback on it then delivers on WhatsApp."""
    smsc.script(DIGITS, Script(status=0x0B, receipt=None))
    account = await smpp.account(
        ["sms", "whatsapp"], {"sms": {"fallback": fallback("whatsapp", None, "invalid_number")}}
    )
    message_id = await smpp.api.sent(account)
    final = await smpp.events.final(message_id)
    assert (final["data"]["channel"], final["data"]["status"]) == ("whatsapp", "delivered")
    fell = next(e for e in smpp.events.of(message_id) if e["type"].endswith("fallback"))
    assert (fell["data"]["reason"], fell["data"]["fallback_to"]) == ("invalid_number", "whatsapp")


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        pytest.param(Script(status=0x45, receipt=None), "delivery_failed", id="resp-0x45"),
        pytest.param(Script(receipt="UNDELIV"), "delivery_failed", id="receipt-undeliv"),
        pytest.param(Script(receipt="REJECTD", receipt_by="text"), "delivery_failed", id="rej"),
        pytest.param(Script(receipt="EXPIRED"), "validity_expired", id="receipt-expired"),
    ],
)
async def test_failures_map_to_the_contracts_reasons(
    smpp: Routing, smsc: Smsc, script: Script, reason: str
) -> None:
    """Other submit_sm_resp errors and failed receipt states end the message with the reason."""
    smsc.script(DIGITS, script)
    account = await smpp.account(["sms"])
    message_id = await smpp.api.sent(account)
    final = await smpp.events.final(message_id)
    assert (final["data"]["status"], final["data"]["reason"]) == ("failed", reason)


@pytest.mark.parametrize("by", ["tlv", "text"])
async def test_receipts_by_tlv_or_text_and_before_the_response(
    smpp: Routing, smsc: Smsc, by: str
) -> None:
    """A receipt by TLV or by text, sent before its submit_sm_resp, still delivers."""
    smsc.script(DIGITS, Script(receipt_by=by, receipt_first=True))  # type: ignore[arg-type]
    account = await smpp.account(["sms"])
    message_id = await smpp.api.sent(account)
    final = await smpp.events.final(message_id)
    assert final["data"]["status"] == "delivered"


async def test_throttled_submits_are_offered_again_never_failed(smpp: Routing, smsc: Smsc) -> None:
    """Throttling (0x58 then 0x14) is not a failure: the message goes out once it lifts."""
    smsc.throttle(2, 0x58)
    account = await smpp.account(["sms"])
    message_id = await smpp.api.sent(account)
    final = await smpp.events.final(message_id, within_s=20)
    assert final["data"]["status"] == "delivered"
    smsc.throttle(1, 0x14)
    second = await smpp.api.sent(account)
    assert (await smpp.events.final(second, within_s=20))["data"]["status"] == "delivered"
    text = await metrics(smpp)
    assert 'parley_smpp_responses_total{route="sms-smsc",status="0x58"} 2.0' in text
    assert 'parley_smpp_responses_total{route="sms-smsc",status="0x14"} 1.0' in text


async def test_no_receipt_ends_in_dr_ttl_expired_and_falls_back(smpp: Routing, smsc: Smsc) -> None:
    """No receipt within the hop's DR TTL: `dr_ttl_expired`, then the fallback delivers."""
    smsc.script(DIGITS, Script(receipt=None))
    account = await smpp.account(
        ["sms", "whatsapp"], {"sms": {"fallback": fallback("whatsapp", 1, "dr_ttl_expired")}}
    )
    message_id = await smpp.api.sent(account)
    final = await smpp.events.final(message_id, within_s=15)
    assert (final["data"]["channel"], final["data"]["status"]) == ("whatsapp", "delivered")
    fell = next(e for e in smpp.events.of(message_id) if e["type"].endswith("fallback"))
    assert fell["data"]["reason"] == "dr_ttl_expired"


async def test_user_messages_and_stop_arrive_over_smpp(smpp: Routing, smsc: Smsc) -> None:
    """A user's SMS (UCS-2, and a two-part GSM one) reaches the conversational account naming
    the sender; `STOP` opts the user out; every deliver_sm was answered 0."""
    account = await smpp.account(
        ["sms"],
        {"sms": {"sender_ids": allow("PARLEY")}},
        communication_type="conversational",
        consent=OUT,
    )
    await smsc.deliver_mo(DIGITS, "PARLEY", "नमस्ते".encode("utf-16-be"), data_coding=8)
    long_text = "A" * 150 + "B" * 100
    halves = [long_text[:153].encode(), long_text[153:].encode()]
    await smsc.deliver_mo_parts(DIGITS, "PARLEY", halves, ref=42, data_coding=0)
    await eventually(lambda: len(smpp.events.inbound) >= 2, 10)
    texts = sorted(e["data"]["text"] for e in smpp.events.inbound)
    assert texts == sorted(["नमस्ते", long_text])
    assert {e["data"]["from"] for e in smpp.events.inbound} == {NUMBER}
    await smsc.deliver_mo(DIGITS, "PARLEY", b"stop")
    await eventually(lambda: len(smpp.events.inbound) >= 3, 10)
    status, answer = await smpp.api.send(account)
    assert (status, answer["type"]) == (422, "opted_out")
    mos = [d for d in smsc.deliveries if d.kind == "mo"]
    assert len(mos) == 4
    assert all(d.statuses == [0] for d in mos)  # each answered 0, once: nothing resent


async def test_smsc_restart_mid_traffic_loses_nothing_and_fails_nothing(
    smpp: Routing, smsc: Smsc
) -> None:
    """The SMSC stops and comes back while 60 messages are in flight: all 60 end delivered."""
    account = await smpp.account(["sms"])
    ids = [await smpp.api.sent(account, to=f"+9198765{i:05d}") for i in range(30)]
    await smsc.stop()
    ids += [await smpp.api.sent(account, to=f"+9198766{i:05d}") for i in range(30)]
    await asyncio.sleep(0.5)
    await smsc.start()
    for message_id in ids:
        final = await smpp.events.final(message_id, within_s=60)
        assert final["data"]["status"] == "delivered", final
