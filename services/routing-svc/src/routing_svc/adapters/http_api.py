"""The messaging API of CONTRACT section 3 on aiohttp, the sandbox endpoints of section 5, and
the operational endpoints (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from nats.errors import Error as NatsError
from nats.js.errors import InvalidKeyError
from parley_runtime.http import (
    ErrorKinds,
    Middleware,
    Operation,
    Ready,
    body_response,
    in_flight_cap,
    openapi_document,
    problem_middleware,
)
from parley_runtime.http import (
    build_app as build_service_app,
)
from parley_shared.problems import ProblemError

from routing_svc.access import Gate, refused, validated
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
    Problem,
)
from routing_svc.errors import (
    MethodNotAllowed,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    PermanentError,
    RoutingSvcError,
    TransientError,
    ValidationFailed,
)
from routing_svc.inbound import Inbound
from routing_svc.metrics import ACCEPTED, LATENCY, OVERLOADED, REFUSED, REQUESTS, inc
from routing_svc.ports import CallbackProvider
from routing_svc.submissions import Submissions

TITLE = "Parley messaging API (routing-svc)"
SECURITY = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def _translate(exc: Exception) -> ProblemError | None:
    if isinstance(exc, InvalidKeyError):
        return NotFound("no such resource")  # a path id that cannot be a KV key names nothing
    return None


ERRORS = ErrorKinds(
    base=RoutingSvcError,
    permanent=PermanentError,
    not_found=NotFound,
    method_not_allowed=MethodNotAllowed,
    transient=TransientError,
    unavailable=(OSError, TimeoutError, NatsError),
    too_large=PayloadTooLarge,
    translate=_translate,
)


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


ROUTES: tuple[Operation, ...] = (
    Operation(
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
    Operation(
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
    Operation(
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
    Operation(
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
    Operation(
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


# ---------------------------------------------------------------------- app
def openapi(operations: Sequence[Operation] = ROUTES) -> dict[str, Any]:
    """The OpenAPI document of `operations` (the messaging API, and the sandbox's if served)."""
    return openapi_document(operations, TITLE, Problem, SECURITY)


def middlewares(max_in_flight: int) -> list[Middleware]:
    """Problems and metrics outermost, then the cap on requests in hand."""
    return [
        problem_middleware(ERRORS, REQUESTS, LATENCY),
        in_flight_cap(
            max_in_flight,
            lambda: Overloaded("too many requests in hand; retry shortly"),
            lambda: inc(OVERLOADED, "http_in_flight"),
        ),
    ]


def build_app(
    services: Services,
    ready: Ready,
    extra: tuple[Operation, ...] = (),
    max_body: int = 256 * 1024,
    max_in_flight: int = 4096,
) -> web.Application:
    """The aiohttp application with the messaging routes and `extra` ones (the sandbox's)."""
    routes = ROUTES + extra
    app = build_service_app(
        routes,
        ready,
        middlewares=middlewares(max_in_flight),
        client_max_size=max_body,
        documents={"/openapi.json": openapi(routes)},
    )
    app[SERVICES] = services
    app.router.add_route("GET", "/v1/callbacks/{route}", provider_callback)
    app.router.add_route("POST", "/v1/callbacks/{route}", provider_callback)
    return app
