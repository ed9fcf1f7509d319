"""The shared HTTP plumbing: problems in the service's own types, metrics by route template,
the in-flight cap, probes and the OpenAPI document built from the operation table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from parley_runtime.http import (
    ErrorKinds,
    Operation,
    build_app,
    in_flight_cap,
    json_response,
    openapi_document,
    problem_middleware,
)
from parley_shared.problems import ProblemError
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel


class ToyError(ProblemError):
    """The toy service's base error."""


def _kind(name: str, parent: type[ToyError], status: int, code: str) -> type[ToyError]:
    """A toy error class answering `status` with type `code`."""
    return type(name, (parent,), {"status": status, "type": code, "title": code})


Permanent = _kind("Permanent", ToyError, 400, "bad_request")
Missing = _kind("Missing", Permanent, 404, "not_found")
WrongMethod = _kind("WrongMethod", Permanent, 405, "method_not_allowed")
TooLarge = _kind("TooLarge", Permanent, 413, "payload_too_large")
Busy = _kind("Busy", ToyError, 503, "service_unavailable")
Overloaded = _kind("Overloaded", Busy, 503, "overloaded")
Refused = _kind("Refused", Permanent, 422, "refused")


class Weird(Exception):
    """An exception the toy service maps itself."""


KINDS = ErrorKinds(
    base=ToyError,
    permanent=Permanent,
    not_found=Missing,
    method_not_allowed=WrongMethod,
    transient=Busy,
    unavailable=(ConnectionError,),
    too_large=TooLarge,
    translate=lambda exc: Refused("weird input") if isinstance(exc, Weird) else None,
)


class Thing(BaseModel):
    """A toy body."""

    name: str


class Problem(BaseModel):
    """The toy problem model."""

    type: str
    status: int


async def get_thing(request: web.Request) -> web.Response:
    """Answer a thing, or fail as the `fail` query parameter says."""
    failure = request.query.get("fail")
    if failure == "refused":
        error = Refused("no")
        error.headers["Retry-After"] = "3"
        raise error
    if failure == "down":
        raise ConnectionRefusedError("db")
    if failure == "weird":
        raise Weird
    if failure == "bug":
        raise RuntimeError("a bug")
    return json_response({"name": request.match_info["id"]})


async def put_thing(request: web.Request) -> web.Response:
    """Store a thing: its body is read (and so held to the size limit)."""
    return json_response({"name": (await request.read()).decode()}, 201)


OPERATIONS = (
    Operation(
        "GET", "/things/{id}", get_thing, "A thing", "things", 200, None, Thing, errors=(404,)
    ),
    Operation(
        "PUT",
        "/things/{id}",
        put_thing,
        "Store a thing",
        "things",
        201,
        Thing,
        Thing,
        auth=False,
        query={"limit": {"type": "integer"}},
        content_types=("application/json", "application/merge-patch+json"),
        name="store_thing",
    ),
)


