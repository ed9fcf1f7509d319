"""`/metrics` on a port of its own (`<SERVICE>_METRICS_PORT`), off the public listener.

By default every service answers `GET /metrics` (Prometheus text) on its HTTP port beside its
API, as CONTRACT's conventions say. A deployment that exposes that port to integrators or
browsers does not want its counters there: with a metrics port set, `/metrics` answers 404 on
the main listener and is served alone on `<host>:<metrics port>`, which only Prometheus (a
Service port or pod annotation inside the cluster) is given. `/healthz` and `/readyz` stay on
the main port, where the orchestrator's probes look.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = structlog.get_logger("parley_runtime.metrics_http")

PATH = "/metrics"


async def metrics(_: web.Request) -> web.Response:
    """The process's Prometheus metrics (the default registry)."""
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


@web.middleware
async def _not_here(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`/metrics` is not served on the main listener (404 as the app answers any unknown path:
    raised inside the app's own middlewares, so a problem-JSON app answers problem JSON)."""
    if request.path == PATH:
        raise web.HTTPNotFound
    return await handler(request)


def serve_apart(app: web.Application, host: str, port: int | None, service: str) -> None:
    """With `port`, move `/metrics` off `app`'s listener onto `host:port` (opened first on
    startup, closed on cleanup); without, leave `app` as it is."""
    if port is None:
        return
    app.middlewares.append(_not_here)
    held: list[web.AppRunner] = []

    async def open_listener(_: web.Application) -> None:
        alone = web.Application()
        alone.router.add_get(PATH, metrics)
        runner = web.AppRunner(alone, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        held.append(runner)
        log.info("metrics_listening", service=service, port=port)

    async def close_listener(_: web.Application) -> None:
        while held:
            await held.pop().cleanup()

    app.on_startup.insert(0, open_listener)
    app.on_cleanup.append(close_listener)
