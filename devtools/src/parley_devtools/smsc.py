"""An SMSC simulator for tests and benchmarks, on smpp34's server side (`smpp34.Server`).

What it does, per destination (`script`): answer `submit_sm` with a status, send a receipt by
TLV or by text, at once or after a delay, optionally before the `submit_sm_resp`, on the same
or another bind, or never answer; answer the next N submits with a throttling status
(`throttle`); hold every answer until released (`hold` / `release`, counting what is
outstanding per connection); send user messages on demand (`deliver_mo`, `deliver_mo_parts`);
drop every connection, stop and start again on the same port; refuse a bind whose password is
wrong; and record every `submit_sm` as it arrived (`submits`: smpp34's decoded `SubmitSm`, so
every field, and the raw bytes) and every `deliver_sm` it sent with each answer's status and
time (`deliveries`). A `deliver_sm` answered with an error, or not answered, is sent again
(`redeliver_delay_s`) for up to `deliver_patience_s`, as an SMSC keeps a receipt until an
ESME takes it.

smpp34's server accepts any password, cannot drop a connection and does not report
`validity_period`: the relay in `smsc_relay` stands in front of it for those (it refuses a bad
bind itself with a header-only `bind_transceiver_resp` ESME_RINVPASWD, 0x0E).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import smpp34

from parley_devtools.embedded import free_port
from parley_devtools.smsc_relay import HEADER, LOOPBACK, Link, Relay
from parley_devtools.smsc_script import (
    BIND_IDS,
    DELIVER_SM,
    ENQUIRE_LINK,
    ENQUIRE_LINK_RESP,
    ESME_RINVPASWD,
    INJECTED_SEQUENCE,
    SUBMIT_SM,
    TLV_RECEIPTED_MESSAGE_ID,
    UNBIND,
    BindRecord,
    Delivered,
    Script,
    Submitted,
    c_strings,
    receipt_fields,
)

__all__ = ["BindRecord", "Delivered", "Script", "Smsc", "Submitted"]


class Smsc:
    """The simulator. `await start()`, point an ESME at `port`, `await stop()`."""

    def __init__(
        self,
        *,
        system_id: str = "parley",
        password: str = "secret",  # noqa: S107 - the test SMSC's own password
        redeliver_delay_s: float = 0.2,
        deliver_patience_s: float = 30.0,
        record: bool = True,
        port: int = 0,
        relay: bool = True,
    ) -> None:
        self.system_id, self.password = system_id, password
        self.redeliver_delay_s = redeliver_delay_s
        self.deliver_patience_s = deliver_patience_s
        self.record = record
        self.default = Script()
        self.bind_status: int | None = None  # set: every bind is refused with this status
        self.submits: list[Submitted] = []
        self.binds: list[BindRecord] = []
        self.deliveries: list[Delivered] = []
        self.answers: Counter[int] = Counter()
        self.enquire_links = 0
        self.unbinds = 0
        self.mute_enquire_link = False
        self.max_outstanding = 0
        self._scripts: dict[str, Script] = {}
        self._throttle: list[int] = []
        self._holding = False
        self._held: list[tuple[smpp34.SubmitSmEvent, Script, str]] = []
        self._never: list[smpp34.SubmitSmEvent] = []
        self._sessions: dict[str, smpp34.Esme] = {}
        self._ids = 0
        self._injected: dict[int, asyncio.Future[None]] = {}
        self._seen_down: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: smpp34.Server | None = None
        self._serve_task: asyncio.Task[None] | None = None
        # Without the relay (benchmarks only) ESMEs reach smpp34's server directly: no bind
        # check, no record of submits, no drops, mutes or injected enquire_links.
        self._relayed = relay
        self._server_port = free_port() if relay or not port else port
        self._relay = Relay(self._server_port, self._up, self._down, port=port)

    # ---------------------------------------------------------------- lifecycle
    @property
    def submitted(self) -> int:
        """Submits taken (given a message id, answered or held), every session together."""
        return self._ids

    @property
    def port(self) -> int:
        """Where ESMEs connect (stable across stop/start)."""
        return self._relay.port if self._relayed else self._server_port

    @property
    def host(self) -> str:
        """The loopback address it listens on."""
        return LOOPBACK

    async def start(self) -> None:
        """Start the smpp34 server and the relay in front of it (same ports after a stop)."""
        self._server = smpp34.Server(LOOPBACK, self._server_port, system_id="SIM")
        await self._server.start()
        self._serve_task = asyncio.create_task(self._serve(self._server))
        if self._relayed:
            await self._relay.start()

    async def stop(self) -> None:
        """Close every connection and stop listening; held answers are dropped. Receipts not
        yet taken keep being offered once it is started again."""
        await self._relay.stop()
        if self._serve_task is not None:
            self._serve_task.cancel()
            await asyncio.gather(self._serve_task, return_exceptions=True)
        if self._server is not None:
            await self._server.stop()
        self._server, self._serve_task = None, None
        self._sessions.clear()
        self._held.clear()
        self._never.clear()

    async def close(self) -> None:
        """Stop, and cancel every delivery still being offered."""
        await self.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def drop_connections(self) -> int:
        """Close every ESME connection at once; how many were open."""
        return self._relay.drop_all()

    @property
    def bound(self) -> int:
        """How many ESME sessions are bound now."""
        return len(self._sessions)

    @property
    def connections(self) -> int:
        """How many ESME connections are open now."""
        return len(self._relay.open_links)

    # ---------------------------------------------------------------- scripting
    def script(self, destination: str, script: Script) -> None:
        """Answer submits to `destination` (as sent: digits without `+`) this way."""
        self._scripts[destination] = script

    def throttle(self, count: int, status: int = 0x58) -> None:
        """Answer the next `count` submits with `status` (0x58 throttled, 0x14 queue full)."""
        self._throttle.extend([status] * count)

    def hold(self) -> None:
        """Hold every answer until `release` (to count what an ESME leaves outstanding)."""
        self._holding = True

    def release(self, count: int | None = None) -> int:
        """Answer the oldest `count` held submits (all when None) and, with None, stop
        holding; how many were answered."""
        if count is None:
            self._holding = False
        batch = self._held if count is None else self._held[:count]
        self._held = [] if count is None else self._held[count:]
        for event, script, message_id in batch:
            self._answer(event, script, message_id)
        return len(batch)

    @property
    def outstanding(self) -> int:
        """Submits held and not yet answered."""
        return len(self._held)

    # ---------------------------------------------------------------- submits
    async def _serve(self, server: smpp34.Server) -> None:
        while True:
            event = await server.next()
            if isinstance(event, smpp34.Esme):
                self._sessions[event.session_id] = event
            elif isinstance(event, smpp34.Unbound):
                self._sessions.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._on_submit(event)

    def _on_submit(self, event: smpp34.SubmitSmEvent) -> None:
        if self._throttle:
            status = self._throttle.pop(0)
            self.answers[status] += 1
            event.reject(status)
            return
        script = self._scripts.get(event.destination_addr, self.default)
        if not script.answer:
            self._never.append(event)
            return
        self._ids += 1
        message_id = f"sim{self._ids:08x}"
        if self._holding:
            self._held.append((event, script, message_id))
            session = event.session_id
            waiting = sum(1 for held, _, _ in self._held if held.session_id == session)
            self.max_outstanding = max(self.max_outstanding, waiting)
            return
        self._answer(event, script, message_id)

    def _answer(self, event: smpp34.SubmitSmEvent, script: Script, message_id: str) -> None:
        self.answers[script.status] += 1
        if script.status != 0:
            event.reject(script.status)
            return
        if script.receipt is None:
            event.accept(message_id)
        elif script.receipt_first:
            self._spawn(self._receipt_then_accept(event, script, message_id))
        else:
            event.accept(message_id)
            self._spawn(self._receipt(event, script, message_id))

    async def _receipt_then_accept(
        self, event: smpp34.SubmitSmEvent, script: Script, message_id: str
    ) -> None:
        seen = self._seen_down.setdefault(message_id, asyncio.Event())
        self._spawn(self._receipt(event, script, message_id))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(seen.wait(), 5.0)  # the receipt has gone out to the ESME
        self._seen_down.pop(message_id, None)
        event.accept(message_id)

    async def _receipt(self, event: smpp34.SubmitSmEvent, script: Script, message_id: str) -> None:
        if script.receipt_delay_s:
            await asyncio.sleep(script.receipt_delay_s)
        fields = receipt_fields(event, script, message_id)
        record = Delivered("receipt", message_id)
        avoid = event.session_id if script.receipt_on == "other" else None
        prefer = event.session_id if script.receipt_on == "same" else None
        await self._offer(record, fields, prefer=prefer, avoid=avoid)

    # ---------------------------------------------------------------- user messages (MO)
    async def deliver_mo(
        self,
        source: str,
        destination: str,
        short_message: bytes,
        *,
        data_coding: int = 0,
        esm_class: int = 0,
        source_ton: int = 1,
        source_npi: int = 1,
        tlvs: list[smpp34.Tlv] | None = None,
    ) -> Delivered:
        """Send a user's message to a bound ESME (again after an error or no answer); returns
        once it was acknowledged with 0 or `deliver_patience_s` ran out."""
        fields = {
            "destination_addr": destination,
            "short_message": short_message,
            "source_addr": source,
            "source_addr_ton": source_ton,
            "source_addr_npi": source_npi,
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "esm_class": esm_class,
            "data_coding": data_coding,
            "tlvs": tlvs or [],
        }
        record = Delivered("mo", None)
        await self._offer(record, fields, prefer=None, avoid=None)
        return record

    async def deliver_mo_parts(
        self, source: str, destination: str, payloads: list[bytes], *, ref: int, data_coding: int
    ) -> list[Delivered]:
        """A long user's message: each payload behind UDH `05 00 03 ref total seq`, in order."""
        total = len(payloads)
        return [
            await self.deliver_mo(
                source,
                destination,
                bytes([5, 0, 3, ref, total, seq]) + payload,
                data_coding=data_coding,
                esm_class=0x40,
            )
            for seq, payload in enumerate(payloads, start=1)
        ]

    async def _offer(
        self, record: Delivered, fields: dict[str, Any], *, prefer: str | None, avoid: str | None
    ) -> None:
        """Send until an ESME answers 0, at most `deliver_patience_s`."""
        self.deliveries.append(record)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deliver_patience_s
        while loop.time() < deadline:
            esme = self._pick(prefer, avoid)
            if esme is not None:
                try:
                    answer = await asyncio.wait_for(esme.deliver_sm(**fields), 5.0)
                except Exception:  # noqa: BLE001 - any failure: offered again, like an SMSC
                    record.statuses.append(None)
                else:
                    record.statuses.append(answer.command_status)
                    record.answered_at.append(loop.time())
                    if answer.command_status == 0:
                        break
            await asyncio.sleep(self.redeliver_delay_s)
        record.done.set()

    def _pick(self, prefer: str | None, avoid: str | None) -> smpp34.Esme | None:
        if prefer is not None and prefer in self._sessions:
            return self._sessions[prefer]
        others = [s for key, s in self._sessions.items() if key != avoid]
        if others:
            return others[0]
        return self._sessions.get(avoid) if avoid is not None else None

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------------------- link control
    async def send_enquire_link(self, within_s: float = 10.0) -> int:
        """Send an `enquire_link` to every open connection; how many answered in time."""
        loop = asyncio.get_running_loop()
        waits = []
        for link in self._relay.open_links:
            sequence = INJECTED_SEQUENCE + len(self._injected)
            self._injected[sequence] = loop.create_future()
            waits.append(self._injected[sequence])
            link.send_to_client(HEADER.pack(16, ENQUIRE_LINK, 0, sequence))
        done, _ = await asyncio.wait(waits, timeout=within_s) if waits else (set(), set())
        return len(done)

    async def unbind_all(self) -> None:
        """The SMSC unbinds every bound ESME (smpp34's `Esme.unbind`)."""
        for esme in list(self._sessions.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(esme.unbind(), 2.0)

    # ---------------------------------------------------------------- relay hooks
    def _up(self, link: Link, frame: bytes) -> bool:
        """ESME -> server: record, answer or swallow; whether to forward."""
        _, command_id, _, sequence = HEADER.unpack_from(frame)
        if command_id == SUBMIT_SM:
            if self.record:
                pdu = smpp34.decode(frame)
                assert isinstance(pdu, smpp34.SubmitSm)
                self.submits.append(Submitted(pdu, frame, link.number, time.monotonic()))
            return True
        if command_id == ENQUIRE_LINK:
            self.enquire_links += 1
            return not self.mute_enquire_link
        if command_id == ENQUIRE_LINK_RESP and sequence in self._injected:
            future = self._injected[sequence]
            if not future.done():
                future.set_result(None)
            return False
        if command_id in BIND_IDS:
            return self._bind(link, frame, command_id, sequence)
        if command_id == UNBIND:
            self.unbinds += 1
        return True

    def _bind(self, link: Link, frame: bytes, command_id: int, sequence: int) -> bool:
        (system_id, password, system_type), rest = c_strings(frame[16:], 3)
        refusal = self.bind_status
        if refusal is None and (system_id != self.system_id or password != self.password):
            refusal = ESME_RINVPASWD
        self.binds.append(
            BindRecord(
                command_id,
                system_id,
                password,
                system_type,
                rest[0] if rest else 0,
                link.number,
                refusal is None,
                time.monotonic(),
            )
        )
        if refusal is None:
            return True
        link.send_to_client(HEADER.pack(16, command_id | 0x80000000, refusal, sequence))
        link.close(flush=True)
        return False

    def _down(self, link: Link, frame: bytes) -> None:
        """Server -> ESME: note receipts going out, for `receipt_first`."""
        if not self._seen_down:
            return
        _, command_id, _, _ = HEADER.unpack_from(frame)
        if command_id != DELIVER_SM:
            return
        pdu = smpp34.decode(frame)
        if not isinstance(pdu, smpp34.DeliverSm):
            return
        tags = TLV_RECEIPTED_MESSAGE_ID
        ids = [t.value.rstrip(b"\x00").decode() for t in pdu.tlvs if t.tag == tags]
        text = pdu.short_message
        for key, seen in self._seen_down.items():
            if key in ids or f"id:{key} ".encode() in text:
                seen.set()
