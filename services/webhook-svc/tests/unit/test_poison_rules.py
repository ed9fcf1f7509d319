"""Poison-message rules: which messages are invalid for good (the delivery counting and
redelivery delays are parley_runtime.redelivery's, tested in shared/runtime/tests)."""

from __future__ import annotations

from typing import Any

import pytest
from webhook_svc.adapters.codec import decode_delivery, encode_delivery
from webhook_svc.domain.records import Delivery
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
