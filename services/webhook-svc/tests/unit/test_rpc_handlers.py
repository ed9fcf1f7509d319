"""The request/reply handlers (`adapters/rpc.py`) on FastStream's in-memory test broker, over
fake stores: the replies account-svc gets, byte for byte as JSON, errors included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from faststream.specification import AsyncAPI
from parley_shared import subjects
from webhook_svc.adapters.rpc import Api
from webhook_svc.domain.records import DeadLetter, Delivery


@dataclass
class Stores:
    """In-memory delivery log, dead letters and retry queue for one test."""

    log: list[dict[str, Any]] = field(default_factory=list)
    letters: dict[str, DeadLetter] = field(default_factory=dict)
    scheduled: list[tuple[Delivery, float]] = field(default_factory=list)
    asked: list[tuple[str, int | None]] = field(default_factory=list)
    broken: bool = False
    max_payload: int = 1024 * 1024

    async def recent(self, account_id: str, limit: int) -> list[dict[str, Any]]:
        self.asked.append(("recent", limit))
        if self.broken:
            raise OSError("the store is down")
        return [e for e in self.log if e["account_id"] == account_id][:limit]

    async def append(self, account_id: str, entry: Mapping[str, Any]) -> None:
        self.log.insert(0, dict(entry))

    async def list(self, account_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        self.asked.append(("list", limit))
        mine = [d.public() for d in self.letters.values() if d.delivery.account_id == account_id]
        return mine if limit is None else mine[:limit]

    async def get(self, account_id: str, dead_letter_id: str) -> DeadLetter | None:
        letter = self.letters.get(dead_letter_id)
        return letter if letter and letter.delivery.account_id == account_id else None

    async def add(self, letter: DeadLetter) -> None:
        self.letters[letter.id] = letter

    async def remove(self, account_id: str, dead_letter_id: str) -> None:
        self.letters.pop(dead_letter_id, None)

    async def schedule(self, delivery: Delivery, delay_s: float) -> None:
        self.scheduled.append((delivery, delay_s))


@pytest.fixture
async def served() -> AsyncIterator[tuple[Stores, Any]]:
    """The API's handlers on a test broker (no server), and the stores behind them."""
    stores = Stores()
    broker = NatsBroker(logger=None)
    Api(stores, stores, stores, stores).register(broker)
    async with TestNatsBroker(broker) as test_broker:
        yield stores, test_broker


