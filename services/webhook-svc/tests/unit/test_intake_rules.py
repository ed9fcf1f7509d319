"""The intake's decisions over fake ports: what is terminated, held, dead-lettered or given
back, and that nothing is acknowledged before its dead letter is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from parley_devtools.waiting import eventually
from webhook_svc import metrics
from webhook_svc.domain.records import DeadLetter, Delivery
from webhook_svc.domain.webhooks import AccountHooks, Webhook
from webhook_svc.errors import StoreUnavailable
from webhook_svc.intake import Intake
from webhook_svc.settle import Job, Settler

STATUS_SUBJECT = "parley.msg.v1.status."


class Fakes:
    """Accounts, a source, a dispatcher and the stores, recording every call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.letters: list[DeadLetter] = []
        self.entries: dict[str, AccountHooks] = {}
        self.deleted: set[str] = set()
        self.problems: dict[str, str] = {}
        self.fail_store = False
        self.name = "fake"
        self.pending: dict[str, int] = {}  # reply -> messages behind it in the stream
        self.scheduled: list[tuple[Delivery, float]] = []

    # Accounts
    def get(self, account_id: str) -> AccountHooks | None:
        return self.entries.get(account_id)

    def is_deleted(self, account_id: str) -> bool:
        return account_id in self.deleted

    def problem(self, account_id: str) -> str | None:
        return self.problems.get(account_id)

    # Source
    async def ack(self, replies: Sequence[str]) -> None:
        self.calls.append(("ack", list(replies)))

    async def nak(self, replies: Sequence[str], delay_s: float | None = None) -> None:
        self.calls.append(("nak", list(replies)))

    async def fail(self, replies: Sequence[str]) -> None:
        self.calls.append(("fail", list(replies)))

    async def term(self, reply: str, reason: str, account_id: str | None = None) -> None:
        self.calls.append(("term", (reply, reason)))

    def backlog(self, reply: str) -> int:
        return self.pending.get(reply, 0)

    def erase_on_ack(self, reply: str) -> None:
        self.calls.append(("erase_on_ack", reply))

    # Dispatcher
    def submit(self, job: Job) -> None:
        self.calls.append(("submit", job))

    def idle(self, account_id: str, kind: str) -> bool:
        return False  # these rules are about what reaches the dispatcher, not when

    def when_free(self, callback: Any) -> None:
        self.freed = callback

    # DeadLetters, RetryQueue, AttemptLog, DisabledHooks
    async def add(self, letter: DeadLetter) -> None:
        if self.fail_store:
            raise StoreUnavailable("full")
        self.letters.append(letter)
        self.calls.append(("dead_letter", letter.delivery.event_ids))

    async def remove(self, account_id: str, dead_letter_id: str) -> None:
        self.calls.append(("remove", dead_letter_id))

    async def schedule(self, delivery: Delivery, delay_s: float) -> None:
        self.calls.append(("schedule", delivery.batch_id))
        self.scheduled.append((delivery, delay_s))

    async def append(self, account_id: str, entry: Mapping[str, Any]) -> None:
        return None

    def is_disabled(self, account_id: str, kind: str, version: int) -> bool:
        return False

    async def disable(self, account_id: str, kind: str, version: int) -> None:
        return None

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def _intake(fakes: Fakes, **caps: Any) -> Intake:
    settler = Settler(
        retries=fakes,
        dead_letters=fakes,
        attempt_log=fakes,
        disabled=fakes,
        schedule=(5.0,),
        defer_seconds=1.0,
    )
    values: dict[str, Any] = {
        "linger_s": 0.01,
        "park_limit": 100,
        "park_per_account": 10,
        "park_max_seconds": 60.0,
    }
    values.update(caps)
    sources = {"status": fakes, "user_initiated": fakes}
    return Intake(fakes, fakes, settler, sources, **values)  # type: ignore[arg-type]


def _event(account_id: str, event_id: str = "evt_1") -> bytes:
    return orjson.dumps(
        {"id": event_id, "type": "parley.message.delivered", "data": {"account_id": account_id}}
    )


