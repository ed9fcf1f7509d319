"""The SMPP 3.4 provider: SMS routes over transceiver binds (CONTRACT section 9, "SMPP 3.4").

Each `smpp` route keeps `binds` binds of this replica to its SMSC (`SmppBind`: the session,
window, enquire_link and re-bind are there). A send goes out on the next bound bind, every
part in order; the answers become the attempt's outcome:

| submit_sm_resp | the attempt |
| --- | --- |
| 0 for every part | accepted, under the SMSC's id of each part |
| 0x0B ESME_RINVDSTADR | fails `invalid_number` |
| 0x58 ESME_RTHROTTLED, 0x14 ESME_RMSGQFUL (first part) | offered again later on the route |
| no bind up (first part) | offered again later (the route waits for its connection) |
| connection lost, no answer (first part) | offered again later: it may have gone out |
| anything else | fails `delivery_failed` |

Once a part of a message was accepted, the rest is never given up for a transient reason:
a throttled, unanswered or unsent later part is sent again (on any bind) until the SMSC takes
it, while the validity allows, so a user never gets half a message as a finished one.

Receipts (`deliver_sm` with `esm_class & 0x3C == 0x04`) and users' messages are made durable
through the sink before the bind answers `deliver_sm_resp` (0); ENROUTE and ACCEPTD receipts
change nothing and are answered at once.

The binds live on a private event loop in a thread of their own (`io_loop.IoLoop`), so a
window refills without waiting for the main loop's turns; sends cross over to it, and what the
binds hear crosses back to the main loop's sink.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from routing_svc.adapters.providers.config import RouteConfig, SmppSettings
from routing_svc.adapters.providers.smpp.bind import BindConfig, SmppBind, SmppUnavailable
from routing_svc.adapters.providers.smpp.io_loop import IoLoop
from routing_svc.adapters.providers.smpp.outcomes import PartResult, SubmitOutcome
from routing_svc.adapters.providers.smpp.pdu import Delivery, SubmitPart, submit_parts
from routing_svc.adapters.providers.smpp.session import Timers
from routing_svc.domain.channels import (
    Channel,
    FailureReason,
    InboundMessage,
    InboundPart,
    Outbound,
    ProviderReport,
    Route,
    SendResult,
)
from routing_svc.domain.sms_text import (
    UnsupportedCoding,
    decode_text,
    is_receipt,
    mo_sender,
    parse_receipt,
    parse_udh,
    reference_for,
)
from routing_svc.metrics import SMPP_RECEIPTS, SMPP_RESPONSES, USER_MESSAGES, inc
from routing_svc.ports import ProviderSink

log = structlog.get_logger("routing_svc.smpp")

ESME_RINVDSTADR = 0x0B
THROTTLED = frozenset({0x58, 0x14})  # ESME_RTHROTTLED, ESME_RMSGQFUL
BIND_WAIT_S = 2.0
THROTTLE_RETRY_S = 1.0
PART_RETRY_MAX_S = 600.0
UDHI = 0x40


def _outcome_label(outcome: SubmitOutcome) -> str:
    if outcome.result is PartResult.ANSWERED:
        return f"0x{outcome.command_status or 0:02X}"
    return str(outcome.result.value)


class _Route:
    """One SMPP route's binds in this replica."""

    def __init__(self, route: Route, settings: SmppSettings, binds: list[SmppBind]) -> None:
        self.route, self.settings, self.binds = route, settings, binds
        self._next = 0

    def pick(self) -> SmppBind:
        """The next bind, bound ones first (round robin among them)."""
        count = len(self.binds)
        for offset in range(count):
            bind = self.binds[(self._next + offset) % count]
            if bind.up:
                self._next = (self._next + offset + 1) % count
                return bind
        self._next = (self._next + 1) % count
        return self.binds[self._next]

    @property
    def up(self) -> bool:
        return any(bind.up for bind in self.binds)


