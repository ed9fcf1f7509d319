"""The fault-tolerance scenarios, each bounded in count and time and counting by id.

- `kills`: steady load while each service in turn is SIGKILLed and restarted;
- `cluster_node`: the same on a 3-node NATS cluster (R3) while one node is SIGKILLed and
  restarted;
- `postgres_restart`: PATCHes in a loop while PostgreSQL is stopped and started; every
  answered version must reach ACCOUNTS and the outbox must drain;
- `receiver_outage`: the webhook receiver down, then up; every event delivered, or
  dead-lettered and replayed through account-svc;
- `restarts`: steady load while each service in turn is stopped with SIGTERM (a deploy) and
  started again; each must exit by itself, and nothing may be given up on (the poison streams
  stay empty);
- `smsc_drops`: SMS over SMPP to the SMSC simulator, which drops every connection twice under
  load; every accepted message must still reach a final status (nothing failed by the drops).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import nats
import orjson
from parley_shared import subjects

from parley_devtools.admin import status_webhook
from parley_devtools.chaos.options import smpp_options
from parley_devtools.chaos.tally import Row, row_for, settle
from parley_devtools.load import BODY, run_client
from parley_devtools.platform import Options, Platform
from parley_devtools.receiver import Receiver
from parley_devtools.smsc import Smsc
from parley_devtools.waiting import eventually

Fault = tuple[str, Callable[[], Awaitable[str]]]
IN_DOUBT = frozenset(
    {"ConnectionResetError", "IncompleteReadError", "BrokenPipeError", "TimeoutError"}
)
"""Load client errors after which the send may have been accepted (the answer was lost)."""


OBSERVER = "chaos"  # the NATS user chaos observes config events and STATUS as


@asynccontextmanager
async def running(options: Options) -> AsyncIterator[tuple[Platform, Receiver]]:
    """A started platform and a listening webhook receiver, both stopped on exit."""
    p = Platform(options)
    receiver = await Receiver().start()
    try:
        await p.started()
        yield p, receiver
    finally:
        await receiver.stop()
        await asyncio.to_thread(p.stop)


@asynccontextmanager
async def running_over_smpp() -> AsyncIterator[tuple[Platform, Receiver, Smsc]]:
    """`running`, with SMS over SMPP to an SMSC simulator in this process (which drops
    connections on request and waits up to 2 minutes for a receipt to be taken)."""
    smsc = Smsc(record=False, deliver_patience_s=120)
    await smsc.start()
    try:
        async with running(smpp_options(smsc)) as (p, receiver):
            yield p, receiver, smsc
    finally:
        await smsc.close()


async def first_send(base: str, key: str, wait_s: float = 60.0) -> str:
    """Send one message, retrying until routing-svc's view knows the key; its id."""
    async with aiohttp.ClientSession() as session:

        async def accepted() -> str:
            headers = {"Authorization": f"Bearer {key}"}
            async with session.post(base + "/v1/messages", json=BODY, headers=headers) as resp:
                body = await resp.json(content_type=None)
                return str(body["message_id"]) if resp.status == 202 else ""

        return await eventually(accepted, wait_s, "routing-svc to accept the key", 0.2)


async def webhook_account(p: Platform, receiver: Receiver) -> tuple[str, str]:
    """An SMS account whose status webhook (delivery_status and sent, batched by 50, 3
    retries) goes to the receiver: (account id, API key)."""
    return await p.admin.create_account(status_webhook(receiver.url()))


async def settle_account(
    p: Platform, account_id: str, accepted: set[str], receiver: Receiver, **kw: Any
) -> Any:
    """`tally.settle` on this platform's STATUS, as the chaos observer."""
    options = p.observer_options(OBSERVER)
    return await settle(p.nats_urls, account_id, accepted, receiver, options=options, **kw)


