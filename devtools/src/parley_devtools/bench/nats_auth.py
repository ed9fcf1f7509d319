"""What NATS authentication costs (docs/nats-security.md): operator mode against config mode.

Operator mode, as Parley runs it (account-svc as a child process answering the auth callout):
- connect latency of an integrator through the callout, and of a service with a creds file;
- time from `POST /v1/accounts` to the first successful integrator connect (the outbox, the
  ACCOUNTS stream, account-svc's provisioner pushing the account JWT);
- time from `POST /api-keys` until the old key's open connection is closed.

Config mode, the alternative (every integrator account declared in the config file):
- time from appending one account to a config of K accounts to the first connect of its user,
  i.e. a `SIGHUP` reload, for K in `CONFIG_SIZES`.

Every loop is bounded in count and time; everything runs on loopback and is stopped at the end.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import nats

from parley_devtools.embedded import NatsServer
from parley_devtools.platform import Options, Platform

CONNECTS = 200
ACCOUNTS = 20
ROTATIONS = 10
CONFIG_SIZES = (100, 1000, 5000)
DEADLINE_S = 20.0


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


async def _quiet(_: Exception) -> None:
    """A refused attempt is expected while the account's NATS side is being made."""


async def _until_connected(url: str, **options: Any) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return await nats.connect(url, allow_reconnect=False, error_cb=_quiet, **options)
        except nats.errors.Error:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.005)


def _setter(event: asyncio.Event) -> Any:
    async def closed() -> None:
        event.set()

    return closed


async def _connect_ms(url: str, count: int, **options: Any) -> list[float]:
    out = []
    for _ in range(count):
        began = time.perf_counter()
        nc = await nats.connect(url, allow_reconnect=False, **options)
        out.append((time.perf_counter() - began) * 1000)
        await nc.close()
    return out


async def operator_mode() -> dict[str, float]:
    """Callout connects, creation -> first connect, rotation -> old connection closed."""
    p = Platform(Options(services=("account-svc",)))
    try:
        await p.started()
        return await _operator_mode(p)
    finally:
        await asyncio.to_thread(p.stop)


async def _operator_mode(p: Platform) -> dict[str, float]:
    assert p.auth is not None
    url = p.nats_url
    creds = await _connect_ms(url, CONNECTS, user_credentials=str(p.auth.creds("admin")))
    created, cut, callout = [], [], []
    admin = p.admin
    tenant = await admin.tenant("Bench")
    for n in range(ACCOUNTS):
        began = time.perf_counter()
        acc, key = await admin.create_account(traffic_type="otp", tenant=tenant)
        nc = await _until_connected(url, user=acc, password=key)
        created.append((time.perf_counter() - began) * 1000)
        if n == 0:
            await nc.close()
            callout = await _connect_ms(url, CONNECTS, user=acc, password=key)
            nc = await _until_connected(url, user=acc, password=key)
        if n < ROTATIONS:
            began = time.perf_counter()
            await admin.made(f"/v1/accounts/{acc}/api-keys", None)
            closed = asyncio.Event()
            nc._closed_cb = _setter(closed)
            if nc.is_connected:
                await asyncio.wait_for(closed.wait(), DEADLINE_S)
            cut.append((time.perf_counter() - began) * 1000)
        await nc.close()
    return {
        "nats_creds_connect_p50_ms": round(percentile(creds, 50), 2),
        "nats_callout_connect_p50_ms": round(percentile(callout, 50), 2),
        "nats_callout_connect_p99_ms": round(percentile(callout, 99), 2),
        "nats_account_to_first_connect_p50_ms": round(percentile(created, 50), 1),
        "nats_account_to_first_connect_max_ms": round(max(created), 1),
        "nats_rotation_to_cut_p50_ms": round(percentile(cut, 50), 1),
        "nats_rotation_to_cut_max_ms": round(max(cut), 1),
    }


def _config(accounts: int) -> str:
    lines = [
        "accounts {",
        "  PARLEY { jetstream: enabled, users: [{user: svc, password: svc}],",
        '    exports: [{stream: "parley.msg.v1.status.*"}, {stream: "parley.msg.v1.inbound.*"},',
        '      {service: "parley.api.v1.messages.send.*"}] }',
    ]
    for n in range(accounts):
        acc = f"acc_{n:06d}"
        lines.append(
            f"  T{n} {{ users: [{{user: {acc}, password: key{n}}}], imports: ["
            f'{{stream: {{account: PARLEY, subject: "parley.msg.v1.status.{acc}"}}}},'
            f'{{stream: {{account: PARLEY, subject: "parley.msg.v1.inbound.{acc}"}}}},'
            f'{{service: {{account: PARLEY, subject: "parley.api.v1.messages.send.{acc}"}},'
            ' to: "parley.api.v1.messages.send"}] }'
        )
    return "\n".join([*lines, "}", ""])


async def config_mode(accounts: int, folder: Path) -> float:
    """ms from appending one account to a config of `accounts` (and SIGHUP) to its connect."""
    conf = folder / f"config-{accounts}.conf"
    conf.write_text(_config(accounts))
    server = NatsServer(store_dir=folder / f"store-{accounts}", extra_args=["-c", str(conf)])
    server.start()
    try:
        conf.write_text(_config(accounts + 1))
        assert server.proc is not None
        began = time.perf_counter()
        server.proc.send_signal(signal.SIGHUP)
        nc = await _until_connected(
            server.url, user=f"acc_{accounts:06d}", password=f"key{accounts}"
        )
        elapsed = (time.perf_counter() - began) * 1000
        await nc.close()
        return elapsed
    finally:
        server.stop(remove_store=True)


async def run() -> dict[str, float]:
    """Both modes' figures."""
    import tempfile

    results = await operator_mode()
    with tempfile.TemporaryDirectory(prefix="parley-bench-config-") as tmp:
        for size in CONFIG_SIZES:
            ms = await config_mode(size, Path(tmp))
            results[f"nats_config_mode_reload_to_connect_{size}_accounts_ms"] = round(ms, 1)
    return results
