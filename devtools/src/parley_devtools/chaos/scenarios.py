"""The fault-tolerance scenarios, each bounded in count and time and counting by id.

- `kills`: steady load while each service in turn is SIGKILLed and restarted;
- `cluster_node`: the same on a 3-node NATS cluster (R3) while one node is SIGKILLed and
  restarted;
- `postgres_restart`: PATCHes in a loop while PostgreSQL is stopped and started; every
  answered version must reach ACCOUNTS and the outbox must drain;
- `receiver_outage`: the webhook receiver down, then up; every event delivered, or
  dead-lettered and replayed through account-svc;
- `smsc_drops`: SMS over SMPP to the SMSC simulator, which drops every connection twice under
  load; every accepted message must still reach a final status (nothing failed by the drops).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import nats
import orjson
from parley_shared import subjects

from parley_devtools.chaos.load import BODY, run_client
from parley_devtools.chaos.platform import SERVICES, Platform
from parley_devtools.chaos.receiver import Receiver
from parley_devtools.chaos.tally import Row, row_for, settle
from parley_devtools.smsc import Smsc

Fault = tuple[str, Callable[[], Awaitable[str]]]


async def first_send(base: str, key: str, wait_s: float = 60.0) -> str:
    """Send one message, retrying until routing-svc's view knows the key; its id."""
    deadline = time.monotonic() + wait_s
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.post(
                base + "/v1/messages", json=BODY, headers={"Authorization": f"Bearer {key}"}
            ) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 202:
                    return str(body["message_id"])
            if time.monotonic() > deadline:
                raise RuntimeError(f"routing-svc never accepted the key: {resp.status} {body}")
            await asyncio.sleep(0.2)


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
    account_id, key = await p.create_account(receiver.url)
    probe = await first_send(p.routing_base, key)
    load = asyncio.create_task(run_client(p.routing_base, key, messages, rate=rate))
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
    view = await settle(
        p.nats_urls, account_id, accepted, receiver, budget_s=settle_s, options=p.nats_options
    )
    return row_for(name, accepted, view, receiver, notes)


def kill_fault(p: Platform, service: str) -> Fault:
    """SIGKILL `service`, restart it, report how long it was out."""

    async def fault() -> str:
        took = await p.kill_and_restart(service)
        return f"SIGKILLed, ready again after {took:.1f} s"

    return f"kill {service}", fault


async def kills(p: Platform, receiver: Receiver, messages: int, rate: float) -> Row:
    """Scenario a: each service in turn SIGKILLed and restarted under steady load."""
    faults = [kill_fault(p, s) for s in SERVICES]
    return await under_load(
        p,
        receiver,
        "a. kill each service",
        messages=messages,
        rate=rate,
        faults=faults,
        settle_s=90,
    )


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
    account_id, _key = await p.create_account(None)
    versions: list[int] = []
    seen: dict[int, int] = {}
    errors: dict[str, int] = {}
    nc = await nats.connect(p.nats_urls, **p.nats_options)

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
                status, body = await p.call(
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
    await asyncio.to_thread(p.pg.stop, False)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(p.pg.start)
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
        conn = await asyncpg.connect(p.pg.url, timeout=5)
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
    account_id, key = await p.create_account(receiver.url)
    probe = await first_send(p.routing_base, key)
    view = await settle(
        p.nats_urls, account_id, {probe}, receiver, budget_s=30, options=p.nats_options
    )
    await receiver.stop()
    began = time.monotonic()
    result = await run_client(p.routing_base, key, messages, rate=rate)
    await asyncio.sleep(max(0.0, began + outage_s - time.monotonic()))
    await receiver.start()
    accepted = result.ids | {probe}
    notes = [f"receiver down {time.monotonic() - began:.1f} s; load errors: {result.errors}"]
    # let the scheduled retries run out (the last attempt is due ~outage x 1.2 after the first)
    view = await settle(
        p.nats_urls,
        account_id,
        accepted,
        receiver,
        budget_s=outage_s * 0.5 + 15,
        view=view,
        options=p.nats_options,
    )
    replayed: set[str] = set()
    deadline = time.monotonic() + max(60.0, outage_s)
    while time.monotonic() < deadline:
        status, body = await p.call("GET", f"/v1/accounts/{account_id}/dead-letters")
        items = body.get("items", []) if status == 200 and isinstance(body, dict) else []
        for item in items:
            if item["id"] not in replayed:
                status, answer = await p.call(
                    "POST", f"/v1/accounts/{account_id}/dead-letters/{item['id']}/replay"
                )
                if status == 202:
                    replayed.add(item["id"])
                else:
                    notes.append(f"replay {item['id']}: {status} {answer}")
        view = await settle(
            p.nats_urls,
            account_id,
            accepted,
            receiver,
            budget_s=0,
            view=view,
            options=p.nats_options,
        )
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
