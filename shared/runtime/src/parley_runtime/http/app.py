"""The aiohttp application of a service, with its probes, and how it is run.

`/healthz` answers 200 while the process runs (liveness); `/readyz` answers 200 only when the
service's `ready()` says so, naming each check (readiness); `/metrics` is Prometheus text.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from parley_runtime import metrics_http, tracing
from parley_runtime.http.answers import json_response
from parley_runtime.http.openapi import Operation
from parley_runtime.http.problems import Handler

Ready = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
READY = web.AppKey("ready", object)


async def healthz(_: web.Request) -> web.Response:
    """Liveness: the process runs."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 once every check of the service passes, 503 until then; each named."""
    check: Ready = request.app[READY]  # type: ignore[assignment]
    ready, detail = await check()
    return json_response(
        {"status": "ready" if ready else "not_ready", **detail}, 200 if ready else 503
    )


def _document(body: Any) -> Handler:
    async def document(_: web.Request) -> web.Response:
        return json_response(body)

    return document


def build_app(
    operations: Sequence[Operation],
    ready: Ready,
    *,
    middlewares: Sequence[Middleware],
    client_max_size: int,
    documents: Mapping[str, Any] | None = None,
) -> web.Application:
    """The application serving `operations`, each JSON document at its path (built once:
    `/openapi.json`, `/asyncapi.json`) and the probes; the service adds any other route."""
    app = web.Application(middlewares=list(middlewares), client_max_size=client_max_size)
    app[READY] = ready
    for operation in operations:
        app.router.add_route(operation.method, operation.path, operation.handler)
    for path, body in (documents or {}).items():
        app.router.add_get(path, _document(body))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get(metrics_http.PATH, metrics_http.metrics)
    return app


async def freeze_startup_heap(_: web.Application) -> None:
    """Once the service has started: collect, then move every object alive now (modules,
    classes, settings, connections: 50,000-100,000 in each service) out of the reach of the
    cyclic garbage collector for good (`gc.freeze`). Each full collection scanned them all
    again, with the event loop standing still: 55 ms each on the 2-core development machine,
    more under load (`docs/performance.md`). Garbage made later is collected as before."""
    gc.collect()
    gc.freeze()


def serve(app: web.Application, host: str, port: int, *, reuse_port: bool = False) -> None:
    """Run `app` until SIGINT or SIGTERM: on uvloop when installed, without an access log
    (requests are counted in `/metrics`, and a URL may carry a phone number) or a banner;
    then flush the spans still queued (the service configured `tracing` before building `app`).
    Its heap as started is frozen (`freeze_startup_heap`, after the service's own start-up)."""
    app.on_startup.append(freeze_startup_heap)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            access_log=None,
            reuse_port=reuse_port or None,
            print=None,
            handle_signals=True,
        )
    finally:
        tracing.shutdown()  # the spans still queued go out
