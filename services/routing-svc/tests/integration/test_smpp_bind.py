"""The SMPP bind against the SMSC simulator: binding, liveness, re-binds with back-off,
waiting while down, lost connections and the clean unbind (CONTRACT section 9)."""

from __future__ import annotations

import asyncio
import struct

import pytest
from parley_devtools.embedded import free_port
from parley_devtools.smsc import Script, Smsc
from parley_devtools.waiting import eventually
from routing_svc.adapters.providers.smpp import (
    BindRefused,
    PartResult,
    SmppConnection,
    SmppUnavailable,
    Timers,
    backoff_delay,
)
from smpp_kit import Changes, Inbox, RecordingSleep, bound, one


async def test_bind_is_a_transceiver_bind_with_the_credentials(smsc: Smsc) -> None:
    """The bind is bind_transceiver with system_id, password, system_type and version 0x34."""
    async with bound(smsc) as bind:
        assert bind.up
        assert bind.state == "up"
    [record] = smsc.binds
    assert (record.command_id, record.system_id, record.password) == (0x09, "parley", "secret")
    assert (record.system_type, record.interface_version, record.accepted) == ("", 0x34, True)


async def test_connection_with_a_wrong_password_is_refused(smsc: Smsc) -> None:
    """SmppConnection.open raises BindRefused carrying the SMSC's status (0x0E)."""
    with pytest.raises(BindRefused) as refused:
        await SmppConnection.open(
            smsc.host,
            smsc.port,
            system_id="parley",
            password="wrong",
            system_type="",
            window=10,
            on_deliver=Inbox(),
            timers=Timers(),
        )
    assert refused.value.status == 0x0E


async def test_connection_to_a_closed_port_fails() -> None:
    """With nothing listening, SmppConnection.open raises an OSError."""
    with pytest.raises(OSError):  # noqa: PT011 - the kernel's refusal is the point
        await SmppConnection.open(
            "127.0.0.1",
            free_port(),
            system_id="parley",
            password="secret",
            system_type="",
            window=10,
            on_deliver=Inbox(),
            timers=Timers(),
        )


async def test_an_impossible_command_length_ends_the_connection() -> None:
    """A frame whose command_length is below 16 ends the connection as `bad_frame`."""

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack(">I", await reader.readexactly(4))
        await reader.readexactly(length - 4)  # the rest of the bind
        writer.write(struct.pack(">IIII", 20, 0x80000009, 0, 1) + b"SIM\x00")
        writer.write(struct.pack(">I", 5) + b"\x00")
        await writer.drain()
        await reader.read()  # until the ESME hangs up

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        connection = await SmppConnection.open(
            "127.0.0.1",
            port,
            system_id="parley",
            password="secret",
            system_type="",
            window=10,
            on_deliver=Inbox(),
            timers=Timers(),
        )
        assert await asyncio.wait_for(connection.wait_closed(), 5) == "bad_frame"
    finally:
        server.close()


async def test_an_unknown_request_from_the_smsc_gets_generic_nack() -> None:
    """A request we do not handle (data_sm) is answered generic_nack ESME_RINVCMDID, and the
    connection stays up."""
    answers: asyncio.Queue[bytes] = asyncio.Queue()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack(">I", await reader.readexactly(4))
        await reader.readexactly(length - 4)
        writer.write(struct.pack(">IIII", 20, 0x80000009, 0, 1) + b"SIM\x00")
        writer.write(struct.pack(">IIII", 16, 0x00000103, 0, 77))  # data_sm, body aside
        await writer.drain()
        await answers.put(await reader.readexactly(16))
        await reader.read()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        connection = await SmppConnection.open(
            "127.0.0.1",
            port,
            system_id="parley",
            password="secret",
            system_type="",
            window=10,
            on_deliver=Inbox(),
            timers=Timers(),
        )
        answer = await asyncio.wait_for(answers.get(), 5)
        assert answer == struct.pack(">IIII", 16, 0x80000000, 0x03, 77)
        assert not connection.closed
        connection.abort("test_over")
    finally:
        server.close()


async def test_enquire_link_is_sent_every_period(smsc: Smsc) -> None:
    """With enquire_link_s 0.1 the SMSC keeps getting enquire_link, and the bind stays up."""
    async with bound(smsc, enquire_link_s=0.1) as bind:
        await eventually(lambda: smsc.enquire_links >= 3)
        assert bind.up
        assert bind.stats.binds == 1


async def test_the_smscs_enquire_link_is_answered(smsc: Smsc) -> None:
    """An enquire_link from the SMSC gets its enquire_link_resp."""
    async with bound(smsc):
        assert await smsc.send_enquire_link() == 1


async def test_unanswered_link_is_dropped_and_rebound(smsc: Smsc) -> None:
    """An enquire_link unanswered for link_timeout_s drops the link; the bind comes back."""
    changes = Changes()
    smsc.mute_enquire_link = True
    async with bound(smsc, observer=changes, enquire_link_s=0.1, link_timeout_s=0.3) as bind:
        await eventually(lambda: (False, "link_timeout") in changes.states)
        smsc.mute_enquire_link = False
        await eventually(lambda: bind.stats.binds >= 2 and bind.up)
        assert changes.states[:2] == [(True, None), (False, "link_timeout")]


async def test_rebind_after_a_dropped_connection_waits_one_second(smsc: Smsc) -> None:
    """After the SMSC drops the connection the bind comes back after a 1 s back-off."""
    sleep = RecordingSleep()
    changes = Changes()
    async with bound(smsc, sleep=sleep, observer=changes) as bind:
        assert smsc.drop_connections() == 1
        await eventually(lambda: bind.stats.binds >= 2 and bind.up)
    assert sleep.delays == [1.0]
    assert changes.states == [(True, None), (False, "closed_by_smsc"), (True, None)]


