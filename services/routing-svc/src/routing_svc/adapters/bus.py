"""Everything routing-svc publishes to JetStream, pipelined.

Each `publish_*` sends at once and returns a future of the JetStream ack; callers gather the
futures of one step together (never one ack at a time on a hot path). Event ids double as
`Nats-Msg-Id`, so a republish after a crash is dropped by JetStream's duplicate window.

- status and inbound events: STATUS / INBOUND streams;
- an attempt to route: SUBMIT (`{"m": message_id, "a": attempt}`);
- DR TTL timers: a message schedule on `parley.route.v1.timer.<message_id>` (one per message,
  a newer one replaces it) that fires on `parley.route.v1.timer_fired.<message_id>`;
  cancelled by purging its subject;
- what providers hear (`JetStreamProviderSink`): delivery reports keyed by Parley's ids on
  `parley.route.v1.report.<message_id>` (or a message schedule firing there when the provider
  asks for a delay), reports keyed by the provider's id on `parley.route.v1.receipt.<route>`,
  users' messages on `parley.route.v1.user.<route>`; each with a `Nats-Msg-Id` derived from
  what it is, so a provider's resend within the duplicate window is stored once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from parley_shared import subjects
from parley_shared.timefmt import format_ts

from routing_svc.adapters.jetstream import JetStreamPublisher
from routing_svc.domain.channels import DeliveryReport, InboundMessage, ProviderReport
from routing_svc.domain.vault import USER_FROM, USER_TEXT, Vault

Ack = asyncio.Future[Any]  # of a jetstream.Ack
MSG_ID = subjects.HEADER_MSG_ID
TTL = "Nats-TTL"
Seal = Callable[[str, str], str]
"""Seals a value of a field (`USER_FROM`, `USER_TEXT`) of a user's message."""


def schedule_at(epoch_ms: int) -> str:
    """The `Nats-Schedule` value that fires once at `epoch_ms`."""
    return "@at " + format_ts(datetime.fromtimestamp(epoch_ms / 1000, tz=UTC))


