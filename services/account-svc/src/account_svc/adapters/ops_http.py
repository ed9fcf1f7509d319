"""HTTP routes of the operator views (read-only): `GET /v1/traffic`, `GET /v1/routes`,
`GET /v1/message-trace`. `http_api` adds them to its route table, so they are served and
documented like every other route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from parley_runtime.http import Operation, json_response

from account_svc.domain.scope import Principal
from account_svc.operations import Operations
from account_svc.ops_models import RoutesOut, TraceOut, TrafficOut

PrincipalOf = Callable[[web.Request], Awaitable[Principal]]
OperationsOf = Callable[[web.Request], Operations]
ID = {"type": "string"}


def _given(request: web.Request, name: str) -> str | None:
    return request.query.get(name) or None


def ops_routes(principal: PrincipalOf, operations_of: OperationsOf) -> tuple[Operation, ...]:
    """The three routes, authenticated by `principal`, served by `operations_of`'s use cases."""

    async def traffic(request: web.Request) -> web.Response:
        who = await principal(request)
        view = await operations_of(request).traffic(
            who, _given(request, "enterprise_id"), _given(request, "account_id")
        )
        return json_response(view)

    async def routes(request: web.Request) -> web.Response:
        who = await principal(request)
        return json_response(await operations_of(request).routes(who))

    async def message_trace(request: web.Request) -> web.Response:
        who = await principal(request)
        query = request.query.get("q", "")
        found = await operations_of(request).trace(who, query, _given(request, "account_id"))
        return json_response(found)

    return (
        Operation(
            "GET",
            "/v1/traffic",
            traffic,
            "Messages per minute by status and channel over the last hour, rates, webhook "
            "outcomes and queue depths (scoped)",
            "operations",
            200,
            None,
            TrafficOut,
            query={"enterprise_id": ID, "account_id": ID},
            errors=(401, 404, 422, 503),
        ),
        Operation(
            "GET",
            "/v1/routes",
            routes,
            "Every route with its provider, capacity, current rate and connection state",
            "operations",
            200,
            None,
            RoutesOut,
            errors=(401, 503),
        ),
        Operation(
            "GET",
            "/v1/message-trace",
            message_trace,
            "Find a message by id or client_ref; its attempts, status events and webhook "
            "deliveries",
            "operations",
            200,
            None,
            TraceOut,
            query={
                "q": {"type": "string", "minLength": 1, "maxLength": 256},
                "account_id": ID,
            },
            errors=(401, 404, 422, 503),
        ),
    )
