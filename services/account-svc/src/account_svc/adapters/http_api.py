"""The management API of CONTRACT section 2 (and the registry and operator views beyond it), on
aiohttp: each route is a function that calls its use case, declared with what the OpenAPI
document says of it (`http_binding` reads the rest from its signature)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web
from parley_runtime.http import Operation, Ready, json_response, openapi_document
from parley_runtime.http import build_app as build_service_app

from account_svc.accounts import AccountAdmin
from account_svc.adapters.console.routes import add_console_routes
from account_svc.adapters.console.session import session_token
from account_svc.adapters.http_base import MIDDLEWARES
from account_svc.adapters.http_binding import USE_CASES, Json, Query, Routes, use_case
from account_svc.deliveries import Deliveries
from account_svc.domain.account_config import AccountConfigIn
from account_svc.domain.answers import (
    AccountCreated,
    AccountList,
    AccountOut,
    ApiKeyOut,
    BusinessGroupList,
    BusinessGroupOut,
    DeadLetterList,
    DeliveryLog,
    LoginOut,
    OrganizationList,
    OrganizationOut,
    Problem,
    SenderList,
    SenderOut,
    SigningSecretOut,
    Subscription,
    SubscriptionList,
    TemplateList,
    TemplateOut,
    UserList,
    UserOut,
    Withdrawal,
)
from account_svc.domain.ops_answers import RoutesOut, TraceOut, TrafficOut
from account_svc.domain.requests import (
    BusinessGroupIn,
    LoginIn,
    OrganizationIn,
    SenderIn,
    TemplateIn,
    UserIn,
)
from account_svc.domain.scope import Principal
from account_svc.errors import Unauthorized
from account_svc.operations import Operations
from account_svc.senders import SenderAdmin
from account_svc.sessions import Sessions
from account_svc.subscriptions import Subscriptions
from account_svc.templates import TemplateAdmin
from account_svc.tenancy import Tenancy


@dataclass(frozen=True)
class Client:
    """Where a request came from: the peer and every `X-Forwarded-For` line, in order."""

    peer: str | None
    forwarded: list[str]


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def token_of(request: web.Request) -> str:
    """The bearer token, else the console session cookie's (403 without its CSRF header)."""
    token = _bearer(request) or session_token(request)
    if token is None:
        raise Unauthorized("missing bearer token")
    return token


async def principal(request: web.Request) -> Principal:
    """The authenticated caller, or 401."""
    token = await token_of(request)
    sessions: Sessions = use_case(request, Sessions)
    return await sessions.authenticate(token)


async def client_of(request: web.Request) -> Client:
    """The request's peer and forwarding headers."""
    return Client(request.remote, request.headers.getall("X-Forwarded-For", []))


class Token(str):
    """The caller's own token (to close its session)."""


async def _token(request: web.Request) -> Token:
    return Token(await token_of(request))


API = Routes({Principal: principal, Client: client_of, Token: _token}, authenticated=Principal)
ACC, TPL, SND = "/v1/accounts/{id}", "/v1/templates/{id}", "/v1/senders/{id}"
SUBS = "/v1/organizations/{id}/app-subscriptions"
Limit = Annotated[int, Query(50, bounds=(1, 200))]
Id = Annotated[str | None, Query()]


def _choice(*values: str) -> Query:
    return Query(schema={"type": "string", "enum": list(values)})


# ---------------------------------------------------------------------- auth
auth = API.tagged("auth")


@auth.post("/v1/auth/login", 200, LoginOut, errors=(400, 401, 422, 429, 503))
async def login(use: Sessions, body: LoginIn, client: Client) -> Any:
    """Log in"""
    return await use.login(body, client.peer, client.forwarded)


@auth.post("/v1/auth/logout", 204, errors=(401,))
async def logout(use: Sessions, _: Principal, token: Token) -> None:
    """Log out"""
    await use.logout(token)


# ---------------------------------------------------------------------- tenancy
orgs, users = API.tagged("organizations"), API.tagged("users")
groups = API.tagged("business-groups")


@orgs.post("/v1/organizations", 201, OrganizationOut, errors=(400, 401, 403, 404, 422))
async def create_org(use: Tenancy, who: Principal, body: OrganizationIn) -> Any:
    """Create an organization"""
    return await use.create_org(who, body)


@orgs.get("/v1/organizations", 200, OrganizationList, errors=(401,))
async def list_orgs(use: Tenancy, who: Principal) -> Any:
    """Organizations in scope"""
    return {"items": await use.list_orgs(who)}


@users.post("/v1/users", 201, UserOut, errors=(400, 401, 403, 404, 409, 422, 503))
async def create_user(use: Tenancy, who: Principal, body: UserIn) -> Any:
    """Create a user"""
    return await use.create_user(who, body)


@users.get("/v1/users", 200, UserList, errors=(401, 403))
async def list_users(use: Tenancy, who: Principal) -> Any:
    """Users in scope"""
    return {"items": await use.list_users(who)}


