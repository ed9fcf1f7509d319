"""One SMPP 3.4 transceiver connection, owned end to end on asyncio streams (CONTRACT 9).

smpp34's `Client` is not used for our side (service README, "SMPP"): it acknowledges receipts
and user messages before the application has them, ignores its window, has fixed timers and
lost bytes on short writes. This module owns the session instead; smpp34 is its codec.

- Framing: exactly one PDU is read at a time, by `command_length`; a length outside
  16..`MAX_PDU_LENGTH` ends the connection (the stream cannot be resynchronised). Writes go
  through the asyncio transport, which keeps every byte of a short write.
- Window: at most `window` `submit_sm` await their `submit_sm_resp`; `submit` waits for a slot.
- Liveness: `enquire_link` every `enquire_link_s`; one unanswered for `link_timeout_s` (10 s)
  drops the connection. The SMSC's `enquire_link` and `unbind` are answered; any other request
  gets `generic_nack` ESME_RINVCMDID.
- Acknowledgement order: a `deliver_sm` is handed to `on_deliver`; `deliver_sm_resp` 0 is sent
  only once that returns (the callback makes it durable), ESME_RX_T_APPN (0x64, temporary: the
  SMSC delivers again) when it raises, and nothing when the connection is gone first (the SMSC
  delivers again after the re-bind). Each delivery runs as its own task, so a slow callback
  never holds up the reading of `submit_sm_resp`s: a receipt may arrive before the response of
  its own submit, and both orders work. At most `max_deliveries` callbacks run at once; past
  that the connection stops reading (TCP pushes back on the SMSC).
- A `submit_sm` whose response does not come within `response_timeout_s` frees its slot and is
  reported as `NO_RESPONSE` (the SMSC may or may not have it).

Errors and outcomes are in `outcomes.py`, frame reading in `framing.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import smpp34
import structlog

from routing_svc.adapters.providers.smpp.framing import bind_response, read_frame
from routing_svc.adapters.providers.smpp.outcomes import (
    ConnectionLost,
    FramingError,
    NotSent,
    PartResult,
    ResponseTimeout,
    SmppError,
    SubmitOutcome,
)
from routing_svc.adapters.providers.smpp.pdu import (
    DELIVER_SM,
    ENQUIRE_LINK,
    ENQUIRE_LINK_RESP,
    ESME_RINVCMDID,
    ESME_ROK,
    ESME_RSYSERR,
    ESME_RX_T_APPN,
    GENERIC_NACK,
    HEADER,
    HEADER_LENGTH,
    MAX_SEQUENCE,
    RESPONSE_BIT,
    UNBIND,
    UNBIND_RESP,
    Delivery,
    SubmitPart,
    bind_transceiver,
    deliver_sm_resp,
    first_c_string,
    header_only,
)

log = structlog.get_logger("routing_svc.smpp")

DeliverCallback = Callable[[Delivery], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Timers:
    """The session's timers, in seconds (CONTRACT section 9 fixes the first two's defaults)."""

    enquire_link_s: float = 30.0
    link_timeout_s: float = 10.0
    response_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_deliveries: int = 64


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen (its awaiter may have gone, e.g. at shutdown)."""
    if not future.cancelled():
        future.exception()


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[tuple[int, int, bytes]]
    timer: asyncio.TimerHandle
    slot: bool = False  # a submit holding a window slot until its answer


@dataclass(slots=True)
class _Queued:
    """A submit waiting for a window slot: written by `_pump` the moment one frees."""

    part: SubmitPart
    written: asyncio.Future[asyncio.Future[tuple[int, int, bytes]]]


