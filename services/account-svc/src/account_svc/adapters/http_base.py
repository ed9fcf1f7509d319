"""aiohttp plumbing: a route table that both serves and documents itself, problem answers,
JSON bodies parsed with orjson and validated with pydantic, and request metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import orjson
import structlog
from aiohttp import web
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ValidationError

from account_svc.errors import (
    AccountSvcError,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PermanentError,
    TransientError,
    ValidationFailed,
)
from account_svc.models import pydantic_errors

log = structlog.get_logger("account_svc.http")

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUESTS = Counter(
    "parley_account_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
LATENCY = Histogram(
    "parley_account_http_request_seconds", "HTTP request duration", ["method", "route"]
)
JSON_TYPES = frozenset({"application/json", "application/merge-patch+json", ""})
NUL = "\x00"
NUL_MESSAGE = "must not contain the NUL character (U+0000)"
MAX_JSON_DEPTH = 32  # nested arrays/objects in a body; the deepest account config needs 5
TOO_DEEP: list[str | int] = ["<too deep>"]  # json_fault's answer for a body nested too deep


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
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    content_types: tuple[str, ...] = ("application/json",)


def problem_response(error: AccountSvcError) -> web.Response:
    """An RFC 9457 answer for an error."""
    return web.Response(
        status=error.status,
        body=orjson.dumps(error.problem()),
        content_type="application/problem+json",
        headers=error.headers,
    )


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer."""
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


async def read_json(request: web.Request) -> Any:
    """The body as JSON, or MalformedRequest (CONTRACT 8 lists no media-type problem).

    Nesting is bounded: orjson refuses more than 1,024 levels while parsing, and anything
    deeper than `MAX_JSON_DEPTH` is refused before the value goes anywhere recursive.
    """
    ctype = request.content_type if request.headers.get("Content-Type") else ""
    if ctype not in JSON_TYPES:
        raise MalformedRequest(
            f"content type {ctype!r} is not JSON; send application/json"
            " (or application/merge-patch+json for PATCH)"
        )
    raw = await request.read()
    if not raw.strip():
        raise MalformedRequest("the request body is empty; a JSON object is expected")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"the body is not valid JSON: {exc}") from exc
    fault = json_fault(data)
    if fault is TOO_DEEP:
        raise MalformedRequest(
            f"the body's JSON depth exceeds the limit of {MAX_JSON_DEPTH} nested levels"
        )
    if fault is not None:
        raise ValidationFailed.at(fault, NUL_MESSAGE)
    return data


def json_fault(value: Any, max_depth: int = MAX_JSON_DEPTH) -> list[str | int] | None:
    """`TOO_DEEP` when arrays and objects nest deeper than `max_depth`; else where the first
    string (or object key) holding U+0000 is; else None.

    PostgreSQL text cannot store U+0000, so such a value is refused up front with the field
    named, rather than failing deep in a query. The walk uses its own stack, never Python's
    recursion, and values are visited in document order (so the first NUL is named).
    """
    stack: list[tuple[Any, list[str | int], int]] = [(value, [], 0)]
    while stack:
        item, loc, depth = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return loc
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            return TOO_DEEP
        children: list[tuple[Any, list[str | int], int]] = []
        if isinstance(item, dict):
            for key, child in item.items():
                if NUL in key:  # named after the values before it, like a NUL in a value
                    children.append((NUL, [*loc, key], depth + 1))
                    break
                children.append((child, [*loc, key], depth + 1))
        else:
            children = [(child, [*loc, index], depth + 1) for index, child in enumerate(item)]
        stack.extend(reversed(children))
    return None


def refuse_nul_parameters(request: web.Request) -> None:
    """A NUL in a query parameter is a 422 naming it; in a path segment nothing can match."""
    for name, value in request.query.items():
        if NUL in name or NUL in value:
            raise ValidationFailed.at([name], NUL_MESSAGE)
    if any(NUL in value for value in request.match_info.values()):
        raise NotFound("no such resource")


async def read_model(request: web.Request, model: type[M]) -> M:
    """The body validated by a model; a 422 naming each field at fault."""
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("the request is invalid", pydantic_errors(exc.errors())) from exc


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within bounds, or a 422 naming it."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationFailed.at([name], "must be an integer") from exc
    if not low <= value <= high:
        raise ValidationFailed.at([name], f"must be between {low} and {high}")
    return value


UNSTORABLE_TEXT = (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)
UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def error_for(request: web.Request, exc: Exception) -> AccountSvcError:
    """The problem an exception is answered with."""
    if isinstance(exc, AccountSvcError):
        return exc
    if isinstance(exc, web.HTTPException):
        return http_error(request, exc)
    if isinstance(exc, UNSTORABLE_TEXT):
        # A safety net behind json_fault: text PostgreSQL cannot store is bad input, not a fault.
        return ValidationFailed("a value holds a character that cannot be stored")
    if isinstance(exc, UNAVAILABLE):
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return TransientError("a dependency is unavailable; retry later")
    log.error("unhandled_error", error=type(exc).__name__, exc_info=exc)
    return AccountSvcError("an unexpected error occurred")


def http_error(request: web.Request, exc: web.HTTPException) -> AccountSvcError:
    """The problem for one of aiohttp's own HTTP errors (no route, wrong method, ...)."""
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(f"{request.method} is not allowed here")
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("no such resource")
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
        refuse_nul_parameters(request)
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            REQUESTS.labels(request.method, route, str(exc.status)).inc()
            raise
        response = problem_response(error_for(request, exc))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a problem answer
        response = problem_response(error_for(request, exc))
    REQUESTS.labels(request.method, route, str(response.status)).inc()
    LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    return response