@groups.post("/v1/business-groups", 201, BusinessGroupOut, errors=(400, 401, 404, 409, 422))
async def create_group(use: Tenancy, who: Principal, body: BusinessGroupIn) -> Any:
    """Create a business group"""
    return await use.create_group(who, body)


@groups.get("/v1/business-groups", 200, BusinessGroupList, errors=(401, 404))
async def list_groups(use: Tenancy, who: Principal, enterprise_id: Id) -> Any:
    """Business groups in scope"""
    return {"items": await use.list_groups(who, enterprise_id)}


# ---------------------------------------------------------------------- accounts
accounts = API.tagged("accounts")
MERGE_PATCH = ("application/merge-patch+json", "application/json")


CONFIG = {"request": AccountConfigIn}  # documents a config body (the use case validates it)


@accounts.post("/v1/accounts", 201, AccountCreated, errors=(400, 401, 404, 422), **CONFIG)
async def create_account(use: AccountAdmin, who: Principal, body: Json) -> Any:
    """Create an access account"""
    return await use.create(who, body)


@accounts.get("/v1/accounts", 200, AccountList, errors=(401, 404, 422))
async def list_accounts(
    use: AccountAdmin, who: Principal, enterprise_id: Id, limit: Limit, cursor: Id
) -> Any:
    """Access accounts in scope (paginated)"""
    return await use.list(who, enterprise_id, limit, cursor)


@accounts.get(ACC, 200, AccountOut, errors=(401, 404))
async def get_account(use: AccountAdmin, who: Principal, account_id: str) -> Any:
    """One access account"""
    return await use.get(who, account_id)


@accounts.patch(
    ACC, 200, AccountOut, errors=(400, 401, 404, 409, 422), content_types=MERGE_PATCH, **CONFIG
)
async def patch_account(use: AccountAdmin, who: Principal, account_id: str, body: Json) -> Any:
    """Merge-patch an access account (RFC 7386)"""
    return await use.patch(who, account_id, body)


@accounts.delete(ACC, 204, errors=(401, 404, 409))
async def delete_account(use: AccountAdmin, who: Principal, account_id: str) -> None:
    """Delete an access account"""
    await use.delete(who, account_id)


@accounts.post(ACC + "/api-keys", 201, ApiKeyOut, errors=(401, 404, 409))
async def rotate_key(use: AccountAdmin, who: Principal, account_id: str) -> Any:
    """Issue a new API key"""
    return await use.rotate_api_key(who, account_id)


@accounts.post(ACC + "/webhook-signing-secret", 201, SigningSecretOut, errors=(401, 404, 409))
async def rotate_secret(use: AccountAdmin, who: Principal, account_id: str) -> Any:
    """Issue a new webhook signing secret"""
    return await use.rotate_signing_secret(who, account_id)


# ---------------------------------------------------------------------- webhooks
hooks = API.tagged("webhooks")


@hooks.get(ACC + "/webhook-deliveries", 200, DeliveryLog, errors=(401, 404, 422, 503))
async def webhook_deliveries(use: Deliveries, who: Principal, account_id: str, limit: Limit) -> Any:
    """Recent webhook delivery attempts, newest first"""
    return {"items": await use.deliveries(who, account_id, limit)}


@hooks.get(ACC + "/dead-letters", 200, DeadLetterList, errors=(401, 404, 503))
async def dead_letters(use: Deliveries, who: Principal, account_id: str) -> Any:
    """Dead letters of the account's webhooks"""
    return {"items": await use.dead_letters(who, account_id)}


@hooks.post(ACC + "/dead-letters/{dl_id}/replay", 202, errors=(401, 404, 503))
async def replay_dead_letter(
    use: Deliveries, who: Principal, account_id: str, dead_letter_id: str
) -> Any:
    """Deliver a dead letter again from attempt 1"""
    await use.replay(who, account_id, dead_letter_id)
    return {"status": "accepted"}


# ---------------------------------------------------------------------- templates
templates = API.tagged("templates")
TemplateStatus = Annotated[str | None, _choice("pending", "approved", "rejected")]


@templates.post("/v1/templates", 201, TemplateOut, errors=(400, 401, 404, 409, 422))
async def create_template(use: TemplateAdmin, who: Principal, body: TemplateIn) -> Any:
    """Create a message template (pending until approved)"""
    return await use.create(who, body)


@templates.get("/v1/templates", 200, TemplateList, errors=(401, 404, 422))
async def list_templates(
    use: TemplateAdmin, who: Principal, enterprise_id: Id, status: TemplateStatus
) -> Any:
    """Message templates in scope"""
    return {"items": await use.list(who, enterprise_id, status)}


@templates.get(TPL, 200, TemplateOut, errors=(401, 404))
async def get_template(use: TemplateAdmin, who: Principal, template_id: str) -> Any:
    """One message template"""
    return await use.get(who, template_id)


@templates.post(TPL + "/approve", 200, TemplateOut, errors=(401, 404, 409))
async def approve_template(use: TemplateAdmin, who: Principal, template_id: str) -> Any:
    """Approve a message template"""
    return await use.decide(who, template_id, "approved")


