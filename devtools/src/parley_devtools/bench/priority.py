"""OTP latency while promotional traffic floods routing-svc (issue 15: `traffic_type`).

One `routing-svc serve` process on an embedded nats-server, one SMS route of 1,000 msg/s (the
sandbox, delivering at once), a promotional account and an OTP account. A load client floods
the promotional account over HTTP as fast as routing-svc accepts (64 connections); one second
in, a second client sends OTP messages at 100 msg/s for 10 s. The flood is far beyond the
route's capacity, so promotional messages queue for the route for the whole OTP run. Figures:

- `otp_p99_ms_under_promo_flood` (target <= 50 ms): p99 of an OTP message's submit (the HTTP
  request's start) to its `delivered` event stored on STATUS;
- `otp_p50_ms_under_promo_flood`, `otp_lost_under_promo_flood` (OTP not delivered within the
  budget);
- `promo_flood_submit_per_s`: the flood's accepted rate, which shows it was a flood.

Bounded in count and time; loopback only. `python -m parley_devtools.bench.priority`.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
import orjson
from nats.js.api import ConsumerConfig, DeliverPolicy
from parley_shared import subjects
from parley_shared.events import (
    ACCOUNT_CONFIG_UPDATED,
    AccountConfigData,
    AccountSecrets,
    CloudEvent,
    dumps,
    new_event_id,
    source_for,
)
from parley_shared.ids import new_id
from parley_shared.sealing import MasterKey, generate_api_key, generate_master_key
from parley_shared.timefmt import now_ts

from parley_devtools.bench.routing_throughput import Load, StatusLog, _client, _serve, percentile
from parley_devtools.embedded import NatsServer, free_port, stop_process, wait_ready

ROUTE_CAPACITY = 1_000
FLOOD = 25_000
FLOOD_IN_FLIGHT = 64
OTP_RATE = 100
OTP_SECONDS = 10
OTP_START_S = 1.0
BUDGET_S = 60.0


def _account(master: MasterKey, api_key: str, traffic_type: str) -> tuple[str, bytes, str]:
    """(subject, payload, event id) of an SMS account's config event."""
    account_id = new_id("acc")
    enterprise_id = new_id("ent")
    off: dict[str, Any] = {"enabled": False, "channel": None, "dr_ttl_seconds": None, "events": []}
    account = {
        "id": account_id,
        "label": f"bench {traffic_type}",
        "enterprise_id": enterprise_id,
        "business_group_id": new_id("bg"),
        "communication_type": "outgoing",
        "traffic_type": traffic_type,
        "channels": ["sms"],
        "security": {
            "ip_restriction": {"mode": "all"},
            "data_protection": "store",
            "payload_encryption": {"enabled": False},
        },
        "consent": {"lookup_opt_in": False, "lookup_opt_out": False},
        "channel_settings": {"sms": {"sender_ids": {"mode": "all"}, "fallback": off}},
        "webhooks": {"status": None, "user_initiated": None},
        "version": 1,
        "status": "active",
        "created_at": now_ts(),
        "updated_at": now_ts(),
    }
    data = AccountConfigData(
        account_id=account_id,
        version=1,
        status="active",
        enterprise_id=enterprise_id,
        account=account,
        secrets=AccountSecrets(api_key_hash=master.hash_api_key(api_key)),
    )
    event_id = new_event_id()
    event = CloudEvent[AccountConfigData](
        id=event_id, type=ACCOUNT_CONFIG_UPDATED, source=source_for(account_id), data=data
    )
    return subjects.account_config(account_id), dumps(event), event_id


