"""`/metrics` on a port of its own: gone from the main listener (404, as the app answers any
unknown path), served alone on the metrics port; unchanged when no port is set."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from parley_devtools.embedded import free_port
from parley_runtime import metrics_http
from prometheus_client import Counter

SEEN = Counter("parley_test_metrics_apart", "a counter this test looks for")


@web.middleware
async def problems(request: web.Request, handler: metrics_http.Handler) -> web.StreamResponse:
    """A stand-in for the services' problem middleware: every HTTP error as problem JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return web.json_response({"type": "not_found", "status": exc.status}, status=exc.status)


def app_with_metrics() -> web.Application:
    """An app serving /healthz and /metrics on its one listener, as every service does."""
    app = web.Application(middlewares=[problems])

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_http.metrics)
    return app


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.content_type, await resp.text()


async def test_a_metrics_port_moves_metrics_off_the_main_listener() -> None:
    """With a metrics port, the main port answers /metrics 404 (problem JSON) and keeps
    /healthz; the metrics port answers Prometheus text; it closes with the app."""
    SEEN.inc()
    port = free_port()
    app = app_with_metrics()
    metrics_http.serve_apart(app, "127.0.0.1", port, "test-svc")
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        status, kind, body = await _get(str(server.make_url("/metrics")))
        assert status == 404
        assert kind == "application/json"
        assert (await _get(str(server.make_url("/healthz"))))[0] == 200
        status, kind, body = await _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert kind == "text/plain"
        assert "parley_test_metrics_apart_total 1.0" in body
        assert (await _get(f"http://127.0.0.1:{port}/healthz"))[0] == 404
    finally:
        await server.close()
    try:
        await _get(f"http://127.0.0.1:{port}/metrics")
    except aiohttp.ClientConnectionError:
        pass
    else:
        raise AssertionError("the metrics listener outlived its app")


async def test_without_a_metrics_port_metrics_stay_on_the_main_listener() -> None:
    """No metrics port (the default): /metrics answers on the app's own port as before."""
    app = app_with_metrics()
    metrics_http.serve_apart(app, "127.0.0.1", None, "test-svc")
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        status, _, body = await _get(str(server.make_url("/metrics")))
    finally:
        await server.close()
    assert status == 200
    assert "parley_test_metrics_apart" in body
