"""account-svc's side of the HTTP plumbing (the rest is `parley_runtime.http`): its error
kinds and request metrics, JSON bodies parsed with orjson and validated with pydantic, and the
refusal of text PostgreSQL cannot store (U+0000) before it reaches a query."""

from __future__ import annotations

from typing import Any, TypeVar

import asyncpg
import orjson
from aiohttp import web
from parley_runtime.http import ErrorKinds, Handler, problem_middleware
from parley_shared.problems import ProblemError
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ValidationError

from account_svc.domain.requests import pydantic_errors
from account_svc.errors import (
    AccountSvcError,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PermanentError,
    TransientError,
    ValidationFailed,
)

M = TypeVar("M", bound=BaseModel)

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


def _translate(exc: Exception) -> ProblemError | None:
    if isinstance(exc, UNSTORABLE_TEXT):
        # A safety net behind json_fault: text PostgreSQL cannot store is bad input, not a fault.
        return ValidationFailed("a value holds a character that cannot be stored")
    return None


ERRORS = ErrorKinds(
    base=AccountSvcError,
    permanent=PermanentError,
    not_found=NotFound,
    method_not_allowed=MethodNotAllowed,
    transient=TransientError,
    unavailable=(
        OSError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
    ),
    translate=_translate,
)


@web.middleware
async def nul_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a NUL in a query parameter or path segment before any handler runs."""
    refuse_nul_parameters(request)
    return await handler(request)


MIDDLEWARES = [problem_middleware(ERRORS, REQUESTS, LATENCY), nul_guard]
"""Problems and metrics outermost, so a refused NUL is answered and counted like any error."""