async def test_undecodable_and_invalid_events_are_terminated_not_acked() -> None:
    """Bytes that are not JSON, or JSON that fails validation, are terminated with the reason."""
    fakes = Fakes()
    intake = _intake(fakes)
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_1", b"\x00\xff", "r1")
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_1", b'{"id": 1}', "r2")
    assert fakes.calls == [
        ("term", ("r1", "not JSON")),
        ("term", ("r2", "id is not a non-empty string")),
    ]


async def test_events_of_an_unusable_account_are_dead_lettered_at_once() -> None:
    """An account whose secrets cannot be opened is not waited for: its event is stored as a
    dead letter (raw, never attempted, with the reason), then acknowledged."""
    fakes = Fakes()
    fakes.problems["acc_1"] = "account config unusable: its sealed secrets cannot be opened"
    intake = _intake(fakes)
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_1", _event("acc_1"), "r1")
    await intake.close()
    assert intake.waiting == 0
    assert fakes.calls == [("dead_letter", ["evt_1"]), ("ack", ["r1"])]
    [letter] = fakes.letters
    assert (letter.attempts, letter.delivery.raw, letter.delivery.kind) == (0, True, "status")
    assert letter.last_error == fakes.problems["acc_1"]
    assert letter.delivery.body == _event("acc_1")


async def test_an_account_past_its_cap_dead_letters_the_next_events() -> None:
    """With 2 allowed per account, the third event of an unknown account is dead-lettered while
    the first two keep waiting, unacknowledged."""
    fakes = Fakes()
    intake = _intake(fakes, park_per_account=2)
    for i in range(3):
        subject = STATUS_SUBJECT + "acc_1"
        await intake.on_event("status", fakes, subject, _event("acc_1", f"evt_{i}"), f"r{i}")
    await intake.close()
    assert intake.waiting == 2
    assert fakes.calls == [("dead_letter", ["evt_2"]), ("ack", ["r2"])]
    assert fakes.letters[0].last_error == "more than 2 events waiting for the account's config"


async def test_the_process_cap_gives_events_back_as_failed() -> None:
    """Past the process-wide cap an event is given back (delayed), not dead-lettered."""
    fakes = Fakes()
    intake = _intake(fakes, park_limit=1)
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_1", _event("acc_1"), "r1")
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_2", _event("acc_2"), "r2")
    assert fakes.calls == [("fail", ["r2"])]


async def test_events_waiting_too_long_are_dead_lettered_with_the_reason() -> None:
    """A sweep after park_max_seconds dead-letters the waiting events, then acknowledges them."""
    fakes = Fakes()
    intake = _intake(fakes, park_max_seconds=30.0)
    now = asyncio.get_running_loop().time()
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_1", _event("acc_1"), "r1")
    await intake.sweep(at=now + 29.0)
    await intake.close()
    assert fakes.calls == []
    await intake.sweep(at=now + 31.0)
    await intake.close()
    assert intake.waiting == 0
    assert fakes.calls == [("dead_letter", ["evt_1"]), ("ack", ["r1"])]
    assert fakes.letters[0].last_error == "account config not received within 30 s"


async def test_a_dead_letter_that_is_not_stored_leaves_the_event_unacknowledged() -> None:
    """When the dead-letter store refuses (full), the event is given back, never acked."""
    fakes = Fakes()
    fakes.fail_store = True
    fakes.problems["acc_1"] = "unusable"
    intake = _intake(fakes)
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_1", _event("acc_1"), "r1")
    await intake.close()
    assert fakes.calls == [("fail", ["r1"])]


def _hooks(account_id: str) -> AccountHooks:
    hook = Webhook(
        account_id,
        "status",
        2,
        "https://h.example/x",
        events=frozenset({"delivery_status"}),
        pairs={"team": "otp"},
    )
    return AccountHooks(account_id, 2, {"status": hook})


async def test_a_replayed_unsent_event_is_rendered_with_todays_config() -> None:
    """A raw dead letter replayed once its account is known goes out rendered (native, with
    the webhook's metadata) under the same webhook-id."""
    fakes = Fakes()
    fakes.entries["acc_1"] = _hooks("acc_1")
    intake = _intake(fakes)
    raw = Delivery(
        "evt_1", "acc_1", "status", ["evt_1"], _event("acc_1"), replay_of="dl_1", raw=True
    )
    await intake.on_retry(fakes, "parley.webhook.v1.retry_due.acc_1", raw, "r1")
    [(name, job)] = fakes.calls
    assert name == "submit"
    sent = job.delivery
    assert (sent.raw, sent.batch_id, sent.replay_of, job.replies) == (
        False,
        "evt_1",
        "dl_1",
        ["r1"],
    )
    assert orjson.loads(sent.body)["data"]["metadata"] == {"team": "otp"}
    assert sent.headers == {"x-parley-meta-team": "otp"}