@pytest.fixture
def metrics() -> tuple[Counter, Histogram, CollectorRegistry]:
    """A request counter and a latency histogram in a registry of their own."""
    registry = CollectorRegistry()
    counter = Counter(
        "toy_requests_total", "requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram("toy_request_seconds", "latency", ["method", "route"], registry=registry)
    return counter, latency, registry


async def _server(app: web.Application) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def toy(metrics: tuple[Counter, Histogram, CollectorRegistry]) -> AsyncIterator[str]:
    """The toy service on a loopback port, ready once `READY` holds True."""
    counter, latency, _ = metrics

    async def ready() -> tuple[bool, dict[str, Any]]:
        return True, {"database": True}

    app = build_app(
        OPERATIONS,
        ready,
        middlewares=[problem_middleware(KINDS, counter, latency)],
        client_max_size=64,
        documents={"/openapi.json": {"openapi": "3.1.0"}},
    )
    async for base in _server(app):
        yield base


async def _get(base: str, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(kwargs.pop("method", "GET"), base + path, **kwargs) as resp,
    ):
        body = await resp.json(content_type=None) if resp.content_type.endswith("json") else None
        return resp.status, body, dict(resp.headers)


async def test_errors_become_problems_of_the_service(toy: str) -> None:
    """Its own errors keep their status and headers; aiohttp's 404, 405 and 413, a mapped
    exception, an outage and a bug each become the service's problem type."""
    status, body, headers = await _get(toy, "/things/a?fail=refused")
    assert (status, body["type"], headers["Retry-After"]) == (422, "refused", "3")
    assert headers["Content-Type"] == "application/problem+json"
    assert (await _get(toy, "/nowhere"))[1]["type"] == "not_found"
    assert (await _get(toy, "/things/a", method="DELETE"))[1]["type"] == "method_not_allowed"
    too_big = await _get(toy, "/things/a", method="PUT", data=b"x" * 1000)
    assert (too_big[0], too_big[1]["type"]) == (413, "payload_too_large")
    assert (await _get(toy, "/things/a?fail=weird"))[1]["type"] == "refused"
    assert (await _get(toy, "/things/a?fail=down"))[0:2] == (
        503,
        {
            "type": "service_unavailable",
            "title": "service_unavailable",
            "status": 503,
            "detail": "a dependency is unavailable; retry later",
        },
    )
    with structlog.testing.capture_logs() as logs:
        status, body, _ = await _get(toy, "/things/a?fail=bug")
    assert (status, body["type"]) == (500, "internal_error")
    assert [e["event"] for e in logs] == ["unhandled_error"]


async def test_a_body_too_large_without_its_own_kind_is_an_http_error(
    metrics: tuple[Counter, Histogram, CollectorRegistry],
) -> None:
    """A service that names no `too_large` answers aiohttp's 413 as type `http_error`."""
    counter, latency, _ = metrics
    kinds = ErrorKinds(ToyError, Permanent, Missing, WrongMethod, Busy, (ConnectionError,))
    app = web.Application(
        middlewares=[problem_middleware(kinds, counter, latency)], client_max_size=8
    )
    app.router.add_put("/things/{id}", put_thing)
    async for base in _server(app):
        status, body, _ = await _get(base, "/things/a", method="PUT", data=b"x" * 100)
        assert (status, body["type"]) == (413, "http_error")


async def test_requests_are_counted_by_route_template(
    toy: str, metrics: tuple[Counter, Histogram, CollectorRegistry]
) -> None:
    """Two paths of one route are one series; an unknown path is `unmatched`."""
    _, _, registry = metrics
    await _get(toy, "/things/a")
    await _get(toy, "/things/b?fail=refused")
    await _get(toy, "/nowhere")

    def count(route: str, status: str) -> float | None:
        labels = {"method": "GET", "route": route, "status": status}
        return registry.get_sample_value("toy_requests_total", labels)

    assert count("/things/{id}", "200") == 1
    assert count("/things/{id}", "422") == 1
    assert count("unmatched", "404") == 1
    timed = {"method": "GET", "route": "/things/{id}"}
    assert registry.get_sample_value("toy_request_seconds_count", timed) == 2


async def test_probes_and_documents_are_served(toy: str) -> None:
    """/healthz, /readyz with its checks, /metrics as Prometheus text and the documents."""
    assert (await _get(toy, "/healthz"))[0:2] == (200, {"status": "ok"})
    assert (await _get(toy, "/readyz"))[0:2] == (200, {"status": "ready", "database": True})
    assert (await _get(toy, "/openapi.json"))[1] == {"openapi": "3.1.0"}
    async with aiohttp.ClientSession() as session, session.get(toy + "/metrics") as resp:
        assert resp.status == 200
        assert "text/plain" in resp.headers["Content-Type"]


async def test_readyz_answers_503_until_ready() -> None:
    """A service not ready yet answers 503 `not_ready`, naming the failed check."""

    async def ready() -> tuple[bool, dict[str, Any]]:
        return False, {"nats": False}

    app = build_app((), ready, middlewares=[], client_max_size=1024)
    async for base in _server(app):
        assert (await _get(base, "/readyz"))[0:2] == (503, {"status": "not_ready", "nats": False})


async def test_the_in_flight_cap_refuses_past_its_limit_but_never_probes() -> None:
    """With one request in hand and a cap of one, the next is the refusal (counted), while
    /healthz still answers."""
    entered, release = asyncio.Event(), asyncio.Event()
    refused: list[int] = []

    async def slow(_: web.Request) -> web.Response:
        entered.set()
        await release.wait()
        return json_response({"ok": True})

    async def ready() -> tuple[bool, dict[str, Any]]:
        return True, {}

    cap = in_flight_cap(1, lambda: Overloaded("busy"), lambda: refused.append(1))
    app = build_app((), ready, middlewares=[cap], client_max_size=1024)
    app.router.add_get("/slow", slow)
    async for base in _server(app):
        async with aiohttp.ClientSession() as session:
            first = asyncio.ensure_future(session.get(base + "/slow"))
            async with asyncio.timeout(10):
                await entered.wait()
            second = await _get(base, "/slow")
            assert (second[0], second[1]["type"]) == (503, "overloaded")
            assert (await _get(base, "/healthz"))[0] == 200
            release.set()
            async with await first as answer:
                assert answer.status == 200
    assert refused


def test_openapi_document_from_the_operation_table() -> None:
    """Path and query parameters, request media types, answers, problems, operation ids and
    security come from the operations."""
    security = {"bearer": {"type": "http", "scheme": "bearer"}}
    doc = openapi_document(OPERATIONS, "Toy API", Problem, security)
    get = doc["paths"]["/things/{id}"]["get"]
    put = doc["paths"]["/things/{id}"]["put"]
    assert doc["info"]["title"] == "Toy API"
    assert get["operationId"] == "get_thing"
    assert get["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert get["security"] == [{"bearer": []}]
    assert set(get["responses"]) == {"200", "404"}
    assert "application/problem+json" in get["responses"]["404"]["content"]
    assert put["operationId"] == "store_thing"
    assert "security" not in put
    assert put["parameters"][1] == {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer"},
    }
    assert set(put["requestBody"]["content"]) == {
        "application/json",
        "application/merge-patch+json",
    }
    assert set(doc["components"]["schemas"]) >= {"Thing", "Problem"}
    assert doc["components"]["securitySchemes"] == security


SERVED = """
import gc, sys
from aiohttp import web
from parley_runtime.http import build_app, json_response, serve

async def ready():
    return True, {}

async def heap(_):
    return json_response({"frozen": gc.get_freeze_count(), "startup_saw": seen})

seen = []

async def startup(_):
    seen.append(gc.get_freeze_count())  # the service's own start-up runs before the freeze

app = build_app([], ready, middlewares=[], client_max_size=1024)
app.router.add_get("/heap", heap)
app.on_startup.append(startup)
serve(app, "127.0.0.1", int(sys.argv[1]))
"""


async def test_serve_freezes_the_heap_once_the_service_has_started(tmp_path: Any) -> None:
    """A process run by `serve` has its start-up objects frozen (`gc.freeze`) after the
    service's own start-up and before the first request."""
    import sys

    from parley_devtools.embedded import free_port

    port = free_port()
    script = tmp_path / "served.py"
    script.write_text(SERVED)
    proc = await asyncio.create_subprocess_exec(sys.executable, str(script), str(port))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/heap") as response:
                        body = await response.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("the served process never answered")
    finally:
        proc.terminate()
        await proc.wait()
    assert body["startup_saw"] == [0]
    assert body["frozen"] > 1000
