"""The management API of what an enterprise owns and subscribes to (beyond CONTRACT 2):
registered senders (`/v1/senders`) and app subscriptions. Kept beside `http_api` (its routes
are added to the same app and OpenAPI document); the use cases are filled in at start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from parley_runtime.http import Operation, json_response

from account_svc.adapters.http_base import read_model
from account_svc.domain.scope import Principal
from account_svc.errors import TransientError
from account_svc.models import (
    SenderIn,
    SenderList,
    SenderOut,
    Subscription,
    SubscriptionList,
    Withdrawal,
)
from account_svc.senders import Senders
from account_svc.subscriptions import Subscriptions


@dataclass
class Registry:
    """The registry's use cases and how a request's caller is found."""

    principal: Callable[[web.Request], Awaitable[Principal]]
    senders: Senders | None = None
    subscriptions: Subscriptions | None = None


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


def _subscriptions(request: web.Request) -> tuple[Registry, Subscriptions]:
    found = request.app[REGISTRY]
    if found.subscriptions is None:
        raise TransientError("starting")
    return found, found.subscriptions


async def list_subscriptions(request: web.Request) -> web.Response:
    registry, subscriptions = _subscriptions(request)
    who = await registry.principal(request)
    items = await subscriptions.listed(who, request.match_info["id"])
    return json_response({"items": items})


async def subscribe(request: web.Request) -> web.Response:
    registry, subscriptions = _subscriptions(request)
    who = await registry.principal(request)
    enterprise_id, app = request.match_info["id"], request.match_info["app"]
    created = await subscriptions.subscribe(who, enterprise_id, app)
    items = {i["app"]: i for i in await subscriptions.listed(who, enterprise_id)}
    return json_response(items[app], 201 if created else 200)


async def withdraw(request: web.Request) -> web.Response:
    registry, subscriptions = _subscriptions(request)
    who = await registry.principal(request)
    app = request.match_info["app"]
    changed = await subscriptions.withdraw(who, request.match_info["id"], app)
    return json_response({"app": app, "accounts_changed": changed})


SND = "/v1/senders/{id}"
SUBS = "/v1/organizations/{id}/app-subscriptions"
REGISTRY_ROUTES: tuple[Operation, ...] = (
    Operation(
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
    Operation(
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
    Operation(
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
    Operation(
        "DELETE",
        SND,
        delete_sender,
        "Deregister a sender (sends from it are refused at once)",
        "senders",
        204,
        errors=(401, 404, 409),
    ),
    Operation(
        "GET",
        SUBS,
        list_subscriptions,
        "The apps an enterprise subscribes to",
        "apps",
        200,
        None,
        SubscriptionList,
        errors=(401, 404, 422),
    ),
    Operation(
        "PUT",
        SUBS + "/{app}",
        subscribe,
        "Subscribe an enterprise to an app (its provider: platform or aggregator users)",
        "apps",
        201,
        None,
        Subscription,
        errors=(401, 403, 404, 422),
    ),
    Operation(
        "DELETE",
        SUBS + "/{app}",
        withdraw,
        "Withdraw an app subscription; the app is switched off in the enterprise's accounts",
        "apps",
        200,
        None,
        Withdrawal,
        errors=(401, 403, 404, 409, 422),
    ),
)


def add_registry(app: web.Application, principal: Any) -> Registry:
    """Add the registry's routes to `app`; the returned holder gets its use cases at start."""
    registry = Registry(principal)
    app[REGISTRY] = registry
    for route in REGISTRY_ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    return registry
