"""The messaging API of CONTRACT section 3 on aiohttp, the sandbox endpoints of section 5, and
the operational endpoints (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from routing_svc.access import Gate, refused, validated
from routing_svc.adapters.http_base import (
    Route,
    body_response,
    in_flight_cap,
    json_response,
    openapi_document,
    problem_middleware,
)
from routing_svc.clicks import ShortLinks
from routing_svc.domain.accounts import AccountView
from routing_svc.domain.channels import CallbackRequest
from routing_svc.domain.msisdn import is_e164
from routing_svc.domain.policy import PolicyRefusal
from routing_svc.domain.requests import (
    ConsentIn,
    ConsentOut,
    MessageAccepted,
    MessageIn,
    MessageOut,
)
from routing_svc.errors import NotFound, TransientError, ValidationFailed
from routing_svc.inbound import Inbound
from routing_svc.metrics import ACCEPTED, REFUSED, inc
from routing_svc.ports import CallbackProvider
from routing_svc.submissions import Submissions

Ready = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


@dataclass
class Services:
    """The use cases, filled in when the app starts (before that, requests answer 503)."""

    gate: Gate | None = None
    submissions: Submissions | None = None
    inbound: Inbound | None = None
    sandbox: Any = None
    providers: Any = None
    links: ShortLinks | None = None


SERVICES = web.AppKey("services", Services)
READY = web.AppKey("ready", object)


def _services(request: web.Request) -> tuple[Gate, Submissions]:
    found = request.app[SERVICES]
    if found.gate is None or found.submissions is None:
        raise TransientError("starting")
    return found.gate, found.submissions


def caller(request: web.Request) -> tuple[Gate, AccountView]:
    """The authenticated account of a request, its address checked (401 / 403)."""
    gate, _ = _services(request)
    headers = request.headers
    account = gate.authenticate(headers.get("Authorization"), headers.get("X-API-Key"))
    gate.check_ip(account, request.remote, headers.getall("X-Forwarded-For", []))
    return gate, account


def msisdn_of(request: web.Request) -> str:
    """The `{msisdn}` path parameter, an E.164 number (422 otherwise)."""
    value = request.match_info["msisdn"]
    if not is_e164(value):
        raise ValidationFailed.at(["msisdn"], "must be an E.164 number, e.g. +919876543210")
    return value


# ---------------------------------------------------------------------- messaging
async def send_message(request: web.Request) -> web.Response:
    gate, account = caller(request)
    _, submissions = _services(request)
    body = validated(MessageIn, gate.open_body(account, await request.read()))
    key = gate.answer_key(account)  # an answer that cannot be sealed is refused before storing
    try:
        answer = await submissions.send(account, body)
    except PolicyRefusal as exc:
        inc(REFUSED, exc.code, "http")
        raise refused(exc) from exc
    inc(ACCEPTED, body.channel, "http")
    return body_response(gate.seal_answer(account, answer, key), 202)


async def get_message(request: web.Request) -> web.Response:
    gate, account = caller(request)
    _, submissions = _services(request)
    found = await submissions.message(account, request.match_info["id"])
    if found is None:
        raise NotFound("message not found")
    return body_response(gate.seal_answer(account, found))


async def put_consent(request: web.Request) -> web.Response:
    gate, account = caller(request)
    _, submissions = _services(request)
    msisdn = msisdn_of(request)
    body = validated(ConsentIn, gate.open_body(account, await request.read()))
    key = gate.answer_key(account)
    answer = await submissions.put_consent(account, msisdn, body)
    return body_response(gate.seal_answer(account, answer, key))


async def get_consent(request: web.Request) -> web.Response:
    gate, account = caller(request)
    _, submissions = _services(request)
    answer = await submissions.get_consent(account, msisdn_of(request))
    return body_response(gate.seal_answer(account, answer))


async def follow_link(request: web.Request) -> web.Response:
    links = request.app[SERVICES].links
    if links is None:
        raise TransientError("starting")
    url = await links.click(request.match_info["code"])
    if url is None:
        raise NotFound("no such short link, or it expired")
    return web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/v1/messages",
        send_message,
        "Send a message",
        "messages",
        202,
        MessageIn,
        MessageAccepted,
        errors=(400, 401, 403, 422, 503),
    ),
    Route(
        "GET",
        "/v1/messages/{id}",
        get_message,
        "A message and its attempts",
        "messages",
        200,
        None,
        MessageOut,
        errors=(401, 403, 404),
    ),
    Route(
        "PUT",
        "/v1/consent/{msisdn}",
        put_consent,
        "Record a user's consent",
        "consent",
        200,
        ConsentIn,
        ConsentOut,
        errors=(400, 401, 403, 422),
    ),
    Route(
        "GET",
        "/v1/consent/{msisdn}",
        get_consent,
        "A user's consent",
        "consent",
        200,
        None,
        ConsentOut,
        errors=(401, 403, 422),
    ),
    Route(
        "GET",
        "/s/{code}",
        follow_link,
        "Follow a short link (URL Shortener): 302 to the original URL",
        "links",
        302,
        auth=False,
        errors=(404,),
    ),
)


# ---------------------------------------------------------------------- provider callbacks
async def provider_callback(request: web.Request) -> web.StreamResponse:
    """`GET|POST /v1/callbacks/{route}`: handed, raw, to the provider carrying that route."""
    providers = request.app[SERVICES].providers
    if providers is None:
        raise TransientError("starting")
    name = request.match_info["route"]
    try:
        provider = providers.for_route(name)
    except KeyError:
        raise NotFound("no route of that name takes callbacks") from None
    if not hasattr(provider, "callback"):
        raise NotFound("no route of that name takes callbacks")
    handler: CallbackProvider = provider
    answer = await handler.callback(
        name,
        CallbackRequest(
            request.method,
            dict(request.query),
            {key.lower(): value for key, value in request.headers.items()},
            await request.read(),
        ),
    )
    return web.Response(status=answer.status, body=answer.body, content_type=answer.content_type)


# ---------------------------------------------------------------------- ops
async def healthz(_: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    check: Ready = request.app[READY]  # type: ignore[assignment]
    ready, detail = await check()
    return json_response(
        {"status": "ready" if ready else "not_ready", **detail}, 200 if ready else 503
    )


async def metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(
    services: Services,
    ready: Ready,
    extra: tuple[Route, ...] = (),
    max_body: int = 256 * 1024,
    max_in_flight: int = 4096,
) -> web.Application:
    """The aiohttp application with the messaging routes and `extra` ones (the sandbox's)."""
    app = web.Application(
        middlewares=[problem_middleware, in_flight_cap(max_in_flight)], client_max_size=max_body
    )
    app[SERVICES] = services
    app[READY] = ready
    routes = ROUTES + extra
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
    document = openapi_document(routes, "Parley messaging API (routing-svc)")

    async def openapi(_: web.Request) -> web.Response:
        return json_response(document)

    app.router.add_route("GET", "/v1/callbacks/{route}", provider_callback)
    app.router.add_route("POST", "/v1/callbacks/{route}", provider_callback)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
