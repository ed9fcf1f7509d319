"""The shared NATS connection: several servers, reconnect forever, quiet once closing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from parley_devtools.embedded import NatsServer, free_port
from parley_runtime.nats import connect


async def test_connects_to_the_live_server_of_a_comma_separated_list(nats_url: str) -> None:
    """A NATS_URL listing a dead server first still connects, to the live one."""
    dead = f"nats://127.0.0.1:{free_port()}"
    nc = await connect(f"{dead}, {nats_url}", "test", allow_reconnect=True)
    try:
        assert nc.is_connected
        assert nc.connected_url.netloc == nats_url.removeprefix("nats://")
    finally:
        await nc.close()


async def test_reconnects_after_a_server_restart_and_runs_the_callback(tmp_path: Path) -> None:
    """A restarted server is dialled again and `on_reconnect` runs once it is back."""
    port = free_port()
    server = NatsServer(store_dir=tmp_path / "a", port=port).start()
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    nc = await connect(server.url, "test", on_reconnect=on_reconnect)
    try:
        server.stop()
        server = NatsServer(store_dir=tmp_path / "b", port=port).start()
        async with asyncio.timeout(30):
            await reconnected.wait()
        assert nc.is_connected
    finally:
        await nc.close()
        server.stop(remove_store=True)