class SmppProvider:
    """Every `smpp` route of the routes file (`ports.Provider`)."""

    kind = "smpp"
    profiles_cacheable = True
    needs_handover = True

    def __init__(
        self,
        configs: Sequence[RouteConfig],
        *,
        timers: Timers | None = None,
        clock: Any = time.time,
    ) -> None:
        self._configs = list(configs)
        self._timers = timers
        self._clock = clock
        self._routes: dict[str, _Route] = {}
        self._sink: ProviderSink | None = None
        self._io = IoLoop()

    # ------------------------------------------------------------------ lifecycle
    def routes(self) -> list[Route]:
        """Every SMPP route, in the routes file's order."""
        return [config.route for config in self._configs]

    async def start(self, sink: ProviderSink) -> None:
        """Open every route's binds (each keeps re-binding on its own until it is up)."""
        self._sink = sink
        self._io.start(asyncio.get_running_loop())
        await self._io.run(self._open_binds())

    async def _open_binds(self) -> None:
        """On the private loop: create and start every bind."""
        for config in self._configs:
            settings = config.settings
            assert isinstance(settings, SmppSettings)  # routes_file guarantees it
            name = config.route.name
            binds = [
                SmppBind(
                    self._bind_config(settings),
                    self._on_deliver(name),
                    name=name,
                )
                for _ in range(settings.binds)
            ]
            self._routes[name] = _Route(config.route, settings, binds)
            for bind in binds:
                bind.start()

    def _bind_config(self, settings: SmppSettings) -> BindConfig:
        timers = self._timers or Timers(enquire_link_s=settings.enquire_link_s)
        return BindConfig(
            settings.host,
            settings.port,
            settings.system_id,
            settings.password,
            settings.system_type,
            settings.window,
            timers,
        )

    async def stop(self) -> None:
        """Unbind every bind (each waits up to 5 s for its outstanding responses)."""
        binds = [bind for route in self._routes.values() for bind in route.binds]

        async def close_all() -> None:
            await asyncio.gather(*(bind.close() for bind in binds), return_exceptions=True)

        if binds:
            await self._io.run(close_all())
        self._io.stop()
        self._sink = None

    def route_up(self, route: str) -> bool:
        """Whether some bind of `route` is bound."""
        found = self._routes.get(route)
        return found is not None and found.up

    def window_in_use(self, route: str) -> int:
        """Submits awaiting their response on `route`'s binds."""
        found = self._routes.get(route)
        return 0 if found is None else sum(bind.window_in_use for bind in found.binds)

    def binds_up(self, route: str) -> int:
        """How many of `route`'s binds are bound."""
        found = self._routes.get(route)
        return 0 if found is None else sum(1 for bind in found.binds if bind.up)

    def bind_states(self, route: str) -> list[tuple[str, tuple[str, float] | None]]:
        """Each of `route`'s binds: its state (`starting`, `up`, `down`, `closed`) and its last
        failure (error, epoch seconds), kept after it is up again; for the operator console."""
        found = self._routes.get(route)
        return [] if found is None else [(bind.state, bind.last_failure) for bind in found.binds]

    async def has_capability(self, to: str, channel: Channel, route: str = "") -> bool:
        """SMPP has no capability lookup: every number can receive SMS."""
        return True

    # ------------------------------------------------------------------ sending
    async def send(self, message: Outbound) -> SendResult:
        """Submit every part of the attempt; see the module docstring for the outcomes."""
        route = self._routes[message.route]
        text = str(message.content.get("text") or "")
        media = message.content.get("media_url")
        if media:
            text = f"{text}\n{media}" if text else str(media)
        validity = None
        if message.valid_until_ms is not None:
            validity = max(1, -(-(message.valid_until_ms - int(self._clock() * 1000)) // 1000))
        try:
            parts = submit_parts(
                message.sender or "",
                message.to,
                text,
                ref=reference_for(f"{message.message_id}.{message.attempt}"),
                validity_seconds=validity,
            )
        except ValueError as exc:
            log.warning(
                "smpp_submit_refused_locally", message_id=message.message_id, error=str(exc)
            )
            return SendResult.refused("delivery_failed", detail=str(exc))
        try:
            outcomes = await self._io.run(route.pick().submit(parts, wait_s=BIND_WAIT_S))
        except SmppUnavailable as exc:
            return SendResult.later(THROTTLE_RETRY_S, detail=f"no bind: {exc}")
        self._count(message.route, outcomes)
        first = outcomes[0]
        if not first.accepted:
            return self._first_refused(first)
        ids = [o.message_id or "" for o in outcomes if o.accepted]
        if len(ids) < len(parts):
            return await self._finish(message, route, parts, outcomes)
        return SendResult.ok(*ids)

    @staticmethod
    def _first_refused(outcome: SubmitOutcome) -> SendResult:
        if outcome.result is PartResult.ANSWERED:
            status = outcome.command_status
            if status == ESME_RINVDSTADR:
                return SendResult.refused("invalid_number", detail="ESME_RINVDSTADR")
            if status in THROTTLED:
                return SendResult.later(THROTTLE_RETRY_S, detail=f"throttled 0x{status:02X}")
            return SendResult.refused("delivery_failed", detail=f"status 0x{status or 0:02X}")
        return SendResult.later(THROTTLE_RETRY_S, detail=outcome.result.value, unknown=True)

    async def _finish(
        self,
        message: Outbound,
        route: _Route,
        parts: list[SubmitPart],
        outcomes: list[SubmitOutcome],
    ) -> SendResult:
        """Parts of a message went out and the rest did not (yet): send the rest until the SMSC
        takes it, unless it refuses one for good (then the attempt fails)."""
        ids = [o.message_id or "" for o in outcomes if o.accepted]
        deadline = time.monotonic() + PART_RETRY_MAX_S
        while True:
            done = len(ids)
            cut = outcomes[done]
            if cut.result is PartResult.ANSWERED and cut.command_status not in THROTTLED:
                reason: FailureReason = (
                    "invalid_number" if cut.command_status == ESME_RINVDSTADR else "delivery_failed"
                )
                return SendResult.refused(reason, detail=f"part {done + 1}: {_outcome_label(cut)}")
            if time.monotonic() > deadline or self._expired(message):
                return SendResult.refused("delivery_failed", detail="parts left unsent")
            await asyncio.sleep(THROTTLE_RETRY_S)
            try:
                rest = await self._io.run(route.pick().submit(parts[done:], wait_s=5))
                outcomes = [*outcomes[:done], *rest]
            except SmppUnavailable:
                continue
            self._count(message.route, outcomes[done:])
            ids += [o.message_id or "" for o in outcomes[done:] if o.accepted]
            if len(ids) == len(parts):
                return SendResult.ok(*ids)

    def _expired(self, message: Outbound) -> bool:
        until = message.valid_until_ms
        return until is not None and self._clock() * 1000 > until

    @staticmethod
    def _count(route: str, outcomes: Sequence[SubmitOutcome]) -> None:
        for outcome in outcomes:
            if outcome.result is not PartResult.NOT_SENT:
                inc(SMPP_RESPONSES, route, _outcome_label(outcome))

    # ------------------------------------------------------------------ hearing
    def _on_deliver(self, route: str) -> Any:
        async def on_deliver(delivery: Delivery) -> None:
            sink = self._sink
            if sink is None:
                raise RuntimeError("the SMPP provider is stopping")
            if is_receipt(delivery.esm_class):
                await self._io.run_home(self._receipt(sink, route, delivery))
            else:
                await self._io.run_home(self._user_message(sink, route, delivery))

        return on_deliver

    async def _receipt(self, sink: ProviderSink, route: str, delivery: Delivery) -> None:
        receipt = parse_receipt(delivery.payload, delivery.tlvs)
        inc(SMPP_RECEIPTS, route, receipt.state or "unreadable")
        if receipt.message_id is None:
            log.warning("smpp_receipt_without_id", route=route)
            return
        if receipt.outcome is None:
            return  # ENROUTE, ACCEPTD: nothing changes
        report = ProviderReport(
            route,
            receipt.message_id,
            receipt.outcome,
            receipt.reason,
            datetime.now(UTC),
            key=f"{receipt.message_id}|{receipt.state}",
        )
        await sink.receipt(report)

    async def _user_message(self, sink: ProviderSink, route: str, delivery: Delivery) -> None:
        payload = delivery.payload
        concat = None
        try:
            if delivery.esm_class & UDHI:
                concat, payload = parse_udh(payload)
            text = decode_text(delivery.data_coding, payload)
        except (UnsupportedCoding, ValueError) as exc:
            log.warning("smpp_user_message_unreadable", route=route, error=type(exc).__name__)
            inc(USER_MESSAGES, route, "unreadable")
            return  # answered 0: the SMSC resending it would not make it readable
        sender = mo_sender(delivery.source.addr, delivery.source.ton)
        minute = int(self._clock() // 60)
        digest = hashlib.sha256(
            f"{sender}|{delivery.destination.addr}|{delivery.data_coding}".encode()
            + delivery.short_message
        ).hexdigest()[:24]
        part = None if concat is None else InboundPart(concat.ref, concat.total, concat.seq)
        await sink.inbound(
            InboundMessage(
                route,
                "sms",
                sender,
                delivery.destination.addr,
                text,
                datetime.now(UTC),
                key=f"{digest}|{minute}",
                part=part,
            )
        )


async def build(configs: list[RouteConfig], _nc: Any) -> SmppProvider:
    """The SMPP provider of the routes file's `smpp` routes (`bootstrap.FACTORIES`)."""
    return SmppProvider(configs)
