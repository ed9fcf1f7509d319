"""Sandbox recipients without NATS: the PUT body rules, defaults, msisdn keys, simulated reports."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError
from routing_svc.adapters.providers.sandbox import simulate
from routing_svc.adapters.providers.sandbox_recipients import (
    Recipient,
    RecipientIn,
    RecipientRegistry,
    msisdn_key,
)
from routing_svc.domain.channels import Outbound

AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def outbound(channel: Any = "rcs") -> Outbound:
    """One attempt to +919876543210 on `channel`."""
    return Outbound("msg_1", 2, channel, "route-x", None, "+919876543210", {"text": "hi"})


def recipient(**body: Any) -> Recipient:
    """The recipient a PUT body describes."""
    return Recipient.from_input(RecipientIn.model_validate(body))


def test_empty_body_takes_the_contract_defaults() -> None:
    """An empty PUT body means every channel, delivered, not read, no delay."""
    assert recipient().to_dict() == {
        "capabilities": ["rcs", "sms", "truecaller", "whatsapp"],
        "outcomes": {
            "rcs": "delivered",
            "sms": "delivered",
            "truecaller": "delivered",
            "whatsapp": "delivered",
        },
        "read": False,
        "report_delay_ms": 0,
    }


def test_outcomes_are_filled_for_each_capability() -> None:
    """Outcomes list every capability (delivered unless named) in the canonical channel order."""
    stored = recipient(capabilities=["sms", "rcs"], outcomes={"rcs": "delivery_failed"}, read=True)
    assert stored.to_dict() == {
        "capabilities": ["rcs", "sms"],
        "outcomes": {"rcs": "delivery_failed", "sms": "delivered"},
        "read": True,
        "report_delay_ms": 0,
    }


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({"capabilities": ["sms", "sms"]}, ("capabilities",), id="repeated-channel"),
        pytest.param({"capabilities": ["fax"]}, ("capabilities", 0), id="unknown-channel"),
        pytest.param(
            {"outcomes": {"fax": "delivered"}},
            ("outcomes", "fax", "[key]"),
            id="unknown-outcome-channel",
        ),
        pytest.param({"outcomes": {"sms": "lost"}}, ("outcomes", "sms"), id="unknown-outcome"),
        pytest.param({"read": "yes"}, ("read",), id="read-not-bool"),
        pytest.param({"report_delay_ms": -1}, ("report_delay_ms",), id="negative-delay"),
        pytest.param({"report_delay_ms": 600_001}, ("report_delay_ms",), id="delay-too-long"),
        pytest.param({"report_delay_ms": "5"}, ("report_delay_ms",), id="delay-not-int"),
        pytest.param({"colour": "red"}, ("colour",), id="unknown-field"),
    ],
)
def test_invalid_recipient_bodies_are_refused(body: dict[str, Any], loc: tuple[Any, ...]) -> None:
    """Each broken rule of the PUT body is a validation error at its field."""
    with pytest.raises(ValidationError) as caught:
        RecipientIn.model_validate(body)
    assert [tuple(error["loc"]) for error in caught.value.errors()] == [loc]


def test_repeated_capability_message_names_its_position() -> None:
    """A repeated channel's error says which channel and at which position."""
    with pytest.raises(ValidationError, match=r"'sms' is repeated at position 2"):
        RecipientIn.model_validate({"capabilities": ["sms", "rcs", "sms"]})


def test_longest_delay_is_accepted() -> None:
    """A report delay of exactly 600000 ms is allowed."""
    assert RecipientIn(report_delay_ms=600_000).report_delay_ms == 600_000


@pytest.mark.parametrize("msisdn", ["+1234567", "+91987654", "+919876543210123"])
def test_msisdn_key_is_the_digits(msisdn: str) -> None:
    """An E.164 number of 7 to 15 digits keys the registry by its digits without `+`."""
    assert msisdn_key(msisdn) == msisdn[1:]


