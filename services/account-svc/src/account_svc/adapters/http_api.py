"""The management API of CONTRACT section 2, on aiohttp, and its OpenAPI document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from parley_runtime.http import Operation, Ready, json_response, openapi_document
from parley_runtime.http import build_app as build_service_app

from account_svc.accounts import Accounts
from account_svc.adapters.http_base import MIDDLEWARES, query_int, read_json, read_model
from account_svc.adapters.http_registry import REGISTRY_ROUTES, Registry, add_registry
from account_svc.adapters.ops_http import ops_routes
from account_svc.console.routes import add_console_routes
from account_svc.console.session import session_token
from account_svc.domain.account_config import AccountConfigIn
from account_svc.domain.scope import Principal
from account_svc.errors import TransientError, Unauthorized
from account_svc.handlers import Directory
from account_svc.models import (
    AccountCreated,
    AccountList,
    AccountOut,
    ApiKeyOut,
    BusinessGroupIn,
    BusinessGroupList,
    BusinessGroupOut,
    DeadLetterList,
    DeliveryLog,
    LoginIn,
    LoginOut,
    OrganizationIn,
    OrganizationList,
    OrganizationOut,
    Problem,
    SigningSecretOut,
    TemplateIn,
    TemplateList,
    TemplateOut,
    UserIn,
    UserList,
    UserOut,
)
from account_svc.operations import Operations
from account_svc.templates import Templates
from account_svc.webhooks import WebhookQueries


@dataclass
class Services:
    """The use cases, filled in when the app starts (before that, requests answer 503)."""

    directory: Directory | None = None
    accounts: Accounts | None = None
    webhooks: WebhookQueries | None = None
    templates: Templates | None = None
    operations: Operations | None = None
    registry: Registry | None = None


SERVICES = web.AppKey("services", Services)


def _directory(request: web.Request) -> Directory:
    found = request.app[SERVICES].directory
    if found is None:
        raise TransientError("starting")
    return found


def _webhooks(request: web.Request) -> WebhookQueries:
    found = request.app[SERVICES].webhooks
    if found is None:
        raise TransientError("starting")
    return found


def _accounts(request: web.Request) -> Accounts:
    found = request.app[SERVICES].accounts
    if found is None:
        raise TransientError("starting")
    return found


def _templates(request: web.Request) -> Templates:
    found = request.app[SERVICES].templates
    if found is None:
        raise TransientError("starting")
    return found


def _operations(request: web.Request) -> Operations:
    found = request.app[SERVICES].operations
    if found is None:
        raise TransientError("starting")
    return found


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _token(request: web.Request) -> str | None:
    """The bearer token, else the console session cookie's (403 without its CSRF header)."""
    return _bearer(request) or session_token(request)


async def principal(request: web.Request) -> Principal:
    """The authenticated caller, or 401."""
    token = _token(request)
    if token is None:
        raise Unauthorized("missing bearer token")
    return await _directory(request).authenticate(token)


# ---------------------------------------------------------------------- handlers
async def login(request: web.Request) -> web.Response:
    body = await read_model(request, LoginIn)
    forwarded = request.headers.getall("X-Forwarded-For", [])
    return json_response(await _directory(request).login(body, request.remote, forwarded))


async def logout(request: web.Request) -> web.Response:
    await principal(request)
    token = _token(request)
    assert token is not None
    await _directory(request).logout(token)
    return web.Response(status=204)