async def test_a_replay_whose_account_is_still_unknown_replaces_its_dead_letter() -> None:
    """Replayed before the config arrived, the event becomes a new dead letter and the old one
    goes, then the replay is acknowledged."""
    fakes = Fakes()
    intake = _intake(fakes)
    raw = Delivery(
        "evt_1", "acc_1", "status", ["evt_1"], _event("acc_1"), replay_of="dl_1", raw=True
    )
    await intake.on_retry(fakes, "parley.webhook.v1.retry_due.acc_1", raw, "r1")
    assert fakes.names() == ["dead_letter", "remove", "ack"]
    assert fakes.letters[0].last_error == "account config not received"


async def test_unreadable_or_invalid_retry_records_are_terminated() -> None:
    """A retry record that did not decode, or one for another account's subject, is terminated."""
    fakes = Fakes()
    intake = _intake(fakes)
    good = Delivery("bat_1", "acc_1", "status", ["evt_1"], b"{}")
    await intake.on_retry(fakes, "parley.webhook.v1.retry_due.acc_1", None, "r1")
    await intake.on_retry(fakes, "parley.webhook.v1.retry_due.acc_2", good, "r2")
    assert fakes.calls == [
        ("term", ("r1", "not a delivery record")),
        ("term", ("r2", "account_id is not the account of the subject")),
    ]


async def test_a_waiting_retry_of_an_unusable_account_is_dead_lettered_not_dropped() -> None:
    """A batch due for attempt 3 whose account's newest config cannot be used is kept as a dead
    letter counting its 2 tries (with the reason), never dropped as if the webhook were gone."""
    from webhook_svc.dispatch import Dispatcher

    fakes = Fakes()
    fakes.problems["acc_1"] = "account config unusable: its sealed secrets cannot be opened"
    settler = Settler(
        retries=fakes,
        dead_letters=fakes,
        attempt_log=fakes,
        disabled=fakes,
        schedule=(5.0,),
        defer_seconds=1.0,
    )
    dispatcher = Dispatcher(fakes, fakes, fakes, settler, concurrency=1, max_pending=10)  # type: ignore[arg-type]
    batch = Delivery("bat_1", "acc_1", "status", ["evt_1"], b"[]", attempt=3)
    await dispatcher.attempt(Job(batch, fakes, ["r1"]))
    assert fakes.calls == [("dead_letter", ["evt_1"]), ("ack", ["r1"])]
    [letter] = fakes.letters
    assert (letter.attempts, letter.last_error) == (2, fakes.problems["acc_1"])


INBOUND_SUBJECT = "parley.msg.v1.inbound."


def _inbound(account_id: str, channel: str = "whatsapp") -> bytes:
    return orjson.dumps(
        {
            "id": "evt_in",
            "type": "parley.inbound.message",
            "time": "2026-11-26T10:00:00Z",
            "data": {
                "inbound_id": "inb_1",
                "account_id": account_id,
                "channel": channel,
                "from": "+15550100",
                "to": "+15550199",
                "text": "hello",
                "in_reply_to": None,
                "received_at": "2026-11-26T10:00:00Z",
                "metadata": None,
            },
        }
    )


def _inbound_hooks(account_id: str, payload_format: str, version: int = 2) -> AccountHooks:
    url = "https://h.example/in"
    hook = Webhook(account_id, "user_initiated", version, url, payload_format=payload_format)
    return AccountHooks(account_id, version, {"user_initiated": hook})


def _not_expressible(payload_format: str) -> float:
    return float(metrics.INBOUND_NOT_EXPRESSIBLE.labels(payload_format)._value.get())


