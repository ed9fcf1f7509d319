"""The channel provider interface: what a real SMPP, WhatsApp Cloud API or RBM adapter implements.

A provider owns routes (each a named connection with a capacity in messages per second), sends
one attempt of a message on a route, answers capability (profile) lookups, and reports delivery
outcomes later, asynchronously, through a `ReportSink`. The sink makes each report durable
(routing-svc publishes it to JetStream) before the provider may forget it, so a report is never
lost to a routing-svc crash. A real adapter calls the sink from its own callback path (an SMPP
deliver_sm, a WhatsApp or RBM status webhook); the sandbox calls it from a timer.

Nothing here does I/O; adapters live beside this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Channel = Literal["rcs", "sms", "truecaller", "whatsapp"]
Outcome = Literal["delivered", "read", "failed"]
FailureReason = Literal["delivery_failed", "invalid_number", "validity_expired"]


@dataclass(frozen=True)
class Route:
    """A provider connection for one channel, with its capacity (messages per second)."""

    name: str  # e.g. "sms-1", "rcs-reliance-jio", "wa-2"
    channel: Channel
    capacity_per_s: float
    agent_provider: str | None = None  # RCS only: "reliance-jio" | "vodafone-idea" | "airtel"


@dataclass(frozen=True)
class Outbound:
    """One attempt of one message, on one route."""

    message_id: str
    attempt: int  # 1 for the first channel, 2 for the first fallback, ...
    channel: Channel
    route: str
    sender: str | None
    to: str  # E.164
    content: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What the provider said at once: accepted (a report follows later) or refused now."""

    accepted: bool
    reason: FailureReason | None = None  # when refused at once


@dataclass(frozen=True)
class DeliveryReport:
    """An asynchronous outcome of one attempt (DR). `read` may follow `delivered`."""

    message_id: str
    attempt: int
    route: str
    outcome: Outcome
    reason: FailureReason | None
    at: datetime


class ReportSink(Protocol):
    """Makes a delivery report durable; returns once it is (routing-svc: a JetStream publish).

    `delay_s` asks for the report to be made visible only after that many seconds (the sandbox's
    `report_delay_ms`); the sink keeps it durably meanwhile.
    """

    async def report(self, report: DeliveryReport, delay_s: float = 0.0) -> None: ...


class Provider(Protocol):
    """A channel provider (the sandbox, or an adapter for a real one)."""

    name: str
    profiles_cacheable: bool
    """Whether `has_capability` answers may be reused for a while (`ProfileCache`); False for
    a lookup that answers from memory and must reflect a change at once (the sandbox's)."""

    def routes(self) -> list[Route]:
        """Every route this provider serves, in a stable order."""
        ...

    async def start(self, sink: ReportSink) -> None:
        """Connect; from now on reports go to `sink`."""
        ...

    async def stop(self) -> None:
        """Disconnect."""
        ...

    async def send(self, message: Outbound) -> SendResult:
        """Hand one attempt to the provider on `message.route`."""
        ...

    async def has_capability(self, to: str, channel: Channel) -> bool:
        """Profile lookup: whether `to` can receive on `channel` (for strict verification)."""
        ...


ProviderFactory = Callable[[dict[str, Any]], Awaitable[Provider]]
