"""Counting by id: status events read back from the STATUS stream, the summary row of a scenario."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import nats
import orjson
from nats.js.api import ConsumerConfig, DeliverPolicy
from parley_shared import subjects

from parley_devtools.receiver import Receiver

# the status webhook subscribes delivery_status (delivered + failed) and sent
SUBSCRIBED = {"parley.message.sent", "parley.message.delivered", "parley.message.failed"}


@dataclass
class Row:
    """One line of the summary table."""

    scenario: str
    accepted: int = 0
    final: int = 0
    delivered: int = 0
    duplicates: int = 0
    lost: int = 0
    notes: list[str] = field(default_factory=list)
    failed_checks: bool = False  # a scenario's own check (beyond loss) did not hold
    unanswered: int = 0  # sends whose answer was lost: accepted or not, nobody knows

    @property
    def duplicate_pct(self) -> float:
        """Duplicates as a percentage of delivered."""
        return 100.0 * self.duplicates / self.delivered if self.delivered else 0.0


@dataclass
class StatusView:
    """Every status event of one account on STATUS, by id."""

    copies: Counter[str] = field(default_factory=Counter)
    finals: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    subscribed: set[str] = field(default_factory=set)
    next_seq: int = 1


async def read_status(
    urls: list[str], account_id: str, view: StatusView, options: dict[str, Any] | None = None
) -> StatusView:
    """Read the account's events stored since `view.next_seq` into `view` (`options`: the
    observer's credentials for `nats.connect`)."""
    nc = await nats.connect(urls, connect_timeout=5, max_reconnect_attempts=2, **(options or {}))
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.STREAM_STATUS)
        last = int(info.state.last_seq)
        if last < view.next_seq:
            return view
        done = asyncio.Event()

        async def on_event(msg: Any) -> None:
            seq = msg.metadata.sequence.stream
            event = orjson.loads(msg.data)
            data = event.get("data") or {}
            view.copies[event["id"]] += 1
            if data.get("final"):
                view.finals[data["message_id"]].add(event["id"])
            if event.get("type") in SUBSCRIBED:
                view.subscribed.add(event["id"])
            view.next_seq = max(view.next_seq, seq + 1)
            if seq >= last:
                done.set()

        sub = await js.subscribe(
            subjects.status(account_id),
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=view.next_seq
            ),
            cb=on_event,
        )
        # the filter may match nothing up to `last`: stop when nothing new comes for a moment
        with contextlib.suppress(TimeoutError):
            while not done.is_set():
                before = view.next_seq
                try:
                    await asyncio.wait_for(done.wait(), 2.0)
                except TimeoutError:
                    if view.next_seq == before:
                        raise
        await sub.unsubscribe()
        view.next_seq = max(view.next_seq, last + 1)
        return view
    finally:
        await nc.close()


async def settle(
    urls: list[str],
    account_id: str,
    accepted: set[str],
    receiver: Receiver,
    *,
    budget_s: float,
    view: StatusView | None = None,
    options: dict[str, Any] | None = None,
) -> StatusView:
    """Read STATUS until every accepted message has a final event and the receiver holds every
    subscribed event (or the budget runs out)."""
    view = view or StatusView()
    deadline = time.monotonic() + budget_s
    while True:
        with contextlib.suppress(Exception):
            await read_status(urls, account_id, view, options)
        finals_ok = all(view.finals.get(m) for m in accepted)
        if finals_ok and receiver.received(view.subscribed) == len(view.subscribed):
            return view
        if time.monotonic() > deadline:
            return view
        await asyncio.sleep(1.0)


def row_for(
    scenario: str, accepted: set[str], view: StatusView, receiver: Receiver, notes: list[str]
) -> Row:
    """The summary row: finals per accepted message, webhook events received, duplicates."""
    mine = set(accepted)
    with_final = sum(1 for m in mine if view.finals.get(m))
    conflicting = sum(1 for m in mine if len(view.finals.get(m, ())) > 1)
    delivered = receiver.received(view.subscribed)
    status_dups = sum(c - 1 for c in view.copies.values() if c > 1)
    row = Row(
        scenario=scenario,
        accepted=len(mine),
        final=with_final,
        delivered=delivered,
        duplicates=receiver.duplicates(view.subscribed) + status_dups,
        lost=(len(mine) - with_final) + (len(view.subscribed) - delivered) + conflicting,
        notes=notes,
    )
    row.notes.append(f"webhook events expected {len(view.subscribed)}")
    if missing := sorted(m for m in mine if not view.finals.get(m)):
        row.notes.append(f"without a final event: {', '.join(missing[:5])}")
    if conflicting:
        row.notes.append(f"{conflicting} messages with more than one distinct final event")
    return row


def table(rows: list[Row]) -> str:
    """The summary table."""
    head = f"{'scenario':<34} {'accepted':>9} {'final':>9} {'delivered':>10} {'duplicates':>11}"
    lines = [head + f" {'lost':>6}", "-" * (len(head) + 7)]
    for r in rows:
        lines.append(
            f"{r.scenario:<34} {r.accepted:>9} {r.final:>9} {r.delivered:>10} "
            f"{r.duplicates:>6} ({r.duplicate_pct:4.2f}%) {r.lost:>6}"
        )
    for r in rows:
        lines.extend(f"  {r.scenario}: {note}" for note in r.notes)
    return "\n".join(lines)