async def test_refused_bind_backs_off_from_1_to_30_s_and_messages_wait(smsc: Smsc) -> None:
    """A wrong password: re-binds after 1, 2, 4, 8, 16, 30, 30 s, the bind is down with the
    status, a submit waits (and times out unsent); once the password works it binds and the
    waiting submit goes out; the next loss starts again at 1 s."""
    sleep = RecordingSleep()
    async with bound(smsc, password="nope", sleep=sleep, wait_up=False) as bind:
        await eventually(lambda: len(sleep.delays) >= 7)
        assert sleep.delays[:7] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
        assert (bind.up, bind.state, bind.last_error) == (False, "down", "bind_refused_0x0e")
        with pytest.raises(SmppUnavailable, match="bind_refused_0x0e"):
            await bind.submit(one(), wait_s=0.05)
        waiting = asyncio.create_task(bind.submit(one(), wait_s=30))
        smsc.password = "nope"
        [outcome] = await asyncio.wait_for(waiting, 10)
        assert outcome.accepted
        before = len(sleep.delays)
        smsc.drop_connections()
        await eventually(lambda: bind.stats.binds >= 2 and bind.up)
        assert sleep.delays[before:] == [1.0]
    assert [record.accepted for record in smsc.binds][-2:] == [True, True]


def test_backoff_schedule() -> None:
    """The back-off doubles from 1 s and stays at 30 s."""
    assert [backoff_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff_delay(1000) == 30


async def test_submit_waits_while_the_smsc_is_down_then_goes_out(smsc: Smsc) -> None:
    """With the SMSC stopped a submit waits for the bind; restarted on the same port, it is sent."""
    async with bound(smsc) as bind:
        await smsc.stop()
        await eventually(lambda: not bind.up)
        with pytest.raises(SmppUnavailable):
            await bind.submit(one(), wait_s=0.05)
        waiting = asyncio.create_task(bind.submit(one(), wait_s=30))
        await smsc.start()
        [outcome] = await asyncio.wait_for(waiting, 10)
    assert outcome.accepted
    assert len(smsc.submits) == 1


async def test_connection_lost_while_waiting_is_its_own_outcome(smsc: Smsc) -> None:
    """A submit written but unanswered when the connection drops comes back CONNECTION_LOST,
    not as a failure status; the next submit goes out on the new bind."""
    smsc.script("919800000001", Script(answer=False))
    async with bound(smsc) as bind:
        waiting = asyncio.create_task(bind.submit(one(to="+919800000001"), wait_s=5))
        await eventually(lambda: len(smsc.submits) == 1)
        smsc.drop_connections()
        [lost] = await asyncio.wait_for(waiting, 5)
        [after] = await bind.submit(one(to="+919800000002"), wait_s=10)
        assert bind.stats.unanswered == {"connection_lost": 1}
    assert (lost.result, lost.command_status) == (PartResult.CONNECTION_LOST, None)
    assert after.accepted


async def test_unanswered_submit_frees_its_slot_after_the_response_timeout(smsc: Smsc) -> None:
    """A submit never answered is NO_RESPONSE after response_timeout_s and frees the window."""
    smsc.script("919800000001", Script(answer=False))
    async with bound(smsc, window=1, response_timeout_s=0.3) as bind:
        [silent] = await bind.submit(one(to="+919800000001"), wait_s=5)
        [next_one] = await bind.submit(one(to="+919800000002"), wait_s=5)
    assert silent.result is PartResult.NO_RESPONSE
    assert next_one.accepted


async def test_the_smscs_unbind_is_answered_and_the_bind_comes_back(smsc: Smsc) -> None:
    """An unbind from the SMSC is answered and followed by a re-bind."""
    changes = Changes()
    async with bound(smsc, observer=changes) as bind:
        await smsc.unbind_all()
        await eventually(lambda: bind.stats.binds >= 2 and bind.up)
    assert (False, "unbound_by_smsc") in changes.states


async def test_close_waits_for_outstanding_responses_then_unbinds(smsc: Smsc) -> None:
    """close() takes no new submits, waits for the outstanding answers, then unbinds."""
    smsc.hold()
    async with bound(smsc) as bind:
        sends = [asyncio.create_task(bind.submit(one(), wait_s=5)) for _ in range(2)]
        await eventually(lambda: smsc.outstanding == 2)
        closing = asyncio.create_task(bind.close())
        with pytest.raises(TimeoutError):  # still waiting for the two answers
            await asyncio.wait_for(asyncio.shield(closing), 0.3)
        assert smsc.unbinds == 0
        with pytest.raises(SmppUnavailable):
            await bind.submit(one(), wait_s=1)
        smsc.release()
        await asyncio.wait_for(closing, 5)
        results = await asyncio.gather(*sends)
    assert all(outcome.accepted for [outcome] in results)
    assert smsc.unbinds == 1
    assert bind.state == "closed"


async def test_close_gives_up_waiting_after_the_drain_timeout(smsc: Smsc) -> None:
    """An answer that does not come within drain_timeout_s is given up: unbind, CONNECTION_LOST."""
    smsc.hold()
    async with bound(smsc, drain_timeout_s=0.3) as bind:
        send = asyncio.create_task(bind.submit(one(), wait_s=5))
        await eventually(lambda: smsc.outstanding == 1)
        await asyncio.wait_for(bind.close(), 5)
        [outcome] = await send
    assert outcome.result is PartResult.CONNECTION_LOST
    assert smsc.unbinds == 1