async def test_an_inbound_event_its_format_cannot_express_is_dead_lettered_not_skipped() -> None:
    """An account stored with a MoEngage user_initiated webhook keeps every inbound message:
    stored as a raw dead letter saying what to change, counted, then acknowledged."""
    fakes = Fakes()
    fakes.entries["acc_1"] = _inbound_hooks("acc_1", "moengage")
    intake = _intake(fakes)
    before = _not_expressible("moengage")
    await intake.on_event(
        "user_initiated", fakes, INBOUND_SUBJECT + "acc_1", _inbound("acc_1"), "r1"
    )
    await intake.close()
    assert fakes.calls == [("dead_letter", ["evt_in"]), ("ack", ["r1"])]
    [letter] = fakes.letters
    assert (letter.attempts, letter.delivery.raw, letter.delivery.kind) == (
        0,
        True,
        "user_initiated",
    )
    assert "webhooks.user_initiated.payload_format" in letter.last_error
    assert letter.delivery.body == _inbound("acc_1")
    assert _not_expressible("moengage") == before + 1


async def test_a_status_event_its_format_cannot_express_is_still_skipped() -> None:
    """A status event CleverTap SMS has no shape for (sent) is acknowledged and counted as
    skipped, as CONTRACT 8 says; only inbound events are dead-lettered."""
    fakes = Fakes()
    hook = Webhook(
        "acc_1",
        "status",
        2,
        "https://h.example/x",
        payload_format="clevertap",
        events=frozenset({"sent"}),
    )
    fakes.entries["acc_1"] = AccountHooks("acc_1", 2, {"status": hook})
    intake = _intake(fakes)
    event = {
        "id": "evt_1",
        "type": "parley.message.sent",
        "time": "2026-11-26T10:00:00Z",
        "data": {"account_id": "acc_1", "channel": "sms", "client_ref": "o-1"},
    }
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_1", orjson.dumps(event), "r1")
    await intake.close()
    assert fakes.calls == [("ack", ["r1"])]
    assert fakes.letters == []


async def test_a_replayed_inbound_dead_letter_goes_out_once_the_format_is_fixed() -> None:
    """After the admin switched user_initiated to CleverTap, the replay is rendered in
    CleverTap's incoming message shape under the event's webhook-id."""
    fakes = Fakes()
    fakes.entries["acc_1"] = _inbound_hooks("acc_1", "clevertap", version=3)
    intake = _intake(fakes)
    raw = Delivery(
        "evt_in",
        "acc_1",
        "user_initiated",
        ["evt_in"],
        _inbound("acc_1"),
        replay_of="dl_1",
        raw=True,
    )
    await intake.on_retry(fakes, "parley.webhook.v1.retry_due.acc_1", raw, "r1")
    [(name, job)] = fakes.calls
    assert name == "submit"
    assert (job.delivery.raw, job.delivery.batch_id) == (False, "evt_in")
    body = orjson.loads(job.delivery.body)
    assert (body["from"], body["text"], body["type"]) == ("15550100", {"body": "hello"}, "text")


async def test_a_replayed_inbound_dead_letter_still_refused_is_dead_lettered_again() -> None:
    """Replayed while the format still cannot express it, the event becomes a new dead letter
    with the reason (the old one goes), never a silent acknowledgement."""
    fakes = Fakes()
    fakes.entries["acc_1"] = _inbound_hooks("acc_1", "webengage")
    intake = _intake(fakes)
    raw = Delivery(
        "evt_in",
        "acc_1",
        "user_initiated",
        ["evt_in"],
        _inbound("acc_1"),
        replay_of="dl_1",
        raw=True,
    )
    await intake.on_retry(fakes, "parley.webhook.v1.retry_due.acc_1", raw, "r1")
    assert fakes.names() == ["dead_letter", "remove", "ack"]
    assert "has no shape for inbound messages" in fakes.letters[0].last_error


def _lane_hooks(account_id: str, traffic_class: str, protection: str = "store") -> AccountHooks:
    hook = Webhook(
        account_id,
        "status",
        1,
        "https://h.example/x",
        events=frozenset({"delivery_status"}),
        protection=protection,
        traffic_class=traffic_class,
    )
    return AccountHooks(account_id, 1, {"status": hook}, protection, traffic_class)


