"""Every failure as a problem answer in the service's own error types, and request metrics.

The service names its errors once (`ErrorKinds`); `problem_middleware` answers an error raised
on purpose as it is, aiohttp's own (no route, wrong method, body too large) and a dependency's
outage as the service's matching problem, and anything else as a 500 that is logged with its
traceback. Never a bare 500 for bad input, never an HTML error page.

The same middleware counts and times each request by method, route template and status: one
wrapper per request rather than two, as routing-svc's send path is measured per microsecond.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from parley_shared.problems import ProblemError
from prometheus_client import Counter, Histogram

from parley_runtime.http.answers import problem_response

log = structlog.get_logger("parley_runtime.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNCAPPED = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass(frozen=True)
class ErrorKinds:
    """A service's error classes the plumbing answers with, and what counts as an outage."""

    base: type[ProblemError]
    """Errors raised on purpose are of this class and answered as they are; also the 500."""
    permanent: type[ProblemError]
    """aiohttp's other 4xx answers, typed `http_error`."""
    not_found: type[ProblemError]
    method_not_allowed: type[ProblemError]
    transient: type[ProblemError]
    unavailable: tuple[type[BaseException], ...]
    """A dependency's failures (connection refused, driver errors): 503, logged as a warning."""
    too_large: type[ProblemError] | None = None
    """The answer to a body over the size limit; None: aiohttp's 413 as `http_error`."""
    translate: Callable[[Exception], ProblemError | None] | None = None
    """The service's own mapping of other exceptions, tried before `unavailable`."""


def error_for(request: web.Request, exc: Exception, kinds: ErrorKinds) -> ProblemError:
    """The problem an exception is answered with."""
    if isinstance(exc, kinds.base):
        return exc
    if isinstance(exc, web.HTTPException):
        return _http_error(request, exc, kinds)
    if kinds.translate is not None and (found := kinds.translate(exc)) is not None:
        return found
    if isinstance(exc, kinds.unavailable):
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return kinds.transient("a dependency is unavailable; retry later")
    log.error("unhandled_error", error=type(exc).__name__, exc_info=exc)
    return kinds.base("an unexpected error occurred")


def _http_error(request: web.Request, exc: web.HTTPException, kinds: ErrorKinds) -> ProblemError:
    """aiohttp's own errors (unknown path, method, a body too large) as problems."""
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return kinds.method_not_allowed(f"{request.method} is not allowed here")
    if isinstance(exc, web.HTTPNotFound):
        return kinds.not_found("no such resource")
    if kinds.too_large is not None and isinstance(exc, web.HTTPRequestEntityTooLarge):
        return kinds.too_large("the request body is too large")
    error = kinds.permanent(exc.reason)
    error.status, error.type, error.title = exc.status, "http_error", exc.reason
    return error


class _Children:
    """A metric's labelled children, each looked up once (`labels()` costs on a hot path)."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


def problem_middleware(kinds: ErrorKinds, requests: Counter, latency: Histogram) -> Middleware:
    """The outermost middleware: problems for every failure, `requests` counted by method,
    route template and status, `latency` observed by method and route template."""
    counted, timed = _Children(requests), _Children(latency)

    @web.middleware
    async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every error as problem JSON; never a bare 500 for bad input."""
        resource = request.match_info.route.resource
        route = resource.canonical if resource else "unmatched"
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                counted(request.method, route, str(exc.status)).inc()
                raise
            response = problem_response(error_for(request, exc, kinds))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a problem answer
            response = problem_response(error_for(request, exc, kinds))
        counted(request.method, route, str(response.status)).inc()
        timed(request.method, route).observe(time.perf_counter() - started)
        return response

    return problems


def in_flight_cap(
    limit: int,
    refusal: Callable[[], ProblemError],
    on_refused: Callable[[], None] | None = None,
) -> Middleware:
    """A middleware answering `refusal()` (503 `overloaded`, Retry-After) once `limit`
    requests are in hand, so a flood queues in nobody's memory; probes and metrics always
    pass. `on_refused` runs for each refusal (a metric)."""
    held = 0

    @web.middleware
    async def cap(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal held
        if request.path in UNCAPPED:
            return await handler(request)
        if held >= limit:
            if on_refused is not None:
                on_refused()
            return problem_response(refusal())
        held += 1
        try:
            return await handler(request)
        finally:
            held -= 1

    return cap