async def under_load(
    p: Platform,
    receiver: Receiver,
    name: str,
    *,
    messages: int,
    rate: float,
    faults: list[Fault],
    settle_s: float,
) -> Row:
    """`messages` at `rate`/s with `faults` spread evenly over the run; the summary row."""
    account_id, key = await webhook_account(p, receiver)
    probe = await first_send(p.routing, key)
    load = asyncio.create_task(run_client(p.routing, key, messages, rate=rate))
    duration = messages / rate
    started = time.monotonic()
    notes: list[str] = []
    for i, (label, fault) in enumerate(faults):
        await asyncio.sleep(
            max(0.0, started + duration * (i + 1) / (len(faults) + 1) - time.monotonic())
        )
        notes.append(f"{label}: {await fault()}")
    result = await load
    notes.append(f"load client errors (not accepted): {result.errors or 'none'}")
    accepted = result.ids | {probe}
    view = await settle_account(p, account_id, accepted, receiver, budget_s=settle_s)
    row = row_for(name, accepted, view, receiver, notes)
    row.unanswered = sum(n for e, n in result.errors.items() if e in IN_DOUBT)
    return row


def kill_fault(p: Platform, service: str) -> Fault:
    """SIGKILL `service`, restart it, report how long it was out."""

    async def fault() -> str:
        took = await asyncio.to_thread(p.kill_and_restart, service)
        return f"SIGKILLed, ready again after {took:.1f} s"

    return f"kill {service}", fault


async def kills(p: Platform, receiver: Receiver, messages: int, rate: float) -> Row:
    """Scenario a: each service in turn SIGKILLed and restarted under steady load."""
    faults = [kill_fault(p, s) for s in p.services]
    return await under_load(
        p,
        receiver,
        "a. kill each service",
        messages=messages,
        rate=rate,
        faults=faults,
        settle_s=90,
    )


POISON_STREAMS = (subjects.STREAM_ROUTING_POISON, subjects.STREAM_WEBHOOK_POISON)


async def poisoned(p: Platform) -> dict[str, int]:
    """How many messages each poison stream holds (given up on after `max_deliver`)."""
    nc = await nats.connect(p.nats_urls, connect_timeout=5, **p.observer_options(OBSERVER))
    try:
        js = nc.jetstream()
        return {s: int((await js.stream_info(s)).state.messages) for s in POISON_STREAMS}
    finally:
        await nc.close()


def restart_fault(p: Platform, service: str, codes: list[int | None]) -> Fault:
    """SIGTERM `service` as a deploy does, start it again; its exit code goes to `codes`."""

    async def fault() -> str:
        code, took = await asyncio.to_thread(p.restart, service)
        codes.append(code)
        return f"SIGTERMed, exited with code {code}, ready again after {took:.1f} s"

    return f"restart {service}", fault


async def restarts(
    p: Platform, receiver: Receiver, messages: int, rate: float, smsc: Smsc | None = None
) -> Row:
    """Scenario g: each service in turn stopped with SIGTERM and started again under steady
    load. Beyond loss, its own check: every service exited by itself (code 0, not killed after
    its grace) and no message was given up on (both poison streams empty); over SMPP (`smsc`),
    also that no message was submitted twice (a graceful stop leaves no send in doubt)."""
    codes: list[int | None] = []
    before, submitted = await poisoned(p), smsc.submitted if smsc else 0
    row = await under_load(
        p,
        receiver,
        "g. restart each service" + (" (SMPP)" if smsc else ""),
        messages=messages,
        rate=rate,
        faults=[restart_fault(p, s, codes) for s in p.services],
        settle_s=90,
    )
    given_up = {s: n - before[s] for s, n in (await poisoned(p)).items()}
    row.notes.append(f"given up on (poison streams): {given_up}")
    row.failed_checks = any(code != 0 for code in codes) or any(given_up.values())
    if smsc is not None:
        submits = smsc.submitted - submitted
        row.notes.append(
            f"SMSC submits {submits} for {row.accepted} accepted "
            f"(+ {row.unanswered} sends whose answer was lost)"
        )
        row.failed_checks |= submits > row.accepted + row.unanswered
    return row


async def cluster_node(
    p: Platform, receiver: Receiver, messages: int, rate: float, node: int = 2
) -> Row:
    """Scenario b: one node of the 3-node cluster SIGKILLed mid-run, restarted later."""
    killed_at = [0.0]

    async def kill() -> str:
        p.nodes[node].kill()
        killed_at[0] = time.monotonic()
        return f"node n{node + 1} SIGKILLed"

    async def restart() -> str:
        p.nodes[node].start()
        return f"node n{node + 1} restarted after {time.monotonic() - killed_at[0]:.1f} s down"

    async def nothing() -> str:
        return "-"

    faults: list[Fault] = [("kill", kill), ("wait", nothing), ("restart", restart)]
    name = "b. NATS node loss (R3)"
    return await under_load(
        p, receiver, name, messages=messages, rate=rate, faults=faults, settle_s=120
    )


