"""HTTP of webhook-svc: `/healthz`, `/readyz` and `/metrics` (it has no other HTTP API)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Readiness = Callable[[], tuple[bool, dict[str, bool]]]


def build_app(ready: Readiness) -> web.Application:
    """The health and metrics endpoints; `ready()` says whether to answer /readyz with 200."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok, checks = ready()
        body = orjson.dumps({"status": "ready" if ok else "not_ready", "checks": checks})
        return web.Response(status=200 if ok else 503, body=body, content_type="application/json")

    async def metrics(_: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