async def _delivered(js: Any, after: int, wanted: set[str], budget_s: float) -> dict[str, float]:
    """message id -> when its `delivered` event was stored, for the `wanted` ids, reading STATUS
    from sequence `after` + 1 until all are found or the budget ends."""
    found: dict[str, float] = {}
    done = asyncio.Event()

    async def on_event(msg: Any) -> None:
        if b'"status":"delivered"' not in msg.data:
            return
        message_id = orjson.loads(msg.data)["data"]["message_id"]
        if message_id in wanted:
            found.setdefault(message_id, msg.metadata.timestamp.timestamp())
            if len(found) == len(wanted):
                done.set()

    sub = await js.subscribe(
        subjects.STATUS_ALL,
        ordered_consumer=True,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
        ),
        cb=on_event,
    )
    try:
        if wanted:
            await asyncio.wait_for(done.wait(), budget_s)
    except TimeoutError:
        pass
    await sub.unsubscribe()
    return found


async def measure(server: NatsServer, base: str, promo_key: str, otp_key: str) -> dict[str, float]:
    """The flood and the OTP run at once; OTP latencies read back from STATUS afterwards."""
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    log = StatusLog(js)
    await _client(Load("http", base, otp_key, 200, 16))  # warm up both paths
    await _client(Load("http", base, promo_key, 200, 16))
    after = await log.last_seq()
    started = time.monotonic()
    flood = asyncio.create_task(_client(Load("http", base, promo_key, FLOOD, FLOOD_IN_FLIGHT)))
    await asyncio.sleep(OTP_START_S)
    otp = await _client(Load("http", base, otp_key, OTP_RATE * OTP_SECONDS, 16, OTP_RATE))
    flooded = await flood
    flood_s = time.monotonic() - started
    found = await _delivered(js, after, {m for m, _, _ in otp}, BUDGET_S)
    await nc.close()
    latencies = [(found[m] - at) * 1000 for m, at, _ in otp if m in found]
    accepts = [(answered - at) * 1000 for _, at, answered in otp]
    routed = [(found[m] - answered) * 1000 for m, _, answered in otp if m in found]
    first = min((at for _, at, _ in flooded), default=0.0)
    last = max((answered for _, _, answered in flooded), default=first + flood_s)
    return {
        "otp_p99_ms_under_promo_flood": round(percentile(latencies, 99), 2)
        if latencies
        else float("nan"),
        "otp_p50_ms_under_promo_flood": round(percentile(latencies, 50), 2)
        if latencies
        else float("nan"),
        "otp_lost_under_promo_flood": float(len(otp) - len(latencies)),
        "otp_accept_p99_ms_under_promo_flood": round(percentile(accepts, 99), 2)
        if accepts
        else float("nan"),
        "otp_routed_p99_ms_under_promo_flood": round(percentile(routed, 99), 2)
        if routed
        else float("nan"),
        "promo_flood_submit_per_s": round(len(flooded) / max(last - first, 1e-9), 1),
    }


async def run() -> dict[str, float]:
    """Start NATS and routing-svc, publish both accounts, measure, stop everything."""
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-priority-"))
    server = NatsServer(store_dir=tmp / "nats").start()
    routes = tmp / "routes.json"
    routes.write_text(
        json.dumps(
            {"routes": [{"name": "sms-1", "channel": "sms", "capacity_per_s": ROUTE_CAPACITY}]}
        )
    )
    master_key = generate_master_key()
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": server.url,
        "PARLEY_MASTER_KEY": master_key,
        "ROUTING_HTTP_HOST": "127.0.0.1",
        "ROUTING_HTTP_PORT": str(port),
        "ROUTING_ROUTES_FILE": str(routes),
        "ROUTING_LOG_LEVEL": "WARNING",
    }
    proc = _serve(env, tmp / "routing.log")
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, proc, 60)
        master = MasterKey.from_b64(master_key)
        keys = {"promotional": generate_api_key(), "otp": generate_api_key()}
        nc = await nats.connect(server.url)
        for traffic_type, key in keys.items():
            subject, payload, event_id = _account(master, key, traffic_type)
            await nc.jetstream().publish(
                subject, payload, headers={subjects.HEADER_MSG_ID: event_id}
            )
        await nc.close()
        await asyncio.sleep(0.5)
        return await measure(server, base, keys["promotional"], keys["otp"])
    finally:
        stop_process(proc)
        server.stop(remove_store=True)


def main() -> None:
    """Print the figures."""
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
