"""aiohttp plumbing: a route table that both serves and documents itself, problem answers and
request metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import structlog
from aiohttp import web
from nats.errors import Error as NatsError
from nats.js.errors import InvalidKeyError
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from routing_svc.domain.requests import Problem
from routing_svc.errors import (
    MethodNotAllowed,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    PermanentError,
    RoutingError,
    TransientError,
)
from routing_svc.metrics import LATENCY, OVERLOADED, REQUESTS, inc, observe

log = structlog.get_logger("routing_svc.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One operation: how it is served and how it is documented."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    status: int = 200
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: bool = True
    errors: tuple[int, ...] = ()


def problem_response(error: RoutingError) -> web.Response:
    """An RFC 9457 answer for an error (never encrypted)."""
    return web.Response(
        status=error.status,
        body=orjson.dumps(error.problem()),
        content_type="application/problem+json",
        headers=error.headers or None,
    )


def json_response(data: Any, status: int = 200) -> web.Response:
    """A plain JSON answer."""
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def body_response(body: bytes, status: int = 200) -> web.Response:
    """A JSON answer already serialized (and sealed where the account encrypts)."""
    return web.Response(status=status, body=body, content_type="application/json")


def error_for(request: web.Request, exc: Exception) -> RoutingError:
    """The problem an exception is answered with."""
    if isinstance(exc, RoutingError):
        return exc
    if isinstance(exc, web.HTTPException):
        return _http_error(request, exc)
    if isinstance(exc, InvalidKeyError):
        # A path id that cannot even be a KV key names nothing we hold.
        return NotFound("no such resource")
    if isinstance(exc, OSError | TimeoutError | NatsError):
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return TransientError("a dependency is unavailable; retry later")
    log.error("unhandled_error", error=type(exc).__name__, exc_info=exc)
    return RoutingError("an unexpected error occurred")


def _http_error(request: web.Request, exc: web.HTTPException) -> RoutingError:
    """aiohttp's own errors (unknown path, method, a body too large) as problems."""
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(f"{request.method} is not allowed here")
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("no such resource")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("the request body is too large")
    error = PermanentError(exc.reason)
    error.status, error.type, error.title = exc.status, "http_error", exc.reason
    return error


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as problem JSON; never a bare 500 for bad input."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource else "unmatched"
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            inc(REQUESTS, request.method, route, str(exc.status))
            raise
        response = problem_response(error_for(request, exc))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a problem answer
        response = problem_response(error_for(request, exc))
    inc(REQUESTS, request.method, route, str(response.status))
    observe(LATENCY, time.perf_counter() - started, request.method, route)
    return response


UNCAPPED = frozenset({"/healthz", "/readyz", "/metrics"})


def in_flight_cap(limit: int) -> Any:
    """A middleware answering 503 `overloaded` (Retry-After 1) once `limit` requests are in
    hand, so a flood queues in nobody's memory; probes and metrics always pass."""
    held = 0

    @web.middleware
    async def cap(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal held
        if request.path in UNCAPPED:
            return await handler(request)
        if held >= limit:
            inc(OVERLOADED, "http_in_flight")
            return problem_response(Overloaded("too many requests in hand; retry shortly"))
        held += 1
        try:
            return await handler(request)
        finally:
            held -= 1

    return cap


def _parameters(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]


def openapi_document(routes: tuple[Route, ...], title: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document, generated from the models that validate requests."""
    models: set[type[BaseModel]] = {Problem}
    for route in routes:
        models.update(m for m in (route.request, route.response) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    modes: tuple[Literal["validation", "serialization"], ...] = ("validation", "serialization")
    keyed = [(m, mode) for mode in modes for m in ordered]
    refs, top = models_json_schema(keyed, ref_template="#/components/schemas/{model}")

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return refs[(model, mode)]  # type: ignore[index]

    problem = {"application/problem+json": {"schema": ref(Problem, "serialization")}}
    paths: dict[str, Any] = {}
    for route in routes:
        op: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "operationId": route.handler.__name__,
            "responses": {},
        }
        if params := _parameters(route.path):
            op["parameters"] = params
        if route.request is not None:
            schema = ref(route.request, "validation")
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
        ok: dict[str, Any] = {"description": "Success"}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": ref(route.response, "serialization")}}
        op["responses"][str(route.status)] = ok
        for code in route.errors:
            op["responses"][str(code)] = {"description": "Problem", "content": problem}
        if route.auth:
            op["security"] = [{"bearer": []}, {"apiKey": []}]
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