async def ask(broker: Any, subject: str, body: bytes | dict[str, Any]) -> dict[str, Any]:
    """One request; the reply's JSON."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    reply = await broker.request(data, subject)
    answer: dict[str, Any] = orjson.loads(reply.body)
    return answer


def entry(account_id: str, n: int, event_ids: list[str]) -> dict[str, Any]:
    """A delivery-log entry."""
    return {"id": f"att_{n}", "account_id": account_id, "event_ids": event_ids, "attempt": 1}


def letter(account_id: str, letter_id: str) -> DeadLetter:
    """A dead letter of a batch whose third attempt failed."""
    delivery = Delivery("bat_1", account_id, "status", ["evt_1"], b"[]", attempt=3)
    return DeadLetter(letter_id, delivery, 3, "HTTP 500", "2026-01-01T00:00:00Z")


async def test_the_delivery_log_answers_50_by_default_and_filters_by_event(
    served: tuple[Stores, Any],
) -> None:
    """Without `limit` the log is asked for 50; with `event_ids` every kept attempt (200) is
    read and only those carrying one of the events are answered."""
    stores, broker = served
    stores.log = [entry("acc_1", n, [f"evt_{n % 3}"]) for n in range(10)]
    reply = await ask(broker, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": "acc_1"})
    assert len(reply["items"]) == 10
    assert stores.asked == [("recent", 50)]
    body = {"account_id": "acc_1", "event_ids": ["evt_1"], "limit": 2}
    reply = await ask(broker, subjects.WEBHOOK_DELIVERIES_QUERY, body)
    assert [e["id"] for e in reply["items"]] == ["att_1", "att_4"]
    assert stores.asked[-1] == ("recent", 200)


async def test_bad_requests_are_problems_naming_the_field(served: tuple[Stores, Any]) -> None:
    """A body that is not JSON is 400 malformed_request; a bad field is 422 naming it."""
    _, broker = served
    reply = await ask(broker, subjects.WEBHOOK_DELIVERIES_QUERY, b"not json")
    assert (reply["status"], reply["type"]) == (400, "malformed_request")
    reply = await ask(broker, subjects.WEBHOOK_DEAD_LETTERS_QUERY, b"[1]")
    assert (reply["status"], reply["type"]) == (400, "malformed_request")
    reply = await ask(broker, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": "a", "limit": 0})
    assert (reply["status"], reply["errors"][0]["loc"]) == (422, ["limit"])
    reply = await ask(broker, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": "a.*"})
    assert (reply["status"], reply["errors"][0]["loc"]) == (422, ["account_id"])
    body = {"account_id": "a", "event_ids": []}
    reply = await ask(broker, subjects.WEBHOOK_DELIVERIES_QUERY, body)
    assert (reply["status"], reply["errors"][0]["loc"]) == (422, ["event_ids"])


async def test_a_store_failure_is_a_503_not_a_silence(served: tuple[Stores, Any]) -> None:
    """When the store fails, the asker gets 503 service_unavailable rather than a timeout."""
    stores, broker = served
    stores.broken = True
    reply = await ask(broker, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": "acc_1"})
    assert (reply["status"], reply["type"]) == (503, "service_unavailable")


async def test_dead_letters_are_listed_whole_unless_limited(served: tuple[Stores, Any]) -> None:
    """The list asks the store for every dead letter of the account, or `limit` of them."""
    stores, broker = served
    for n in range(3):
        await stores.add(letter("acc_1", f"dl_{n}"))
    await stores.add(letter("acc_2", "dl_other"))
    reply = await ask(broker, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": "acc_1"})
    assert [d["id"] for d in reply["items"]] == ["dl_0", "dl_1", "dl_2"]
    assert stores.asked == [("list", None)]
    body = {"account_id": "acc_1", "limit": 501}
    reply = await ask(broker, subjects.WEBHOOK_DEAD_LETTERS_QUERY, body)
    assert (reply["status"], reply["errors"][0]["loc"]) == (422, ["limit"])


async def test_a_replay_schedules_attempt_one_now_and_answers_202(
    served: tuple[Stores, Any],
) -> None:
    """A replay puts the letter's batch on the retry queue as attempt 1, due at once, marked
    as the replay of that letter; another account's letter is 404 and nothing is scheduled."""
    stores, broker = served
    await stores.add(letter("acc_1", "dl_1"))
    body = {"account_id": "acc_2", "dead_letter_id": "dl_1"}
    reply = await ask(broker, subjects.WEBHOOK_DEAD_LETTERS_REPLAY, body)
    assert (reply["status"], reply["type"]) == (404, "not_found")
    assert stores.scheduled == []
    body = {"account_id": "acc_1", "dead_letter_id": "dl_1"}
    assert await ask(broker, subjects.WEBHOOK_DEAD_LETTERS_REPLAY, body) == {"status": 202}
    [(delivery, delay)] = stores.scheduled
    assert (delivery.attempt, delivery.replay_of, delivery.batch_id, delay) == (
        1,
        "dl_1",
        "bat_1",
        0.0,
    )


def test_the_subjects_are_described_in_the_webhook_svc_queue_group() -> None:
    """FastStream's AsyncAPI document of the API names the three subjects, each in the
    `webhook-svc` queue group (any one process answers a request)."""
    broker = NatsBroker(logger=None)
    stores = Stores()
    Api(stores, stores, stores, stores).register(broker)
    document = AsyncAPI(broker, schema_version="3.0.0").to_specification().to_jsonable()
    bindings = {c["address"]: c["bindings"]["nats"] for c in document["channels"].values()}
    assert set(bindings) == {
        subjects.WEBHOOK_DELIVERIES_QUERY,
        subjects.WEBHOOK_DEAD_LETTERS_QUERY,
        subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
    }
    assert {b["queue"] for b in bindings.values()} == {subjects.QUEUE_WEBHOOK_API}
