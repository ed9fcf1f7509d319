"""What a channel provider is handed and answers: routes, attempts, send results, reports.

A provider owns routes (each a named connection with a capacity in messages per second), sends
one attempt of a message on a route, answers capability (profile) lookups, and reports what it
hears later, asynchronously, through a `ProviderSink`: outcomes of attempts (keyed by Parley's
ids for the sandbox, by the provider's own id for a real network) and users' messages. The sink
makes each durable (routing-svc publishes it to JetStream) before the provider acknowledges it
to the network, so nothing a provider was told is lost to a routing-svc crash.

Pure data; the provider interface itself is `routing_svc.ports.Provider`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Channel = Literal["rcs", "sms", "truecaller", "whatsapp"]
Outcome = Literal["delivered", "read", "failed"]
FailureReason = Literal["delivery_failed", "invalid_number", "validity_expired"]
ProviderKind = Literal["sandbox", "smpp", "whatsapp_cloud", "rbm"]
SendStatus = Literal["accepted", "failed", "retry"]


@dataclass(frozen=True)
class Route:
    """A provider connection for one channel, with its capacity (messages per second)."""

    name: str  # e.g. "sms-1", "rcs-reliance-jio", "wa-2"
    channel: Channel
    capacity_per_s: float
    agent_provider: str | None = None  # RCS only: "reliance-jio" | "vodafone-idea" | "airtel"
    provider: ProviderKind = "sandbox"


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
    account_id: str = ""
    valid_until_ms: int | None = None  # the attempt may not go out after this (epoch ms)


@dataclass(frozen=True)
class SendResult:
    """What the provider said at once.

    - `accepted`: the network took the attempt; `provider_ids` are its ids (one per part of a
      long SMS), under which its reports will come;
    - `failed`: refused for good, with `reason`;
    - `retry`: not now (throttled, HTTP 429 or 5xx, no live connection); offer it again on the
      same route after `retry_after_s`. Never a failure.
    """

    status: SendStatus
    reason: FailureReason | None = None
    provider_ids: tuple[str, ...] = ()
    retry_after_s: float = 1.0
    detail: str | None = None  # why, for logs (never message content)
    unknown: bool = False  # `retry` after the network may have taken it (a connection lost
    # while its answer was awaited): offering it again may duplicate it (at most once)

    @property
    def accepted(self) -> bool:
        """Whether the network took it."""
        return self.status == "accepted"

    @classmethod
    def ok(cls, *provider_ids: str) -> SendResult:
        """Accepted under these ids."""
        return cls("accepted", provider_ids=provider_ids)

    @classmethod
    def refused(cls, reason: FailureReason, detail: str | None = None) -> SendResult:
        """Refused for good."""
        return cls("failed", reason=reason, detail=detail)

    @classmethod
    def later(
        cls, after_s: float, detail: str | None = None, *, unknown: bool = False
    ) -> SendResult:
        """Not now: offer it again after `after_s` seconds (`unknown`: it may have gone out)."""
        return cls("retry", retry_after_s=after_s, detail=detail, unknown=unknown)


@dataclass(frozen=True)
class DeliveryReport:
    """An asynchronous outcome of one attempt, keyed by Parley's ids (the sandbox's)."""

    message_id: str
    attempt: int
    route: str
    outcome: Outcome
    reason: FailureReason | None
    at: datetime


@dataclass(frozen=True)
class ProviderReport:
    """An asynchronous outcome keyed by the provider's id: an SMPP receipt, a status callback.

    `key` identifies the report itself (the provider may send it again): reports with the same
    key are one report.
    """

    route: str
    provider_id: str
    outcome: Outcome
    reason: FailureReason | None
    at: datetime
    key: str = ""


@dataclass(frozen=True)
class InboundPart:
    """One part of a user's long message (SMS UDH): reference, count and position (1-based)."""

    ref: int
    total: int
    seq: int


@dataclass(frozen=True)
class InboundMessage:
    """A user's message (or typing notice) that arrived through a provider.

    `sender` is the user (E.164 with `+`), `to` is Parley's side (an SMS sender id, a WABA
    display number, an RCS agent). `key` identifies it for de-duplication (providers resend);
    `part` is set on one part of a multi-part SMS (the parts are joined before it counts).
    """

    route: str
    channel: Channel
    sender: str
    to: str
    text: str | None
    at: datetime
    key: str
    typing: bool = False
    part: InboundPart | None = None


@dataclass(frozen=True)
class Claim:
    """What a handover claim decided before a send (see `ports.Handovers`)."""

    send: bool
    route: str
    provider_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartRef:
    """Where a provider's id belongs: attempt `attempt` of a message, part `part` of `parts`."""

    message_id: str
    attempt: int
    part: int = 1
    parts: int = 1


@dataclass(frozen=True)
class CallbackRequest:
    """A provider's HTTP callback as it arrived at `GET|POST /v1/callbacks/{route}`: the raw
    body (signatures are over the exact bytes), the query and the headers (names lower-case)."""

    method: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class CallbackAnswer:
    """What routing-svc answers the provider."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
