"""Settling attempts over fake ports: what is made durable before an acknowledgement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from webhook_svc.domain.records import DeadLetter, Delivery
from webhook_svc.domain.webhooks import Webhook
from webhook_svc.errors import StoreUnavailable
from webhook_svc.ports import Outcome
from webhook_svc.settle import Job, Settler


class Journal:
    """Records every port call in order."""

    def __init__(self, fail_store: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_store = fail_store
        self.name = "fake"

    async def ack(self, replies: Sequence[str]) -> None:
        self.calls.append(("ack", list(replies)))

    async def nak(self, replies: Sequence[str], delay_s: float | None = None) -> None:
        self.calls.append(("nak", list(replies)))

    async def fail(self, replies: Sequence[str]) -> None:
        self.calls.append(("fail", list(replies)))

    async def term(self, reply: str, reason: str, account_id: str | None = None) -> None:
        self.calls.append(("term", reason))

    async def schedule(self, delivery: Delivery, delay_s: float) -> None:
        if self.fail_store:
            raise StoreUnavailable("down")
        self.calls.append(("schedule", (delivery.attempt, delay_s)))

    async def add(self, letter: DeadLetter) -> None:
        if self.fail_store:
            raise StoreUnavailable("down")
        self.calls.append(("dead_letter", letter.attempts))

    async def remove(self, account_id: str, dead_letter_id: str) -> None:
        self.calls.append(("remove", dead_letter_id))

    async def get(self, account_id: str, dead_letter_id: str) -> DeadLetter | None:
        return None

    async def list(self, account_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        return []

    async def append(self, account_id: str, entry: Mapping[str, Any]) -> None:
        self.calls.append(("log", (entry["attempt"], entry["outcome"])))

    async def recent(self, account_id: str, limit: int) -> list[dict[str, Any]]:
        return []

    def is_disabled(self, account_id: str, kind: str, version: int) -> bool:
        return False

    async def disable(self, account_id: str, kind: str, version: int) -> None:
        self.calls.append(("disable", version))


def _settler(journal: Journal) -> Settler:
    return Settler(
        retries=journal,
        dead_letters=journal,
        attempt_log=journal,
        disabled=journal,
        schedule=(5.0, 300.0),
        defer_seconds=1.0,
    )


def _job(journal: Journal, attempt: int = 1, replay_of: str | None = None) -> Job:
    delivery = Delivery("bat_1", "acc_1", "status", ["evt_1"], b"[]", attempt, replay_of=replay_of)
    return Job(delivery, journal, ["r1"])


HOOK = Webhook("acc_1", "status", 7, "https://h.example/x", retries=2)


async def test_failure_schedules_the_next_attempt_before_acknowledging() -> None:
    """A failed attempt with retries left is scheduled as attempt + 1, logged, then acked."""
    journal = Journal()
    await _settler(journal).settle(_job(journal), HOOK, Outcome(False, 500, "HTTP 500"))
    names = [c[0] for c in journal.calls]
    assert names == ["schedule", "log", "ack"]
    attempt, delay = journal.calls[0][1]
    assert attempt == 2
    assert 4.0 <= delay <= 6.0
    assert journal.calls[1][1] == (1, "failed")


async def test_last_failure_becomes_a_dead_letter_before_acknowledging() -> None:
    """After retries + 1 tries the batch is dead-lettered with every try counted, logged dead."""
    journal = Journal()
    await _settler(journal).settle(_job(journal, attempt=3), HOOK, Outcome(False, 503, "HTTP 503"))
    assert journal.calls == [("dead_letter", 3), ("log", (3, "dead")), ("ack", ["r1"])]


async def test_gone_disables_and_dead_letters_at_once() -> None:
    """HTTP 410 disables the webhook at its version and dead-letters without retrying."""
    journal = Journal()
    await _settler(journal).settle(_job(journal), HOOK, Outcome(False, 410, "HTTP 410"))
    assert journal.calls[:2] == [("disable", 7), ("dead_letter", 1)]
    assert journal.calls[-1] == ("ack", ["r1"])


async def test_delivered_replay_removes_its_dead_letter() -> None:
    """A replay that is delivered removes the dead letter it came from."""
    journal = Journal()
    await _settler(journal).settle(_job(journal, replay_of="dl_9"), HOOK, Outcome(True, 200))
    assert journal.calls == [("remove", "dl_9"), ("log", (1, "delivered")), ("ack", ["r1"])]


async def test_failed_replay_replaces_its_dead_letter() -> None:
    """A replay that fails for good becomes a new dead letter and the old one goes."""
    journal = Journal()
    job = _job(journal, attempt=3, replay_of="dl_9")
    await _settler(journal).settle(job, HOOK, Outcome(False, 500, "HTTP 500"))
    assert journal.calls[:2] == [("dead_letter", 3), ("remove", "dl_9")]


@pytest.mark.parametrize("attempt", [1, 3])
async def test_unconfirmed_store_writes_nack_instead_of_acking(attempt: int) -> None:
    """When JetStream does not confirm the retry or dead letter, nothing is acked: the messages
    are given back as failed (to come back after a growing delay)."""
    journal = Journal(fail_store=True)
    await _settler(journal).settle(_job(journal, attempt=attempt), HOOK, Outcome(False, 500, "x"))
    assert journal.calls == [("fail", ["r1"])]
