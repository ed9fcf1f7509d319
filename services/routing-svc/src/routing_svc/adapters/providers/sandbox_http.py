"""The sandbox endpoints (CONTRACT section 5): recipients, inbound messages, route counters.

They need no API key and exist only when `ROUTING_PROVIDER=sandbox`.
"""

from __future__ import annotations

from aiohttp import web
from parley_runtime.http import Operation, json_response

from routing_svc.access import parse_json, validated
from routing_svc.adapters.http_api import SERVICES
from routing_svc.adapters.providers.sandbox import RecipientIn, SandboxProvider
from routing_svc.domain.requests import InboundAccepted, InboundIn
from routing_svc.errors import TransientError, ValidationFailed
from routing_svc.inbound import Inbound


def _sandbox(request: web.Request) -> SandboxProvider:
    found = request.app[SERVICES].sandbox
    if found is None:
        raise TransientError("starting")
    sandbox: SandboxProvider = found
    return sandbox


def _inbound(request: web.Request) -> Inbound:
    found = request.app[SERVICES].inbound
    if found is None:
        raise TransientError("starting")
    return found


async def put_recipient(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    body = validated(RecipientIn, parse_json(await request.read()))
    try:
        answer = await sandbox.put_recipient(request.match_info["msisdn"], body)
    except ValueError as exc:
        raise ValidationFailed.at(["msisdn"], str(exc)) from exc
    return json_response(answer)


async def delete_recipient(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    try:
        await sandbox.delete_recipient(request.match_info["msisdn"])
    except ValueError as exc:
        raise ValidationFailed.at(["msisdn"], str(exc)) from exc
    return web.Response(status=204)


async def post_inbound(request: web.Request) -> web.Response:
    body = validated(InboundIn, parse_json(await request.read()))
    return json_response(await _inbound(request).receive(body), 202)


async def get_routes(request: web.Request) -> web.Response:
    return json_response(_sandbox(request).route_stats())


SANDBOX_ROUTES: tuple[Operation, ...] = (
    Operation(
        "PUT",
        "/v1/sandbox/recipients/{msisdn}",
        put_recipient,
        "Register a simulated recipient",
        "sandbox",
        200,
        RecipientIn,
        None,
        auth=False,
        errors=(400, 422),
    ),
    Operation(
        "DELETE",
        "/v1/sandbox/recipients/{msisdn}",
        delete_recipient,
        "Forget a simulated recipient",
        "sandbox",
        204,
        auth=False,
        errors=(422,),
    ),
    Operation(
        "POST",
        "/v1/sandbox/inbound",
        post_inbound,
        "A user writes (or types) to a sender",
        "sandbox",
        202,
        InboundIn,
        InboundAccepted,
        auth=False,
        errors=(400, 404, 422),
    ),
    Operation(
        "GET",
        "/v1/sandbox/routes",
        get_routes,
        "Messages sent per route",
        "sandbox",
        200,
        auth=False,
    ),
)