class Bus:
    """JetStream publishing for routing-svc."""

    def __init__(self, nc: Any, publisher: JetStreamPublisher) -> None:
        self._nc, self._publisher = nc, publisher

    async def _publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> Ack:
        return await self._publisher.publish(subject, payload, headers)

    async def status(self, account_id: str, event: dict[str, Any], ttl_s: int | None = None) -> Ack:
        """A status event on `parley.msg.v1.status.<account_id>` (removed by the server after
        `ttl_s` seconds when given: `Nats-TTL`)."""
        headers = {MSG_ID: event["id"]}
        if ttl_s is not None:
            headers[TTL] = str(ttl_s)
        return await self._publish(subjects.status(account_id), orjson.dumps(event), headers)

    async def inbound(
        self, account_id: str, event: dict[str, Any], ttl_s: int | None = None
    ) -> Ack:
        """An inbound event on `parley.msg.v1.inbound.<account_id>` (`ttl_s` as for `status`)."""
        headers = {MSG_ID: event["id"]}
        if ttl_s is not None:
            headers[TTL] = str(ttl_s)
        return await self._publish(subjects.inbound(account_id), orjson.dumps(event), headers)

    async def submit(
        self,
        account_id: str,
        message_id: str,
        attempt: int,
        traffic_class: str = subjects.TRANSACTIONAL,
    ) -> Ack:
        """Queue attempt `attempt` of a message for routing in its traffic class's lane (a
        fallback's once only)."""
        payload = orjson.dumps({"m": message_id, "a": attempt})
        headers = {MSG_ID: f"{message_id}.{attempt}"} if attempt > 1 else None
        return await self._publish(subjects.submit(account_id, traffic_class), payload, headers)

    async def schedule_timer(self, message_id: str, attempt: int, at_ms: int) -> Ack:
        """The DR TTL timer of a message's attempt, firing at `at_ms` (replaces an older one)."""
        headers = {
            "Nats-Schedule": schedule_at(at_ms),
            "Nats-Schedule-Target": subjects.timer_fired(message_id),
        }
        payload = orjson.dumps({"m": message_id, "a": attempt})
        return await self._publish(subjects.timer(message_id), payload, headers)

    def cancel_timer(self, message_id: str) -> Ack:
        """Remove a message's pending DR TTL timer (a purge of its schedule subject)."""
        request = orjson.dumps({"filter": subjects.timer(message_id)})
        subject = f"$JS.API.STREAM.PURGE.{subjects.STREAM_ROUTING_TIMERS}"
        future: Ack = asyncio.ensure_future(self._nc.request(subject, request, timeout=5))
        return future

    async def report(self, report: DeliveryReport, delay_s: float = 0.0) -> Ack:
        """A delivery report, visible now or (durably scheduled) after `delay_s`."""
        payload = orjson.dumps(
            {
                "m": report.message_id,
                "a": report.attempt,
                "route": report.route,
                "outcome": report.outcome,
                "reason": report.reason,
                "at": format_ts(report.at),
            }
        )
        token = f"{report.message_id}-{report.attempt}-{report.outcome}"
        if delay_s <= 0:
            return await self._publish(subjects.report(report.message_id), payload, {MSG_ID: token})
        at_ms = int((time.time() + delay_s) * 1000)
        headers = {
            "Nats-Schedule": schedule_at(at_ms),
            "Nats-Schedule-Target": subjects.report(report.message_id),
        }
        return await self._publish(subjects.report_schedule(token), payload, headers)

    async def receipt(self, report: ProviderReport) -> Ack:
        """A report keyed by the provider's id (an SMPP receipt, a status callback)."""
        payload = orjson.dumps(
            {
                "route": report.route,
                "id": report.provider_id,
                "outcome": report.outcome,
                "reason": report.reason,
                "at": format_ts(report.at),
            }
        )
        token = report.key or f"{report.provider_id}|{report.outcome}"
        headers = {MSG_ID: _msg_id("rcpt", report.route, token)}
        return await self._publish(subjects.receipt(report.route), payload, headers)

    async def user_message(self, message: InboundMessage, seal: Seal | None = None) -> Ack:
        """A user's message (or typing, or one part of a long SMS) heard through a route; with
        `seal`, the user's number and text travel sealed (`from_sealed`, `text_sealed`)."""
        who: dict[str, Any] = {"from": message.sender, "text": message.text}
        if seal is not None:
            who = {
                "from_sealed": seal(message.sender, USER_FROM),
                "text_sealed": None if message.text is None else seal(message.text, USER_TEXT),
            }
        payload = orjson.dumps(
            {
                "route": message.route,
                "channel": message.channel,
                **who,
                "to": message.to,
                "typing": message.typing,
                "at": format_ts(message.at),
                "key": message.key,
                "part": None
                if message.part is None
                else [message.part.ref, message.part.total, message.part.seq],
            }
        )
        headers = {MSG_ID: _msg_id("user", message.route, message.key)}
        return await self._publish(subjects.user_message(message.route), payload, headers)


def _msg_id(kind: str, route: str, key: str) -> str:
    """A `Nats-Msg-Id` for something a provider may send again: the same for a resend."""
    digest = hashlib.sha256(f"{kind}|{route}|{key}".encode()).hexdigest()[:32]
    return f"{kind}-{digest}"


class JetStreamProviderSink:
    """The `ProviderSink` providers hand to: each call returns once JetStream stored it.

    A user's number and text are sealed (`Vault.seal_text`, owner: the route) before they go
    on ROUTING_REPORTS: the account whose data protection applies is known only once the
    message is routed, so nothing of it is written there in clear."""

    def __init__(self, bus: Bus, vault: Vault | None = None) -> None:
        self._bus = bus
        self._vault = vault

    async def report(self, report: DeliveryReport, delay_s: float = 0.0) -> None:
        """Make `report` durable (delayed by `delay_s` seconds); raises if JetStream refuses."""
        await (await self._bus.report(report, delay_s))

    async def receipt(self, report: ProviderReport) -> None:
        """Make a report keyed by the provider's id durable."""
        await (await self._bus.receipt(report))

    async def inbound(self, message: InboundMessage) -> None:
        """Make a user's message durable (its number and text sealed)."""
        vault = self._vault
        seal: Seal | None = None
        if vault is not None:
            day = message.at.strftime("%Y%m%d")

            def seal(value: str, field: str) -> str:
                return vault.seal_text(value, message.route, field, day)

        await (await self._bus.user_message(message, seal))
