"""The sandbox provider (CONTRACT section 5 and the "Sandbox" part of section 8).

It simulates the networks behind every route: each send is accepted at once, and its outcome
is reported through the `ReportSink` according to the recipient registered for the number
(`sandbox_recipients`), after the recipient's `report_delay_ms`:

| recipient | reports |
| --- | --- |
| unknown | `delivered` |
| lacks the channel (a `non_strict` send) | `failed`, `delivery_failed` |
| outcome `delivered` | `delivered`, then `read` when `read` is true |
| `delivery_failed`, `invalid_number`, `validity_expired` | `failed` with that reason |
| `no_report` | none (the DR TTL, if any, decides) |

`send` does no network round trip of its own: the registry is read from memory. It awaits the
sink for each report, so a report is durable before `send` returns; if the sink fails, `send`
raises and the caller retries the attempt (the state machine must tolerate a repeated report).

`route_stats` counts the sends of this process on each route since it started; with several
routing-svc replicas each answers its own counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from parley_shared.timefmt import now

from routing_svc.adapters.providers.sandbox_recipients import (
    RECIPIENTS_BUCKET,
    Recipient,
    RecipientIn,
    RecipientRegistry,
    msisdn_key,
)
from routing_svc.domain.channels import (
    Channel,
    DeliveryReport,
    FailureReason,
    Outbound,
    Outcome,
    Route,
    SendResult,
)
from routing_svc.domain.routes import default_routes
from routing_svc.ports import ProviderSink

__all__ = ["Recipient", "RecipientIn", "SandboxProvider", "simulate"]


def simulate(message: Outbound, recipient: Recipient | None, at: datetime) -> list[DeliveryReport]:
    """The delivery reports the sandbox makes for one send, each stamped `at`."""

    def report(outcome: Outcome, reason: FailureReason | None = None) -> DeliveryReport:
        return DeliveryReport(
            message.message_id, message.attempt, message.route, outcome, reason, at
        )

    if recipient is None:
        return [report("delivered")]
    outcome = recipient.outcome_for(message.channel)
    if outcome is None:
        return [report("failed", "delivery_failed")]
    if outcome == "no_report":
        return []
    if outcome == "delivered":
        return [report("delivered"), report("read")] if recipient.read else [report("delivered")]
    return [report("failed", outcome)]


class SandboxProvider:
    """The built-in simulator: every route of `routes` (default: CONTRACT section 5's).

    `nats` is a connected nats-py client (or its JetStream context); `replicas` is the
    replication of the recipients bucket when this provider creates it.
    """

    kind = "sandbox"
    profiles_cacheable = False  # the registry is in memory: a PUT holds for the next send
    needs_handover = False  # a simulated second send changes nothing a user sees

    def __init__(
        self,
        nats: Any,
        routes: Sequence[Route] | None = None,
        *,
        bucket: str = RECIPIENTS_BUCKET,
        replicas: int = 1,
    ) -> None:
        js = nats.jetstream() if hasattr(nats, "jetstream") else nats
        self._routes = list(routes) if routes is not None else default_routes()
        self._registry = RecipientRegistry(js, bucket=bucket, replicas=replicas)
        self._sink: ProviderSink | None = None
        self._sent: dict[str, int] = {route.name: 0 for route in self._routes}

    def routes(self) -> list[Route]:
        """Every route this provider serves, in the configured order."""
        return list(self._routes)

    async def start(self, sink: ProviderSink) -> None:
        """Load the recipients (creating their bucket if missing) and follow their changes."""
        await self._registry.open()
        self._sink = sink

    async def stop(self) -> None:
        """Stop following the recipients; further sends raise."""
        self._sink = None
        await self._registry.close()

    async def send(self, message: Outbound) -> SendResult:
        """Accept the attempt and report its simulated outcome through the sink."""
        sink = self._sink
        if sink is None:
            raise RuntimeError("the sandbox provider is not started")
        self._sent[message.route] = self._sent.get(message.route, 0) + 1
        recipient = self._registry.get(message.to)
        delay_s = recipient.report_delay_ms / 1000 if recipient is not None else 0.0
        for report in simulate(message, recipient, now() + timedelta(seconds=delay_s)):
            await sink.report(report, delay_s=delay_s)
        return SendResult.ok()

    def route_up(self, route: str) -> bool:
        """Every sandbox route is always up."""
        return route in self._sent

    async def has_capability(self, to: str, channel: Channel, route: str = "") -> bool:
        """Whether `to` has `channel` among its capabilities (an unknown number has them all)."""
        recipient = self._registry.get(to)
        return recipient is None or channel in recipient.capabilities

    async def put_recipient(self, msisdn: str, body: RecipientIn) -> dict[str, Any]:
        """Register (or replace) a recipient; answers it with defaults filled and `msisdn`.

        In effect for this process's very next send. ValueError when `msisdn` is not E.164.
        """
        msisdn_key(msisdn)
        recipient = Recipient.from_input(body)
        await self._registry.put(msisdn, recipient)
        return {"msisdn": msisdn, **recipient.to_dict()}

    async def delete_recipient(self, msisdn: str) -> bool:
        """Forget a recipient (it becomes unknown: every channel, delivered); False if absent.

        ValueError when `msisdn` is not E.164.
        """
        return await self._registry.delete(msisdn)

    def get_recipient(self, msisdn: str) -> dict[str, Any] | None:
        """The recipient as `put_recipient` answers it, or None; ValueError if not E.164."""
        recipient = self._registry.get(msisdn_key(msisdn))
        return None if recipient is None else {"msisdn": msisdn, **recipient.to_dict()}

    def route_stats(self) -> dict[str, dict[str, int]]:
        """`{"<route>": {"sent": n}}` for every route: sends of this process since it started."""
        return {name: {"sent": count} for name, count in self._sent.items()}