class SmppConnection:
    """One bound transceiver connection. `open()` connects and binds; `wait_closed()` returns
    why it ended; `unbind()` ends it cleanly. It never reconnects (`SmppBind` does)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        window: int,
        on_deliver: DeliverCallback,
        timers: Timers,
        first_sequence: int = 1,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._window = window
        self._on_deliver = on_deliver
        self._timers = timers
        self._sequence = first_sequence
        self._loop = asyncio.get_running_loop()
        self._pending: dict[int, _Pending] = {}
        self._in_flight = 0
        self._queue: deque[_Queued] = deque()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._room.set()
        self._changed = asyncio.Event()
        self._closing = False
        self._closed = False
        self.close_reason = ""
        self._done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        system_id: str,
        password: str,
        system_type: str,
        window: int,
        on_deliver: DeliverCallback,
        timers: Timers,
    ) -> SmppConnection:
        """Connect and bind as a transceiver. BindRefused on an error status; OSError,
        TimeoutError or ConnectionLost when the SMSC cannot be reached or goes away."""
        timeout = timers.connect_timeout_s
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        try:
            writer.write(bind_transceiver(1, system_id, password, system_type))
            await writer.drain()
            await asyncio.wait_for(bind_response(reader, writer), timeout)
        except BaseException:
            writer.transport.abort()
            raise
        connection = cls(
            reader, writer, window=window, on_deliver=on_deliver, timers=timers, first_sequence=2
        )
        connection._tasks = [
            asyncio.create_task(connection._read_loop(), name="smpp-read"),
            asyncio.create_task(connection._keepalive(), name="smpp-enquire-link"),
        ]
        return connection

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._closed

    @property
    def window_in_use(self) -> int:
        """Submits written and awaiting their response (never more than the window)."""
        return self._in_flight

    @property
    def deliveries_in_progress(self) -> int:
        """`deliver_sm`s handed to the callback and not yet answered."""
        return len(self._deliveries)

    async def wait_closed(self) -> str:
        """Wait until the connection ends; the reason."""
        await self._done.wait()
        return self.close_reason

    async def unbind(self, drain_timeout_s: float = 5.0) -> None:
        """Clean shutdown: take no new submits, wait up to `drain_timeout_s` for outstanding
        responses and deliveries, then `unbind` (waiting at most `link_timeout_s` for its
        response) and close. Deliveries still running are cancelled unanswered."""
        if self._closed:
            return
        self._closing = True
        self._wake_all()
        deadline = self._loop.time() + drain_timeout_s
        while (self._in_flight or self._deliveries) and not self._closed:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        for task in list(self._deliveries):
            task.cancel()
        if not self._closed:
            sequence = self._next_sequence()
            answer = self._request(
                header_only(UNBIND, sequence), sequence, self._timers.link_timeout_s
            )
            with contextlib.suppress(SmppError):
                await answer
        self._lose("unbound")
        await asyncio.gather(*self._tasks, *self._deliveries, return_exceptions=True)

    def abort(self, reason: str) -> None:
        """End the connection at once (outstanding submits come back CONNECTION_LOST)."""
        self._lose(reason)

    # ---------------------------------------------------------------- submit
    async def submit(self, part: SubmitPart, slot_deadline: float | None = None) -> SubmitOutcome:
        """Write one `submit_sm` once a window slot is free and wait for its answer.
        NotSent when the connection closes, or the loop time passes `slot_deadline`, before
        a slot is free (nothing was written).

        Submits queue first come first served and are written by `_pump` the moment a slot
        frees (from the callback that read the freeing answer), so a full window refills with
        no event-loop hop in between: on a busy loop every hop costs a whole iteration, and a
        window of 10 is bounded by the round trip it adds.
        """
        if self._closed or self._closing:
            raise NotSent(self.close_reason or "closing")
        queued = _Queued(part, self._loop.create_future())
        self._queue.append(queued)
        self._pump()
        try:
            if queued.written.done() or slot_deadline is None:
                answer = await queued.written
            else:
                timeout = max(0.0, slot_deadline - self._loop.time())
                answer = await asyncio.wait_for(asyncio.shield(queued.written), timeout)
        except TimeoutError:
            if queued.written.done() and not queued.written.cancelled():
                answer = queued.written.result()  # written as the wait ended: keep it
            else:
                self._drop_queued(queued)
                raise NotSent("window_wait_timeout") from None
        except BaseException:
            self._drop_queued(queued)
            raise
        try:
            command_id, status, body = await answer
        except ResponseTimeout:
            return SubmitOutcome(PartResult.NO_RESPONSE)
        except ConnectionLost:
            return SubmitOutcome(PartResult.CONNECTION_LOST)
        if command_id == GENERIC_NACK and status == ESME_ROK:
            status = ESME_RSYSERR  # a nack is never an acceptance
        message_id = first_c_string(body) if status == ESME_ROK else None
        return SubmitOutcome(PartResult.ANSWERED, status, message_id)

    def _drop_queued(self, queued: _Queued) -> None:
        """A submit that stops waiting before it was written leaves the queue."""
        with contextlib.suppress(ValueError):
            self._queue.remove(queued)
        if not queued.written.done():
            queued.written.cancel()

    def _pump(self) -> None:
        """Write queued submits while the window has room (oldest first)."""
        while self._queue and self._in_flight < self._window and not self._closed:
            queued = self._queue.popleft()
            if queued.written.done():
                continue  # gave up waiting
            sequence = self._next_sequence()
            self._in_flight += 1
            answer = self._request(
                queued.part.encode(sequence),
                sequence,
                self._timers.response_timeout_s,
                slot=True,
            )
            queued.written.set_result(answer)

    def _release(self) -> None:
        """A submit's answer (or its timeout) frees its slot: refill the window."""
        self._in_flight -= 1
        self._changed.set()
        self._pump()

    def _wake_all(self) -> None:
        """Closing: every queued submit leaves unwritten."""
        while self._queue:
            queued = self._queue.popleft()
            if not queued.written.done():
                queued.written.set_exception(NotSent(self.close_reason or "closing"))

    # ---------------------------------------------------------------- requests and responses
    def _next_sequence(self) -> int:
        sequence = self._sequence
        self._sequence = sequence % MAX_SEQUENCE + 1
        return sequence

    def _request(
        self, frame: bytes, sequence: int, timeout: float, *, slot: bool = False
    ) -> asyncio.Future[tuple[int, int, bytes]]:
        """Write a request; the future of its (command_id, status, body) answer. `slot`: it
        holds a window slot, freed when the answer (or the timeout) comes."""
        future: asyncio.Future[tuple[int, int, bytes]] = self._loop.create_future()
        future.add_done_callback(_consume)
        if self._closed:
            if slot:
                self._in_flight -= 1
            future.set_exception(ConnectionLost(self.close_reason))
            return future
        timer = self._loop.call_later(timeout, self._expire, sequence)
        self._pending[sequence] = _Pending(future, timer, slot)
        self._writer.write(frame)
        return future

    def _expire(self, sequence: int) -> None:
        pending = self._pending.pop(sequence, None)
        if pending is None:
            return
        if not pending.future.done():
            pending.future.set_exception(ResponseTimeout(f"no answer to {sequence}"))
        if pending.slot:
            self._release()

    def _answer(self, command_id: int, status: int, sequence: int, body: bytes) -> None:
        pending = self._pending.pop(sequence, None)
        if pending is None:
            log.info("smpp_unexpected_response", command_id=hex(command_id), sequence=sequence)
            return
        pending.timer.cancel()
        if not pending.future.done():
            pending.future.set_result((command_id, status, body))
        if pending.slot:
            self._release()

    # ---------------------------------------------------------------- reading
    async def _read_loop(self) -> None:
        reason = "closed_by_smsc"
        try:
            while True:
                frame = await read_frame(self._reader)
                self._dispatch(frame)
                while len(self._deliveries) >= self._timers.max_deliveries:
                    self._room.clear()
                    await self._room.wait()
        except asyncio.IncompleteReadError:
            reason = "closed_by_smsc"
        except FramingError:
            reason = "bad_frame"
        except OSError:
            reason = "socket_error"
        except Exception:  # a bug of ours must not leave a half-dead connection behind
            log.exception("smpp_read_failed")
            reason = "internal_error"
        self._lose(reason)

    def _dispatch(self, frame: bytes) -> None:
        # The header is read with struct (4 fields); bodies that matter go through smpp34.
        _, command_id, status, sequence = HEADER.unpack_from(frame)
        if command_id & RESPONSE_BIT:
            self._answer(command_id, status, sequence, frame[HEADER_LENGTH:])
        elif command_id == DELIVER_SM:
            self._deliver_frame(frame, sequence)
        elif command_id == ENQUIRE_LINK:
            self._writer.write(header_only(ENQUIRE_LINK_RESP, sequence))
        elif command_id == UNBIND:
            self._writer.write(header_only(UNBIND_RESP, sequence))
            self._lose("unbound_by_smsc")
        else:
            self._writer.write(header_only(GENERIC_NACK, sequence, ESME_RINVCMDID))

    def _deliver_frame(self, frame: bytes, sequence: int) -> None:
        try:
            pdu = smpp34.decode(frame)
            delivery = Delivery.from_pdu(pdu) if isinstance(pdu, smpp34.DeliverSm) else None
        except (smpp34.SmppError, UnicodeDecodeError):
            delivery = None
        if delivery is None:
            # Unreadable: answered as a temporary error, so it is not lost on our side.
            log.warning("smpp_deliver_undecodable", sequence=sequence)
            self._writer.write(deliver_sm_resp(sequence, ESME_RX_T_APPN))
            return
        task = asyncio.create_task(self._deliver(delivery), name="smpp-deliver")
        self._deliveries.add(task)
        task.add_done_callback(self._delivery_done)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._room.set()
        self._changed.set()

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            await self._on_deliver(delivery)
            status = ESME_ROK
        except Exception as exc:  # noqa: BLE001 - any failure means "not durable": ask again
            log.warning("smpp_deliver_callback_failed", error=type(exc).__name__)
            status = ESME_RX_T_APPN
        if not self._closed:
            self._writer.write(deliver_sm_resp(delivery.sequence, status))

    async def _keepalive(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._timers.enquire_link_s)
            if self._closed or self._closing:
                return
            sequence = self._next_sequence()
            answer = self._request(
                header_only(ENQUIRE_LINK, sequence), sequence, self._timers.link_timeout_s
            )
            try:
                await answer
            except ResponseTimeout:
                log.warning("smpp_link_timeout")
                self._lose("link_timeout")
                return
            except ConnectionLost:
                return

    # ---------------------------------------------------------------- ending
    def _lose(self, reason: str) -> None:
        """End the connection (idempotent): fail what awaits an answer, wake slot waiters."""
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        if reason == "unbound":
            self._writer.close()  # after unbind_resp: let the transport flush and close
        else:
            self._writer.transport.abort()
        for pending in self._pending.values():
            pending.timer.cancel()
            if not pending.future.done():
                pending.future.set_exception(ConnectionLost(reason))
            if pending.slot:
                self._in_flight -= 1
        self._pending.clear()
        self._wake_all()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._room.set()
        self._changed.set()
        self._done.set()