@pytest.mark.parametrize(
    "msisdn",
    [
        "919876543210",
        "+919876",
        "+9198765432101234",
        "+019876543210",
        "+91 98765 43210",
        "+919876543210\n",
        "",
    ],
)
def test_msisdn_key_refuses_non_e164(msisdn: str) -> None:
    """Anything but `+` and 7 to 15 digits (not starting with 0) is a ValueError saying E.164."""
    with pytest.raises(ValueError, match=r"E\.164"):
        msisdn_key(msisdn)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({}, [("delivered", None)], id="delivered"),
        pytest.param({"read": True}, [("delivered", None), ("read", None)], id="delivered-read"),
        pytest.param(
            {"outcomes": {"rcs": "delivery_failed"}},
            [("failed", "delivery_failed")],
            id="delivery-failed",
        ),
        pytest.param(
            {"outcomes": {"rcs": "invalid_number"}},
            [("failed", "invalid_number")],
            id="invalid-number",
        ),
        pytest.param(
            {"outcomes": {"rcs": "validity_expired"}},
            [("failed", "validity_expired")],
            id="validity-expired",
        ),
        pytest.param({"outcomes": {"rcs": "no_report"}, "read": True}, [], id="no-report"),
        pytest.param(
            {"capabilities": ["sms"], "read": True},
            [("failed", "delivery_failed")],
            id="no-capability",
        ),
        pytest.param(
            {"outcomes": {"sms": "invalid_number"}},
            [("delivered", None)],
            id="other-channel-outcome",
        ),
    ],
)
def test_simulate_reports_each_outcome(
    body: dict[str, Any], expected: list[tuple[str, Any]]
) -> None:
    """Each recipient setting yields exactly its reports for an RCS attempt, in order."""
    reports = simulate(outbound(), recipient(**body), AT)
    assert [(r.outcome, r.reason) for r in reports] == expected
    assert all(
        (r.message_id, r.attempt, r.route, r.at) == ("msg_1", 2, "route-x", AT) for r in reports
    )


def test_simulate_unknown_recipient_is_delivered() -> None:
    """A number nobody registered is delivered, with no read report."""
    assert [(r.outcome, r.reason) for r in simulate(outbound("whatsapp"), None, AT)] == [
        ("delivered", None)
    ]


class FakeWatcher:
    """A KV watcher: the snapshot, None, then the entries the test pushes."""

    def __init__(self, snapshot: list[SimpleNamespace]) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        for item in [*snapshot, None]:
            self.queue.put_nowait(item)

    def __aiter__(self) -> FakeWatcher:
        return self

    async def __anext__(self) -> Any:
        entry = await self.queue.get()
        if entry == "stop":
            raise StopAsyncIteration
        return entry

    async def stop(self) -> None:
        self.queue.put_nowait("stop")


class FakeKV:
    """Just enough of a nats-py KV bucket: revisions count up; the watch is fed by the test."""

    def __init__(self) -> None:
        self.revision = 0
        self.markers = 0  # keys of entries that show the watch has caught up (see `deliver`)
        self.values: dict[str, tuple[int, bytes]] = {}
        self.watches = 0
        self.watcher = FakeWatcher([])

    async def put(self, key: str, value: bytes) -> int:
        self.revision += 1
        self.values[key] = (self.revision, value)
        return self.revision

    async def get(self, key: str) -> Any:
        from nats.js.errors import KeyNotFoundError

        if key not in self.values:
            raise KeyNotFoundError
        return SimpleNamespace(key=key, revision=self.values[key][0], value=self.values[key][1])

    async def delete(self, key: str) -> None:
        self.revision += 1
        del self.values[key]

    async def watchall(self) -> FakeWatcher:
        snapshot = [
            SimpleNamespace(key=key, revision=revision, operation=None, value=value)
            for key, (revision, value) in sorted(self.values.items(), key=lambda kv: kv[1][0])
        ]
        self.watches += 1
        self.watcher = FakeWatcher(snapshot)
        return self.watcher


