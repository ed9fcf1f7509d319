"""`ImmediateReports`: which reports the router keeps to apply itself, which go durable."""

from __future__ import annotations

from datetime import UTC, datetime

from routing_svc.domain.channels import DeliveryReport, InboundMessage, Outcome, ProviderReport
from routing_svc.outcomes import ImmediateReports

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class Durable:
    """A ProviderSink that records what it was given."""

    def __init__(self) -> None:
        self.reports: list[tuple[DeliveryReport, float]] = []
        self.receipts: list[ProviderReport] = []
        self.inbound_messages: list[InboundMessage] = []

    async def report(self, report: DeliveryReport, delay_s: float = 0.0) -> None:
        self.reports.append((report, delay_s))

    async def receipt(self, report: ProviderReport) -> None:
        self.receipts.append(report)

    async def inbound(self, message: InboundMessage) -> None:
        self.inbound_messages.append(message)


def report(
    message_id: str = "msg_1", attempt: int = 1, outcome: Outcome = "delivered"
) -> DeliveryReport:
    return DeliveryReport(message_id, attempt, "sms-a", outcome, None, AT)


async def test_a_report_of_the_attempt_being_handed_over_is_kept_in_order() -> None:
    durable = Durable()
    sink = ImmediateReports(durable)
    sink.expect("msg_1", 1)
    await sink.report(report(outcome="delivered"))
    await sink.report(report(outcome="read"))
    assert [r.outcome for r in sink.take("msg_1", 1)] == ["delivered", "read"]
    assert durable.reports == []
    assert sink.take("msg_1", 1) == []  # taken once


async def test_a_delayed_report_goes_durable_even_while_expected() -> None:
    durable = Durable()
    sink = ImmediateReports(durable)
    sink.expect("msg_1", 1)
    await sink.report(report(), delay_s=2.5)
    assert sink.take("msg_1", 1) == []
    assert [(r.message_id, d) for r, d in durable.reports] == [("msg_1", 2.5)]


async def test_a_report_of_another_attempt_or_after_take_goes_durable() -> None:
    durable = Durable()
    sink = ImmediateReports(durable)
    sink.expect("msg_1", 1)
    await sink.report(report(attempt=2))
    await sink.report(report(message_id="msg_2"))
    assert sink.take("msg_1", 1) == []
    await sink.report(report())  # no longer being handed over
    assert [(r.message_id, r.attempt) for r, _ in durable.reports] == [
        ("msg_1", 2),
        ("msg_2", 1),
        ("msg_1", 1),
    ]


async def test_forward_makes_kept_reports_durable() -> None:
    durable = Durable()
    sink = ImmediateReports(durable)
    sink.expect("msg_1", 1)
    await sink.report(report())
    await sink.forward(sink.take("msg_1", 1))
    assert [(r.message_id, r.outcome, d) for r, d in durable.reports] == [
        ("msg_1", "delivered", 0.0)
    ]


async def test_receipts_and_users_messages_always_go_durable() -> None:
    durable = Durable()
    sink = ImmediateReports(durable)
    receipt = ProviderReport("sms-a", "p-1", "delivered", None, AT)
    await sink.receipt(receipt)
    assert durable.receipts == [receipt]
