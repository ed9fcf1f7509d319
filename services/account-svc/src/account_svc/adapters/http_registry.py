"""The management API of what an enterprise owns and subscribes to (beyond CONTRACT 2):
registered senders (`/v1/senders`) and app subscriptions. Kept beside `http_api` (its routes
are added to the same app and OpenAPI document); the use cases are filled in at start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from account_svc.adapters.http_base import Route, json_response, read_model
from account_svc.domain.scope import Principal
from account_svc.errors import TransientError
from account_svc.models import SenderIn, SenderList, SenderOut
from account_svc.senders import Senders


@dataclass
class Registry:
    """The registry's use cases and how a request's caller is found."""

    principal: Callable[[web.Request], Awaitable[Principal]]
    senders: Senders | None = None


REGISTRY = web.AppKey("registry", Registry)


def _registry(request: web.Request) -> tuple[Registry, Senders]:
    found = request.app[REGISTRY]
    if found.senders is None:
        raise TransientError("starting")
    return found, found.senders


async def create_sender(request: web.Request) -> web.Response:
    registry, senders = _registry(request)
    who = await registry.principal(request)
    body = await read_model(request, SenderIn)
    return json_response(await senders.create(who, body), 201)


async def list_senders(request: web.Request) -> web.Response:
    registry, senders = _registry(request)
    who = await registry.principal(request)
    query = request.query
    items = await senders.list(
        who, query.get("enterprise_id") or None, query.get("channel") or None
    )
    return json_response({"items": items})


async def get_sender(request: web.Request) -> web.Response:
    registry, senders = _registry(request)
    who = await registry.principal(request)
    return json_response(await senders.get(who, request.match_info["id"]))


async def delete_sender(request: web.Request) -> web.Response:
    registry, senders = _registry(request)
    who = await registry.principal(request)
    await senders.delete(who, request.match_info["id"])
    return web.Response(status=204)


SND = "/v1/senders/{id}"
REGISTRY_ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/v1/senders",
        create_sender,
        "Register a sender the enterprise owns",
        "senders",
        201,
        SenderIn,
        SenderOut,
        errors=(400, 401, 404, 409, 422),
    ),
    Route(
        "GET",
        "/v1/senders",
        list_senders,
        "Registered senders in scope",
        "senders",
        200,
        None,
        SenderList,
        query={
            "enterprise_id": {"type": "string"},
            "channel": {"type": "string", "enum": ["rcs", "sms", "truecaller", "whatsapp"]},
        },
        errors=(401, 404, 422),
    ),
    Route(
        "GET",
        SND,
        get_sender,
        "One registered sender",
        "senders",
        200,
        None,
        SenderOut,
        errors=(401, 404),
    ),
    Route(
        "DELETE",
        SND,
        delete_sender,
        "Deregister a sender (sends from it are refused at once)",
        "senders",
        204,
        errors=(401, 404, 409),
    ),
)


def add_registry(app: web.Application, principal: Any) -> Registry:
    """Add the registry's routes to `app`; the returned holder gets its use cases at start."""
    registry = Registry(principal)
    app[REGISTRY] = registry
    for route in REGISTRY_ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    return registry
