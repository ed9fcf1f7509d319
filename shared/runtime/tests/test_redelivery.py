"""The redelivery rules of the pull consumers: how a failed message backs off, when it has had
its last try, and what an ack subject says about deliveries, sequence and backlog."""

from __future__ import annotations

import pytest
from parley_runtime.redelivery import ack_info, ack_pending, exhausted, redelivery_delay


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
        ("$JS.ACK.STATUS.webhook-svc-status.x.41.7.1700000000000000000.0", (1, 0)),
        ("_INBOX.abc", (1, 0)),
    ],
)
def test_ack_subjects_give_deliveries_and_sequence(reply: str, expected: tuple[int, int]) -> None:
    """The delivery count and stream sequence are read from v1 and v2 ack subjects."""
    assert ack_info(reply) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("$JS.ACK.STATUS.webhook-svc-status.3.41.7.1700000000000000000.12", 12),
        ("$JS.ACK.hub.ACCHASH.STATUS.webhook-svc-status.5.99.7.1700000000000000000.4.tok", 4),
        ("_INBOX.abc", 0),
    ],
)
def test_ack_subjects_give_the_backlog(reply: str, expected: int) -> None:
    """The consumer's pending count is read from v1 and v2 ack subjects, 0 from anything else."""
    assert ack_pending(reply) == expected
