"""The sandbox provider against real NATS: the recipients bucket and its watch, and the reports
each recipient setting produces through the sink."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client
from parley_devtools.waiting import eventually
from parley_shared.timefmt import now
from routing_svc.adapters.providers.sandbox import RecipientIn, SandboxProvider
from routing_svc.adapters.providers.sandbox_recipients import RECIPIENTS_BUCKET
from routing_svc.domain.channels import DeliveryReport, Outbound
from routing_svc.domain.routes import DEFAULT_ROUTES

NUMBER = "+919876543210"


class RecordingSink:
    """A ReportSink that keeps every report it is given, with its delay."""

    def __init__(self) -> None:
        self.calls: list[tuple[DeliveryReport, float]] = []

    async def report(self, report: DeliveryReport, delay_s: float = 0.0) -> None:
        self.calls.append((report, delay_s))

    def outcomes(self) -> list[tuple[str, str | None]]:
        return [(report.outcome, report.reason) for report, _ in self.calls]


def outbound(channel: Any = "rcs", route: str = "rcs-airtel", to: str = NUMBER) -> Outbound:
    """One first attempt of msg_1 to `to` on `channel` via `route`."""
    return Outbound("msg_1", 1, channel, route, "agent-otp", to, {"text": "code 4821"})


@pytest.fixture
async def connect(nats_url: str) -> AsyncIterator[Callable[[], Awaitable[Client]]]:
    """Opens NATS connections (one per simulated replica), all closed after the test."""
    clients: list[Client] = []

    async def open_one() -> Client:
        client = await nats.connect(nats_url)
        clients.append(client)
        return client

    yield open_one
    for client in clients:
        await client.close()


@pytest.fixture
def sink() -> RecordingSink:
    """The reports the main provider makes."""
    return RecordingSink()


@pytest.fixture
async def start(
    connect: Callable[[], Awaitable[Client]],
) -> AsyncIterator[Callable[[RecordingSink], Awaitable[SandboxProvider]]]:
    """Starts sandbox providers, each on its own connection, stopped after the test."""
    started: list[SandboxProvider] = []

    async def start_one(sink: RecordingSink) -> SandboxProvider:
        provider = SandboxProvider(await connect())
        await provider.start(sink)
        started.append(provider)
        return provider

    yield start_one
    for provider in started:
        await provider.stop()


@pytest.fixture
async def provider(
    start: Callable[[RecordingSink], Awaitable[SandboxProvider]], sink: RecordingSink
) -> SandboxProvider:
    """A started sandbox provider reporting to `sink`."""
    return await start(sink)


async def test_put_is_stored_in_the_bucket_and_in_effect_at_once(
    provider: SandboxProvider, connect: Callable[[], Awaitable[Client]]
) -> None:
    """A PUT answers the recipient with defaults, lands in the KV bucket, and holds at once."""
    answer = await provider.put_recipient(NUMBER, RecipientIn(capabilities=["sms"], read=True))
    assert answer == {
        "msisdn": NUMBER,
        "capabilities": ["sms"],
        "outcomes": {"sms": "delivered"},
        "read": True,
        "report_delay_ms": 0,
    }
    assert provider.get_recipient(NUMBER) == answer
    assert await provider.has_capability(NUMBER, "rcs") is False
    kv = await (await connect()).jetstream().key_value(RECIPIENTS_BUCKET)
    stored = orjson.loads((await kv.get(NUMBER[1:])).value)
    assert stored == {key: value for key, value in answer.items() if key != "msisdn"}


async def test_put_update_and_delete_reach_another_replica(
    provider: SandboxProvider, start: Callable[[RecordingSink], Awaitable[SandboxProvider]]
) -> None:
    """Another provider on its own connection sees a put, a replacement and a delete promptly."""
    other = await start(RecordingSink())
    await provider.put_recipient(NUMBER, RecipientIn(outcomes={"rcs": "invalid_number"}))
    await eventually(lambda: other.get_recipient(NUMBER) is not None)
    assert other.get_recipient(NUMBER) == provider.get_recipient(NUMBER)
    await provider.put_recipient(NUMBER, RecipientIn(report_delay_ms=250))
    await eventually(lambda: (other.get_recipient(NUMBER) or {}).get("report_delay_ms") == 250)
    assert await provider.delete_recipient(NUMBER) is True
    await eventually(lambda: other.get_recipient(NUMBER) is None)


async def test_start_loads_recipients_registered_before_it(
    provider: SandboxProvider, start: Callable[[RecordingSink], Awaitable[SandboxProvider]]
) -> None:
    """A provider started after a PUT knows that recipient as soon as `start` returns."""
    await provider.put_recipient(NUMBER, RecipientIn(capabilities=["whatsapp"]))
    await provider.put_recipient("+919800000002", RecipientIn(read=True))
    await provider.delete_recipient("+919800000002")
    later = await start(RecordingSink())
    assert later.get_recipient(NUMBER) == provider.get_recipient(NUMBER)
    assert later.get_recipient("+919800000002") is None
    assert await later.has_capability(NUMBER, "sms") is False


async def test_delete_answers_whether_it_was_there_and_restores_defaults(
    provider: SandboxProvider, sink: RecordingSink
) -> None:
    """DELETE is True once and False after; the number is then delivered like an unknown one."""
    await provider.put_recipient(NUMBER, RecipientIn(outcomes={"rcs": "delivery_failed"}))
    assert await provider.delete_recipient(NUMBER) is True
    assert await provider.delete_recipient(NUMBER) is False
    assert await provider.delete_recipient("+919800000009") is False
    assert provider.get_recipient(NUMBER) is None
    await provider.send(outbound())
    assert sink.outcomes() == [("delivered", None)]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("delivered", [("delivered", None)]),
        ("delivery_failed", [("failed", "delivery_failed")]),
        ("invalid_number", [("failed", "invalid_number")]),
        ("validity_expired", [("failed", "validity_expired")]),
        ("no_report", []),
    ],
)
async def test_each_outcome_is_reported_after_the_recipients_delay(
    provider: SandboxProvider, sink: RecordingSink, outcome: Any, expected: list[Any]
) -> None:
    """Each configured outcome yields its reports through the sink, delayed by report_delay_ms."""
    body = RecipientIn(outcomes={"rcs": outcome}, report_delay_ms=1500)
    await provider.put_recipient(NUMBER, body)
    before = now()
    result = await provider.send(outbound())
    assert result.accepted is True
    assert sink.outcomes() == expected
    for report, delay_s in sink.calls:
        assert delay_s == 1.5
        assert (report.message_id, report.attempt, report.route) == ("msg_1", 1, "rcs-airtel")
        assert before + timedelta(seconds=1.4) <= report.at <= now() + timedelta(seconds=1.6)


async def test_read_recipient_gets_delivered_then_read(
    provider: SandboxProvider, sink: RecordingSink
) -> None:
    """With `read: true` a delivery is followed by a `read` report, same delay, in that order."""
    await provider.put_recipient(NUMBER, RecipientIn(read=True, report_delay_ms=20))
    await provider.send(outbound("whatsapp", "wa-2"))
    assert sink.outcomes() == [("delivered", None), ("read", None)]
    assert [delay for _, delay in sink.calls] == [0.02, 0.02]


async def test_missing_capability_is_reported_delivery_failed(
    provider: SandboxProvider, sink: RecordingSink
) -> None:
    """A send on a channel the recipient lacks is accepted, then reported failed delivery_failed."""
    await provider.put_recipient(NUMBER, RecipientIn(capabilities=["sms"], read=True))
    assert await provider.has_capability(NUMBER, "sms") is True
    assert await provider.has_capability(NUMBER, "truecaller") is False
    result = await provider.send(outbound("truecaller", "tc-1"))
    assert result.accepted is True
    assert sink.outcomes() == [("failed", "delivery_failed")]


async def test_unknown_recipient_has_every_channel_and_is_delivered_at_once(
    provider: SandboxProvider, sink: RecordingSink
) -> None:
    """A number nobody registered can receive everything and is reported delivered, no delay."""
    for channel in ("rcs", "sms", "truecaller", "whatsapp"):
        assert await provider.has_capability("+919800000001", channel) is True
    await provider.send(outbound("sms", "sms-1", to="+919800000001"))
    assert [(r.outcome, delay) for r, delay in sink.calls] == [("delivered", 0.0)]


async def test_route_stats_count_sends_per_route(provider: SandboxProvider) -> None:
    """Route stats list every route from zero and count each send on its own route."""
    assert provider.route_stats() == {route.name: {"sent": 0} for route in DEFAULT_ROUTES}
    await provider.put_recipient(NUMBER, RecipientIn(outcomes={"whatsapp": "no_report"}))
    for route in ("wa-1", "wa-3", "wa-3"):
        await provider.send(outbound("whatsapp", route))
    stats = provider.route_stats()
    assert (stats["wa-1"], stats["wa-2"], stats["wa-3"]) == ({"sent": 1}, {"sent": 0}, {"sent": 2})
    assert sum(entry["sent"] for entry in stats.values()) == 3
    assert provider.routes() == list(DEFAULT_ROUTES)


async def test_invalid_msisdn_is_refused(provider: SandboxProvider) -> None:
    """PUT and DELETE of a number that is not E.164 raise ValueError and store nothing."""
    with pytest.raises(ValueError, match=r"E\.164"):
        await provider.put_recipient("919876543210", RecipientIn())
    with pytest.raises(ValueError, match=r"E\.164"):
        await provider.delete_recipient("+91-98765")
    assert provider.get_recipient(NUMBER) is None


async def test_send_before_start_raises(connect: Callable[[], Awaitable[Client]]) -> None:
    """A provider that was not started refuses to send rather than lose the report."""
    idle = SandboxProvider(await connect())
    with pytest.raises(RuntimeError, match="not started"):
        await idle.send(outbound())
