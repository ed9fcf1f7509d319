"""WEBHOOK_METRICS_PORT: webhook-svc's metrics leave its HTTP port for a port of their own."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer
from parley_devtools.embedded import free_port
from webhook_svc.bootstrap import create_app
from webhook_testkit import make_settings


async def test_metrics_are_served_only_on_the_metrics_port(
    nats_url: str, master_key_b64: str
) -> None:
    """With WEBHOOK_METRICS_PORT set, the HTTP port answers /readyz but /metrics 404, and
    the metrics port answers webhook-svc's Prometheus metrics."""
    port = free_port()
    settings = make_settings(nats_url, master_key_b64, metrics_port=port)
    server = TestServer(create_app(settings, ("api",)), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.make_url("/metrics")) as resp:
                assert resp.status == 404
            async with session.get(server.make_url("/readyz")) as resp:
                assert resp.status == 200
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                assert "parley_webhook_" in await resp.text()
    finally:
        await server.close()