async def create_org(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_model(request, OrganizationIn)
    return json_response(await _directory(request).create_org(who, body), 201)


async def list_orgs(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response({"items": await _directory(request).list_orgs(who)})


async def create_user(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_model(request, UserIn)
    return json_response(await _directory(request).create_user(who, body), 201)


async def list_users(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response({"items": await _directory(request).list_users(who)})


async def create_group(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_model(request, BusinessGroupIn)
    return json_response(await _directory(request).create_group(who, body), 201)


async def list_groups(request: web.Request) -> web.Response:
    who = await principal(request)
    enterprise_id = request.query.get("enterprise_id") or None
    return json_response({"items": await _directory(request).list_groups(who, enterprise_id)})


async def create_account(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_json(request)
    return json_response(await _accounts(request).create(who, body), 201)


async def list_accounts(request: web.Request) -> web.Response:
    who = await principal(request)
    limit = query_int(request, "limit", 50, 1, 200)
    page = await _accounts(request).list(
        who, request.query.get("enterprise_id") or None, limit, request.query.get("cursor") or None
    )
    return json_response(page)


async def get_account(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await _accounts(request).get(who, request.match_info["id"]))


async def patch_account(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_json(request)
    return json_response(await _accounts(request).patch(who, request.match_info["id"], body))


async def delete_account(request: web.Request) -> web.Response:
    who = await principal(request)
    await _accounts(request).delete(who, request.match_info["id"])
    return web.Response(status=204)


async def rotate_key(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(
        await _accounts(request).rotate_api_key(who, request.match_info["id"]), 201
    )


async def rotate_secret(request: web.Request) -> web.Response:
    who = await principal(request)
    accounts = _accounts(request)
    return json_response(await accounts.rotate_signing_secret(who, request.match_info["id"]), 201)


async def webhook_deliveries(request: web.Request) -> web.Response:
    who = await principal(request)
    limit = query_int(request, "limit", 50, 1, 200)
    return json_response(await _webhooks(request).deliveries(who, request.match_info["id"], limit))


async def dead_letters(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await _webhooks(request).dead_letters(who, request.match_info["id"]))


async def replay_dead_letter(request: web.Request) -> web.Response:
    who = await principal(request)
    info = request.match_info
    await _webhooks(request).replay(who, info["id"], info["dl_id"])
    return json_response({"status": "accepted"}, 202)


async def create_template(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_model(request, TemplateIn)
    return json_response(await _templates(request).create(who, body), 201)


async def list_templates(request: web.Request) -> web.Response:
    who = await principal(request)
    query = request.query
    items = await _templates(request).list(
        who, query.get("enterprise_id") or None, query.get("status") or None
    )
    return json_response({"items": items})


async def get_template(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await _templates(request).get(who, request.match_info["id"]))


async def approve_template(request: web.Request) -> web.Response:
    who = await principal(request)
    templates = _templates(request)
    return json_response(await templates.decide(who, request.match_info["id"], "approved"))


async def reject_template(request: web.Request) -> web.Response:
    who = await principal(request)
    templates = _templates(request)
    return json_response(await templates.decide(who, request.match_info["id"], "rejected"))


async def delete_template(request: web.Request) -> web.Response:
    who = await principal(request)
    await _templates(request).delete(who, request.match_info["id"])
    return web.Response(status=204)


ACC = "/v1/accounts/{id}"
TPL = "/v1/templates/{id}"
ROUTES: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/v1/auth/login",
        login,
        "Log in",
        "auth",
        200,
        LoginIn,
        LoginOut,
        auth=False,
        errors=(400, 401, 422, 429, 503),
    ),
    Operation("POST", "/v1/auth/logout", logout, "Log out", "auth", 204, errors=(401,)),
    Operation(
        "POST",
        "/v1/organizations",
        create_org,
        "Create an organization",
        "organizations",
        201,
        OrganizationIn,
        OrganizationOut,
        errors=(400, 401, 403, 404, 422),
    ),
    Operation(
        "GET",
        "/v1/organizations",
        list_orgs,
        "Organizations in scope",
        "organizations",
        200,
        None,
        OrganizationList,
        errors=(401,),
    ),
    Operation(
        "POST",
        "/v1/users",
        create_user,
        "Create a user",
        "users",
        201,
        UserIn,
        UserOut,
        errors=(400, 401, 403, 404, 409, 422, 503),
    ),
    Operation(
        "GET",
        "/v1/users",
        list_users,
        "Users in scope",
        "users",
        200,
        None,
        UserList,
        errors=(401, 403),
    ),
    Operation(
        "POST",
        "/v1/business-groups",
        create_group,
        "Create a business group",
        "business-groups",
        201,
        BusinessGroupIn,
        BusinessGroupOut,
        errors=(400, 401, 404, 409, 422),
    ),
    Operation(
        "GET",
        "/v1/business-groups",
        list_groups,
        "Business groups in scope",
        "business-groups",
        200,
        None,
        BusinessGroupList,
        query={"enterprise_id": {"type": "string"}},
        errors=(401, 404),
    ),
    Operation(
        "POST",
        "/v1/accounts",
        create_account,
        "Create an access account",
        "accounts",
        201,
        AccountConfigIn,
        AccountCreated,
        errors=(400, 401, 404, 422),
    ),
    Operation(
        "GET",
        "/v1/accounts",
        list_accounts,
        "Access accounts in scope (paginated)",
        "accounts",
        200,
        None,
        AccountList,
        query={
            "enterprise_id": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
            "cursor": {"type": "string"},
        },
        errors=(401, 404, 422),
    ),
    Operation(
        "GET",
        ACC,
        get_account,
        "One access account",
        "accounts",
        200,
        None,
        AccountOut,
        errors=(401, 404),
    ),
    Operation(
        "PATCH",
        ACC,
        patch_account,
        "Merge-patch an access account (RFC 7386)",
        "accounts",
        200,
        AccountConfigIn,
        AccountOut,
        errors=(400, 401, 404, 409, 422),
        content_types=("application/merge-patch+json", "application/json"),
    ),
    Operation(
        "DELETE",
        ACC,
        delete_account,
        "Delete an access account",
        "accounts",
        204,
        errors=(401, 404, 409),
    ),
    Operation(
        "POST",
        ACC + "/api-keys",
        rotate_key,
        "Issue a new API key",
        "accounts",
        201,
        None,
        ApiKeyOut,
        errors=(401, 404, 409),
    ),
    Operation(
        "POST",
        ACC + "/webhook-signing-secret",
        rotate_secret,
        "Issue a new webhook signing secret",
        "accounts",
        201,
        None,
        SigningSecretOut,
        errors=(401, 404, 409),
    ),
    Operation(
        "GET",
        ACC + "/webhook-deliveries",
        webhook_deliveries,
        "Recent webhook delivery attempts, newest first",
        "webhooks",
        200,
        None,
        DeliveryLog,
        query={"limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
        errors=(401, 404, 422, 503),
    ),
    Operation(
        "GET",
        ACC + "/dead-letters",
        dead_letters,
        "Dead letters of the account's webhooks",
        "webhooks",
        200,
        None,
        DeadLetterList,
        errors=(401, 404, 503),
    ),
    Operation(
        "POST",
        ACC + "/dead-letters/{dl_id}/replay",
        replay_dead_letter,
        "Deliver a dead letter again from attempt 1",
        "webhooks",
        202,
        errors=(401, 404, 503),
    ),
    Operation(
        "POST",
        "/v1/templates",
        create_template,
        "Create a message template (pending until approved)",
        "templates",
        201,
        TemplateIn,
        TemplateOut,
        errors=(400, 401, 404, 409, 422),
    ),
    Operation(
        "GET",
        "/v1/templates",
        list_templates,
        "Message templates in scope",
        "templates",
        200,
        None,
        TemplateList,
        query={
            "enterprise_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
        },
        errors=(401, 404, 422),
    ),
    Operation(
        "GET",
        TPL,
        get_template,
        "One message template",
        "templates",
        200,
        None,
        TemplateOut,
        errors=(401, 404),
    ),
    Operation(
        "POST",
        TPL + "/approve",
        approve_template,
        "Approve a message template",
        "templates",
        200,
        None,
        TemplateOut,
        errors=(401, 404, 409),
    ),
    Operation(
        "POST",
        TPL + "/reject",
        reject_template,
        "Reject a message template",
        "templates",
        200,
        None,
        TemplateOut,
        errors=(401, 404, 409),
    ),
    Operation(
        "DELETE",
        TPL,
        delete_template,
        "Delete a message template",
        "templates",
        204,
        errors=(401, 404, 409),
    ),
    *ops_routes(principal, _operations),
)


# ---------------------------------------------------------------------- app
def openapi(operations: Sequence[Operation] = ROUTES + REGISTRY_ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document, generated from the models that validate requests."""
    return openapi_document(
        operations,
        "Parley management API (account-svc)",
        Problem,
        {"bearer": {"type": "http", "scheme": "bearer"}},
    )


def build_app(services: Services, ready: Ready) -> web.Application:
    """The aiohttp application with every route."""
    from account_svc.asyncapi import asyncapi_document

    app = build_service_app(
        ROUTES,
        ready,
        middlewares=MIDDLEWARES,
        client_max_size=1024 * 1024,
        documents={"/openapi.json": openapi(), "/asyncapi.json": asyncapi_document()},
    )
    app[SERVICES] = services
    add_console_routes(app, _directory, principal)
    services.registry = add_registry(app, principal)
    return app