@templates.post(TPL + "/reject", 200, TemplateOut, errors=(401, 404, 409))
async def reject_template(use: TemplateAdmin, who: Principal, template_id: str) -> Any:
    """Reject a message template"""
    return await use.decide(who, template_id, "rejected")


@templates.delete(TPL, 204, errors=(401, 404, 409))
async def delete_template(use: TemplateAdmin, who: Principal, template_id: str) -> None:
    """Delete a message template"""
    await use.delete(who, template_id)


# ---------------------------------------------------------------------- operator views
ops = API.tagged("operations")
Search = Annotated[str, Query("", schema={"type": "string", "minLength": 1, "maxLength": 256})]


@ops.get("/v1/traffic", 200, TrafficOut, errors=(401, 404, 422, 503))
async def traffic(use: Operations, who: Principal, enterprise_id: Id, account_id: Id) -> Any:
    """Messages per minute by status and channel over the last hour, rates, webhook outcomes
    and queue depths (scoped)"""
    return await use.traffic(who, enterprise_id, account_id)


@ops.get("/v1/routes", 200, RoutesOut, errors=(401, 503))
async def routes(use: Operations, who: Principal) -> Any:
    """Every route with its provider, capacity, current rate and connection state"""
    return await use.routes(who)


@ops.get("/v1/message-trace", 200, TraceOut, errors=(401, 404, 422, 503))
async def message_trace(use: Operations, who: Principal, q: Search, account_id: Id) -> Any:
    """Find a message by id or client_ref; its attempts, status events and webhook
    deliveries"""
    return await use.trace(who, q, account_id)


# ---------------------------------------------------------------------- registry
senders, apps = API.tagged("senders"), API.tagged("apps")
Channel = Annotated[str | None, _choice("rcs", "sms", "truecaller", "whatsapp")]


@senders.post("/v1/senders", 201, SenderOut, errors=(400, 401, 404, 409, 422))
async def create_sender(use: SenderAdmin, who: Principal, body: SenderIn) -> Any:
    """Register a sender the enterprise owns"""
    return await use.create(who, body)


@senders.get("/v1/senders", 200, SenderList, errors=(401, 404, 422))
async def list_senders(
    use: SenderAdmin, who: Principal, enterprise_id: Id, channel: Channel
) -> Any:
    """Registered senders in scope"""
    return {"items": await use.list(who, enterprise_id, channel)}


@senders.get(SND, 200, SenderOut, errors=(401, 404))
async def get_sender(use: SenderAdmin, who: Principal, sender_id: str) -> Any:
    """One registered sender"""
    return await use.get(who, sender_id)


@senders.delete(SND, 204, errors=(401, 404, 409))
async def delete_sender(use: SenderAdmin, who: Principal, sender_id: str) -> None:
    """Deregister a sender (sends from it are refused at once)"""
    await use.delete(who, sender_id)


@apps.get(SUBS, 200, SubscriptionList, errors=(401, 404, 422))
async def list_subscriptions(use: Subscriptions, who: Principal, enterprise_id: str) -> Any:
    """The apps an enterprise subscribes to"""
    return {"items": await use.listed(who, enterprise_id)}


@apps.put(SUBS + "/{app}", 201, Subscription, errors=(401, 403, 404, 422))
async def subscribe(use: Subscriptions, who: Principal, enterprise_id: str, app: str) -> Any:
    """Subscribe an enterprise to an app (its provider: platform or aggregator users)"""
    created = await use.subscribe(who, enterprise_id, app)
    items = {item["app"]: item for item in await use.listed(who, enterprise_id)}
    return json_response(items[app], 201 if created else 200)


@apps.delete(SUBS + "/{app}", 200, Withdrawal, errors=(401, 403, 404, 409, 422))
async def withdraw(use: Subscriptions, who: Principal, enterprise_id: str, app: str) -> Any:
    """Withdraw an app subscription; the app is switched off in the enterprise's accounts"""
    return {"app": app, "accounts_changed": await use.withdraw(who, enterprise_id, app)}


# ---------------------------------------------------------------------- app
ROUTES: tuple[Operation, ...] = tuple(API.operations)


def openapi(operations: Sequence[Operation] = ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document, generated from the models that validate requests."""
    security = {"bearer": {"type": "http", "scheme": "bearer"}}
    title = "Parley management API (account-svc)"
    return openapi_document(operations, title, Problem, security)


def build_app(use_cases: dict[type[Any], Any], ready: Ready) -> web.Application:
    """The aiohttp application with every route; `use_cases` (by class) is filled in when the
    service starts, and until then a route answers 503."""
    from account_svc.asyncapi import asyncapi_document

    app = build_service_app(
        ROUTES,
        ready,
        middlewares=MIDDLEWARES,
        client_max_size=1024 * 1024,
        documents={"/openapi.json": openapi(), "/asyncapi.json": asyncapi_document()},
    )
    app[USE_CASES] = use_cases
    add_console_routes(app, principal)
    return app