class FakeJetStream:
    """A JetStream context whose only bucket is a FakeKV."""

    def __init__(self) -> None:
        self.kv = FakeKV()

    async def key_value(self, bucket: str) -> FakeKV:
        return self.kv


def entry(key: str, revision: int, body: dict[str, Any] | None) -> SimpleNamespace:
    """A watch entry: a put of `body`, or a delete marker when `body` is None."""
    value = b"" if body is None else RecipientIn.model_validate(body).model_dump_json().encode()
    return SimpleNamespace(
        key=key, revision=revision, operation="DEL" if body is None else None, value=value
    )


async def deliver(registry: RecipientRegistry, kv: FakeKV, *entries: SimpleNamespace) -> None:
    """Feed watch entries and wait until the registry has taken all of them."""
    kv.markers += 1
    marker = f"9{kv.markers:014d}"
    for item in (*entries, entry(marker, 10_000 + kv.markers, {})):
        kv.watcher.queue.put_nowait(item)
    deadline = time.monotonic() + 5
    while registry.get(marker) is None:
        assert time.monotonic() < deadline, "watch entries not taken in time"
        await asyncio.sleep(0.001)


async def test_registry_ignores_watch_entries_older_than_a_local_put() -> None:
    """A late watch entry never overwrites a newer local put; a newer remote put does."""
    js = FakeJetStream()
    registry = RecipientRegistry(js)
    await registry.open()
    await registry.put("+919876543210", recipient(read=True))  # revision 1
    await registry.put("+919876543210", recipient(report_delay_ms=7))  # revision 2
    await deliver(registry, js.kv, entry("919876543210", 1, {"read": True}))
    assert registry.get("+919876543210") == recipient(report_delay_ms=7)
    await deliver(registry, js.kv, entry("919876543210", 3, {"capabilities": ["sms"]}))
    assert registry.get("919876543210") == recipient(capabilities=["sms"])
    await registry.close()


async def test_registry_local_delete_is_not_undone_by_a_late_put() -> None:
    """After a local delete, a late watch entry of the deleted value does not bring it back."""
    js = FakeJetStream()
    registry = RecipientRegistry(js)
    await registry.open()
    await registry.put("+919876543210", recipient(read=True))  # revision 1
    assert await registry.delete("+919876543210") is True
    assert registry.get("+919876543210") is None
    await deliver(registry, js.kv, entry("919876543210", 1, {"read": True}))
    assert registry.get("+919876543210") is None
    await deliver(registry, js.kv, entry("919876543210", 2, None))
    await deliver(registry, js.kv, entry("919876543210", 3, {"report_delay_ms": 5}))
    assert registry.get("+919876543210") == recipient(report_delay_ms=5)
    await registry.close()


async def test_registry_rewatches_after_the_watch_ends_and_resyncs() -> None:
    """When the watch ends, the registry watches again and drops keys the new snapshot lacks."""
    js = FakeJetStream()
    registry = RecipientRegistry(js)
    await registry.open()
    for number in ("+919800000001", "+919800000002", "+919800000003"):
        await registry.put(number, recipient(read=True))
    del js.kv.values["919800000002"]  # gone from the stream while nobody watched
    await js.kv.watcher.stop()
    deadline = time.monotonic() + 5
    while js.kv.watches < 2 or registry.get("+919800000002") is not None:
        assert time.monotonic() < deadline, "registry did not re-watch and resync in time"
        await asyncio.sleep(0.005)
    assert registry.get("+919800000001") == registry.get("+919800000003") == recipient(read=True)
    await deliver(registry, js.kv, entry("919800000004", 9, {}))
    assert registry.get("+919800000004") == recipient()
    await registry.close()


async def test_registry_refuses_use_before_open() -> None:
    """Writing to a registry that was never opened is a RuntimeError, not a silent no-op."""
    with pytest.raises(RuntimeError, match="not open"):
        await RecipientRegistry(FakeJetStream()).put("+919876543210", recipient())
