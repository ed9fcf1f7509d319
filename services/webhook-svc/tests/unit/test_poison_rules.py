"""Poison-message rules: which messages are invalid for good, how redelivery backs off, and
when a message has had its last try."""

from __future__ import annotations

from typing import Any

import pytest
from webhook_svc.adapters.codec import decode_delivery, encode_delivery
from webhook_svc.adapters.pull import ack_info
from webhook_svc.domain.records import Delivery
from webhook_svc.domain.redelivery import exhausted, redelivery_delay
from webhook_svc.domain.validation import delivery_problem, event_problem

GOOD: dict[str, Any] = {
    "id": "evt_1",
    "type": "parley.message.delivered",
    "time": "2026-01-01T00:00:00.000Z",
    "data": {"account_id": "acc_1", "metadata": {"a": "b"}},
}


def test_a_well_formed_event_passes() -> None:
    """An event with id, type and data of its subject's account is valid."""
    assert event_problem(GOOD, "acc_1") is None


def test_an_unknown_event_type_is_not_invalid() -> None:
    """A new event type is skipped as not subscribed later, never terminated as poison."""
    assert event_problem({**GOOD, "type": "parley.message.something_new"}, "acc_1") is None


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ([1, 2], "not a JSON object"),
        ("evt", "not a JSON object"),
        ({**GOOD, "id": 7}, "id is not a non-empty string"),
        ({**GOOD, "id": ""}, "id is not a non-empty string"),
        ({**GOOD, "id": "x" * 257}, "id is not a non-empty string"),
        ({**GOOD, "type": None}, "type is not a non-empty string"),
        ({**GOOD, "data": "delivered"}, "data is not an object"),
        ({**GOOD, "data": {"account_id": "acc_2"}}, "data.account_id is not the account"),
        ({**GOOD, "data": {"account_id": "acc_1", "metadata": [1]}}, "data.metadata is not"),
        ({**GOOD, "time": 1700000000}, "time is not a string"),
    ],
)
def test_invalid_events_name_their_problem(event: Any, problem: str) -> None:
    """Each way an event can be unusable for good is reported, by field (never by value)."""
    found = event_problem(event, "acc_1")
    assert found is not None
    assert found.startswith(problem)


def _delivery(**changes: Any) -> Delivery:
    values: dict[str, Any] = {
        "batch_id": "bat_1",
        "account_id": "acc_1",
        "kind": "status",
        "event_ids": ["evt_1"],
        "body": b"{}",
    }
    values.update(changes)
    return Delivery(**values)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"account_id": "acc_2"}, "account_id is not the account of the subject"),
        ({"kind": "nope"}, "kind is not a webhook kind"),
        ({"batch_id": ""}, "batch_id is not a non-empty string"),
        ({"event_ids": []}, "event_ids is empty"),
        ({"attempt": 0}, "attempt is below 1"),
        ({"body": b""}, "the body is empty"),
    ],
)
def test_invalid_retry_records_name_their_problem(changes: dict[str, Any], problem: str) -> None:
    """A WEBHOOK_RETRY record that can never be attempted says why."""
    assert delivery_problem(_delivery(), "acc_1") is None
    assert delivery_problem(_delivery(**changes), "acc_1") == problem


@pytest.mark.parametrize(
    "data",
    [
        b"no newline at all",
        b"not json\n{}",
        b"[1]\n{}",
        b'{"batch_id": "b", "account_id": "a", "kind": "status"}\n{}',
        b'{"batch_id": "b", "account_id": "a", "kind": "status", "event_ids": "e"}\n{}',
        b'{"batch_id": "b", "account_id": "a", "kind": "status", "event_ids": [], '
        b'"headers": [1]}\n{}',
        b'{"batch_id": "b", "account_id": "a", "kind": "status", "event_ids": [], '
        b'"attempt": "two"}\n{}',
    ],
)
def test_undecodable_retry_records_raise_value_error(data: bytes) -> None:
    """Every malformed record is a ValueError (terminated), never another exception (which
    would be retried as a failure)."""
    with pytest.raises(ValueError, match=r"."):
        decode_delivery(data)


def test_raw_flag_survives_the_round_trip() -> None:
    """A dead-lettered unsent event keeps `raw` on WEBHOOK_RETRY (it is rendered at replay)."""
    delivery = _delivery(raw=True)
    assert decode_delivery(encode_delivery(delivery)).raw is True
    assert decode_delivery(encode_delivery(_delivery())).raw is False


def test_redelivery_delay_doubles_up_to_its_cap() -> None:
    """Each delivery of a failing message waits twice as long as the last, up to the cap."""
    delays = [redelivery_delay(n, 1.0, 60.0) for n in range(1, 10)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert redelivery_delay(10_000, 0.5, 30.0) == 30.0


def test_a_message_is_exhausted_after_max_deliver_tries() -> None:
    """With max_deliver 3, deliveries 1-3 are tried and the 4th goes to the poison stream."""
    assert [exhausted(n, 3) for n in (1, 2, 3, 4, 5)] == [False, False, False, True, True]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("$JS.ACK.STATUS.webhook-svc-status.3.41.7.1700000000000000000.0", (3, 41)),
        ("$JS.ACK.hub.ACCHASH.STATUS.webhook-svc-status.5.99.7.1700000000000000000.0.tok", (5, 99)),
        ("_INBOX.abc", (1, 0)),
    ],
)
def test_ack_subjects_give_deliveries_and_sequence(reply: str, expected: tuple[int, int]) -> None:
    """The delivery count and stream sequence are read from v1 and v2 ack subjects."""
    assert ack_info(reply) == expected