async def postgres_restart(p: Platform, seconds: float = 10.0, down_s: float = 2.0) -> Row:
    """Scenario c: a loop of PATCHes while PostgreSQL is stopped and started again."""
    assert p.pg is not None, "scenario c restarts the embedded PostgreSQL"
    pg = p.pg
    account_id, _key = await p.admin.create_account()
    versions: list[int] = []
    seen: dict[int, int] = {}
    errors: dict[str, int] = {}
    nc = await nats.connect(p.nats_urls, **p.observer_options(OBSERVER))

    async def on_event(msg: Any) -> None:
        version = int(orjson.loads(msg.data)["data"]["version"])
        seen[version] = seen.get(version, 0) + 1

    await nc.subscribe(subjects.account_config(account_id), cb=on_event)

    async def patches() -> None:
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            i += 1
            try:
                status, body = await p.admin.call(
                    "PATCH", f"/v1/accounts/{account_id}", {"label": f"chaos {i}"}
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                status, body = 0, type(exc).__name__
            if status == 200:
                versions.append(int(body["version"]))
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1
                await asyncio.sleep(0.1)

    loop = asyncio.create_task(patches())
    await asyncio.sleep(seconds / 3)
    began = time.monotonic()
    await asyncio.to_thread(pg.stop, False)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(pg.start)
    restart = time.monotonic() - began
    await loop
    deadline = time.monotonic() + 60
    pending = -1
    while time.monotonic() < deadline:
        pending = await _outbox_pending(p)
        if pending == 0 and all(v in seen for v in versions):
            break
        await asyncio.sleep(0.5)
    await nc.close()
    missing = [v for v in versions if v not in seen]
    notes = [
        f"PostgreSQL stopped and started ({restart:.1f} s); PATCHes not answered 200: {errors}",
        f"outbox rows never published: {pending}",
    ]
    if missing:
        notes.append(f"versions answered 200 but never on ACCOUNTS: {missing[:20]}")
    return Row(
        scenario="c. PostgreSQL restart",
        accepted=len(versions),
        final=sum(1 for v in versions if v in seen),
        delivered=sum(1 for v in versions if v in seen),
        duplicates=sum(c - 1 for c in seen.values() if c > 1),
        lost=len(missing) + max(0, pending),
        notes=notes,
    )


async def _outbox_pending(p: Platform) -> int:
    """Outbox rows not yet published (-1 when PostgreSQL does not answer)."""
    try:
        conn = await asyncpg.connect(p.database_url, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return -1
    try:
        value = await conn.fetchval(
            "SELECT count(*) FROM account_svc.outbox WHERE published_at IS NULL"
        )
        return int(value)
    finally:
        await conn.close()


async def receiver_outage(
    p: Platform, receiver: Receiver, messages: int, rate: float, outage_s: float
) -> Row:
    """Scenario d: the receiver down for `outage_s` while messages flow, then up; dead letters
    replayed through account-svc until every subscribed event arrived."""
    account_id, key = await webhook_account(p, receiver)
    probe = await first_send(p.routing, key)
    view = await settle_account(p, account_id, {probe}, receiver, budget_s=30)
    await receiver.stop()
    began = time.monotonic()
    result = await run_client(p.routing, key, messages, rate=rate)
    await asyncio.sleep(max(0.0, began + outage_s - time.monotonic()))
    await receiver.start()
    accepted = result.ids | {probe}
    notes = [f"receiver down {time.monotonic() - began:.1f} s; load errors: {result.errors}"]
    # let the scheduled retries run out (the last attempt is due ~outage x 1.2 after the first)
    view = await settle_account(
        p, account_id, accepted, receiver, budget_s=outage_s * 0.5 + 15, view=view
    )
    replayed: set[str] = set()
    deadline = time.monotonic() + max(60.0, outage_s)
    while time.monotonic() < deadline:
        status, body = await p.admin.call("GET", f"/v1/accounts/{account_id}/dead-letters")
        items = body.get("items", []) if status == 200 and isinstance(body, dict) else []
        for item in items:
            if item["id"] not in replayed:
                status, answer = await p.admin.call(
                    "POST", f"/v1/accounts/{account_id}/dead-letters/{item['id']}/replay"
                )
                if status == 202:
                    replayed.add(item["id"])
                else:
                    notes.append(f"replay {item['id']}: {status} {answer}")
        view = await settle_account(p, account_id, accepted, receiver, budget_s=0, view=view)
        if not items and receiver.received(view.subscribed) == len(view.subscribed):
            break
        await asyncio.sleep(1.0)
    notes.append(f"dead letters replayed through account-svc: {len(replayed)}")
    return row_for("d. webhook receiver outage", accepted, view, receiver, notes)


async def smsc_drops(
    p: Platform, receiver: Receiver, smsc: Smsc, messages: int, rate: float
) -> Row:
    """Scenario e: the SMSC drops every SMPP connection twice while messages flow."""

    def drop() -> Fault:
        async def fault() -> str:
            return f"{smsc.drop_connections()} connection(s) dropped"

        return "SMSC drops every connection", fault

    return await under_load(
        p,
        receiver,
        "e. SMSC drops connections (SMPP)",
        messages=messages,
        rate=rate,
        faults=[drop(), drop()],
        settle_s=90,
    )


async def _probe(session: aiohttp.ClientSession, base: str, key: str) -> tuple[int, float]:
    """One send; (status, seconds to its answer)."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with session.post(base + "/v1/messages", json=BODY, headers=headers) as resp:
            await resp.read()
            return resp.status, time.perf_counter() - started
    except (aiohttp.ClientError, TimeoutError):
        return 0, time.perf_counter() - started


async def overload(
    p: Platform,
    receiver: Receiver,
    *,
    rate: float,
    seconds: float,
    connections: int = 512,
    recover_within_s: float = 10.0,
) -> Row:
    """Scenario f: a flood at `rate` msg/s (meant to be ~3x what the platform sustains) for
    `seconds`: every answer is 202, 429 or 503 (never another 5xx, never unanswered), every
    accepted message reaches a final status, and the API's latency is back near its baseline
    within `recover_within_s` of the flood's end."""
    account_id, key = await webhook_account(p, receiver)
    probe = await first_send(p.routing, key)
    accepted: set[str] = {probe}
    notes: list[str] = []
    async with aiohttp.ClientSession() as session:
        baseline = sorted([(await _probe(session, p.routing, key))[1] for _ in range(40)])
        calm = max(baseline[int(len(baseline) * 0.9)] * 3, 0.05)
        flood = asyncio.create_task(
            run_client(
                p.routing,
                key,
                int(rate * seconds),
                rate=rate,
                connections=connections,
                budget_s=seconds * 3,
            )
        )
        load = await flood
        ended = time.monotonic()
        recovered_after: float | None = None
        streak = 0
        while time.monotonic() - ended < recover_within_s * 3:
            status, took = await _probe(session, p.routing, key)
            streak = streak + 1 if status == 202 and took <= calm else 0
            if streak >= 5:
                recovered_after = time.monotonic() - ended
                break
            await asyncio.sleep(0.1)
    accepted |= load.ids
    unexpected = {k: v for k, v in load.errors.items() if k not in ("429", "503")}
    answered = [done for _, _, done in load.accepted]
    span = max(answered) - min(answered) if len(answered) > 1 else 0.0
    notes.append(
        f"offered {int(rate * seconds)} at {rate:.0f}/s: accepted {len(load.ids)}"
        + (f" at {len(answered) / span:.0f}/s" if span else "")
    )
    notes.append(f"refused: {dict(load.errors) or 'none'}")
    notes.append(
        f"API latency back under {calm * 1000:.0f} ms "
        + (f"{recovered_after:.1f} s after the flood" if recovered_after is not None else "never")
    )
    if unexpected:
        notes.append(f"UNEXPECTED answers: {unexpected}")
    view = await settle_account(p, account_id, accepted, receiver, budget_s=180)
    row = row_for("f. overload (3x)", accepted, view, receiver, notes)
    row.failed_checks = (
        bool(unexpected) or recovered_after is None or (recovered_after > recover_within_s)
    )
    return row