async def test_a_promotional_batch_yields_to_a_backlog_and_otp_does_not() -> None:
    """With more than `backlog` messages behind it, a promotional batch goes unattempted to
    its retry lane, due at once (then acked); an OTP batch in the same spot is attempted."""
    fakes = Fakes()
    fakes.entries["acc_p"] = _lane_hooks("acc_p", "promotional")
    fakes.entries["acc_o"] = _lane_hooks("acc_o", "otp")
    fakes.pending = {"rp": 5000, "ro": 5000}
    intake = _intake(fakes, backlog=1000)
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_p", _event("acc_p", "e1"), "rp")
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_o", _event("acc_o", "e2"), "ro")
    await eventually(lambda: {"submit", "schedule", "ack"} <= set(fakes.names()))
    await intake.close()
    [(delivery, delay)] = fakes.scheduled
    assert (delivery.account_id, delivery.traffic_class, delay) == ("acc_p", "promotional", 0.0)
    [job] = [job for name, job in fakes.calls if name == "submit"]
    assert job.delivery.account_id == "acc_o"
    assert ("ack", ["rp"]) in fakes.calls


async def test_a_promotional_batch_without_a_backlog_is_attempted() -> None:
    """Below the backlog threshold a promotional batch is attempted like any other."""
    fakes = Fakes()
    fakes.entries["acc_p"] = _lane_hooks("acc_p", "promotional")
    fakes.pending = {"rp": 10}
    intake = _intake(fakes, backlog=1000)
    await intake.on_event("status", fakes, STATUS_SUBJECT + "acc_p", _event("acc_p"), "rp")
    await eventually(lambda: bool(fakes.names()))
    assert fakes.names() == ["submit"]


async def test_do_not_store_content_events_are_marked_for_erasure() -> None:
    """A do_not_store account's click is marked to leave its stream once acked; its delivered
    event (no text) and a store account's click are not."""
    fakes = Fakes()
    fakes.entries["acc_d"] = _lane_hooks("acc_d", "transactional", "do_not_store")
    fakes.entries["acc_s"] = _lane_hooks("acc_s", "transactional", "store")
    click = {"type": "parley.message.clicked"}
    for account, reply, extra in (
        ("acc_d", "r1", click),
        ("acc_d", "r2", {}),
        ("acc_s", "r3", click),
    ):
        event = orjson.loads(_event(account, reply)) | extra
        await intake_event(fakes, account, event, reply)
    assert [c for c in fakes.calls if c[0] == "erase_on_ack"] == [("erase_on_ack", "r1")]


async def intake_event(fakes: Fakes, account: str, event: dict[str, Any], reply: str) -> None:
    intake = _intake(fakes)
    await intake.on_event("status", fakes, STATUS_SUBJECT + account, orjson.dumps(event), reply)
    await intake.close()


class IdleEndpoint(Fakes):
    """Fakes whose dispatcher has nothing in flight for any endpoint."""

    def idle(self, account_id: str, kind: str) -> bool:
        return True


async def test_events_that_come_together_to_an_idle_endpoint_go_in_one_request() -> None:
    """An endpoint with nothing in flight gets its events without the linger, and those handed
    over in the same turn of the event loop (a message's `sent` and `delivered`, pulled in one
    read) travel in one request, not one each."""
    fakes = IdleEndpoint()
    hook = Webhook(
        "acc_1",
        "status",
        1,
        "https://h.example/x",
        events=frozenset({"delivery_status"}),
        batching=True,
        max_events=10,
    )
    fakes.entries["acc_1"] = AccountHooks("acc_1", 1, {"status": hook}, "store", "transactional")
    intake = _intake(fakes, linger_s=60.0)

    def submitted() -> list[list[str]]:
        return [job.delivery.event_ids for name, job in fakes.calls if name == "submit"]

    subject = STATUS_SUBJECT + "acc_1"
    await intake.on_event("status", fakes, subject, _event("acc_1", "e1"), "r1")
    await intake.on_event("status", fakes, subject, _event("acc_1", "e2"), "r2")
    assert submitted() == []  # the turn has not ended
    await eventually(lambda: submitted() == [["e1", "e2"]], 1.0, "one request of both")
    await intake.on_event("status", fakes, subject, _event("acc_1", "e3"), "r3")
    await eventually(lambda: len(submitted()) == 2, 1.0, "the next event, long before 60 s")
    assert submitted()[1] == ["e3"]
    await intake.close()
