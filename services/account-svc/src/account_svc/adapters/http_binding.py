"""Routes declared by their signature: each parameter's annotation says where its value comes
from, so a route is one decorated function that only calls its use case, and its OpenAPI
entry (request body, query parameters, security) is read from the same signature.

| annotation | value |
| --- | --- |
| a use case class (`AccountAdmin`, ...) | the running one (503 `service_unavailable` at start) |
| a registered type (`Principal`, ...) | the resolver given for it (`Routes(resolvers)`) |
| a pydantic model | the JSON body validated by it (400 / 422 naming each field) |
| `Json` | the JSON body as parsed (the use case validates it itself) |
| `Annotated[..., Query(...)]` | the query parameter of that name |
| `str` | the path's placeholders, in order |

A route answers what its function returns: JSON with the route's status, an empty answer for
None, or a response built by the function (a status that depends on the outcome).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints

from aiohttp import web
from parley_runtime.http import Operation, json_response
from pydantic import BaseModel

from account_svc.adapters.http_base import query_int, read_json, read_model
from account_svc.errors import TransientError

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Resolve = Callable[[web.Request], Awaitable[Any]]
USE_CASES = web.AppKey("use_cases", dict)
_PLACEHOLDER = re.compile(r"\{([^}/]+)\}")


class JsonBody:
    """Marks a parameter taking the JSON body as parsed."""


Json = Annotated[Any, JsonBody]


@dataclass(frozen=True)
class Query:
    """A query parameter: `default` when absent or empty; an integer within `bounds` (else
    422 naming it) when bounds are given; `schema` documents it."""

    default: Any = None
    bounds: tuple[int, int] | None = None
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})

    def documented(self) -> dict[str, Any]:
        """Its JSON schema in the OpenAPI document."""
        if self.bounds is None:
            return dict(self.schema)
        low, high = self.bounds
        return {"type": "integer", "minimum": low, "maximum": high, "default": self.default}


def use_case(request: web.Request, kind: type[Any]) -> Any:
    """The running use case of that class (503 while the service starts)."""
    found = request.app[USE_CASES].get(kind)
    if found is None:
        raise TransientError("starting")
    return found


def _query(name: str, spec: Query) -> Resolve:
    async def resolve(request: web.Request) -> Any:
        if spec.bounds is not None:
            return query_int(request, name, spec.default, *spec.bounds)
        return request.query.get(name) or spec.default

    return resolve


def _path(name: str) -> Resolve:
    async def resolve(request: web.Request) -> Any:
        return request.match_info[name]

    return resolve


def _body(model: type[BaseModel]) -> Resolve:
    async def resolve(request: web.Request) -> Any:
        return await read_model(request, model)

    return resolve


def _use_case(kind: type[Any]) -> Resolve:
    async def resolve(request: web.Request) -> Any:
        return use_case(request, kind)

    return resolve


@dataclass
class _Reading:
    """What a signature asks of a request, and what it tells the OpenAPI document."""

    resolvers: list[Resolve] = field(default_factory=list)
    request: type[BaseModel] | None = None
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    auth: bool = False


class Routes:
    """A table of routes, filled by decorating their functions."""

    def __init__(self, resolvers: Mapping[type[Any], Resolve], authenticated: type[Any]) -> None:
        """`resolvers` give the values of registered types; a route taking `authenticated`
        is documented as needing a bearer token."""
        self.resolvers = dict(resolvers)
        self.authenticated = authenticated
        self.operations: list[Operation] = []

    def _read(self, fn: Callable[..., Any], path: str) -> _Reading:
        hints = get_type_hints(fn, include_extras=True)
        placeholders = iter(_PLACEHOLDER.findall(path))
        reading = _Reading()
        for name in inspect.signature(fn).parameters:
            hint = hints[name]
            extra = get_args(hint)[1:] if get_origin(hint) is Annotated else ()
            if JsonBody in extra:
                reading.resolvers.append(read_json)
            elif extra and isinstance(extra[0], Query):
                reading.resolvers.append(_query(name, extra[0]))
                reading.query[name] = extra[0].documented()
            elif hint in self.resolvers:
                reading.resolvers.append(self.resolvers[hint])
                reading.auth = reading.auth or hint is self.authenticated
            elif hint is str:
                reading.resolvers.append(_path(next(placeholders)))
            elif isinstance(hint, type) and issubclass(hint, BaseModel):
                reading.resolvers.append(_body(hint))
                reading.request = hint
            elif isinstance(hint, type):
                reading.resolvers.append(_use_case(hint))
            else:
                raise TypeError(f"{fn.__name__}: no way to bind {name}: {hint}")
        if next(placeholders, None) is not None:
            raise TypeError(f"{fn.__name__}: a placeholder of {path} has no parameter")
        return reading

    def route(
        self,
        method: str,
        path: str,
        tag: str,
        status: int = 200,
        response: type[BaseModel] | None = None,
        *,
        errors: tuple[int, ...] = (),
        request: type[BaseModel] | None = None,
        content_types: tuple[str, ...] = ("application/json",),
    ) -> Callable[[F], F]:
        """Declare `fn` as the route `method path`; its docstring is the summary, `request`
        documents a `Json` body."""

        def declare(fn: F) -> F:
            reading = self._read(fn, path)

            async def handler(req: web.Request) -> web.StreamResponse:
                args = [await resolve(req) for resolve in reading.resolvers]
                answer = await fn(*args)
                if isinstance(answer, web.StreamResponse):
                    return answer
                if answer is None:
                    return web.Response(status=status)
                return json_response(answer, status)

            self.operations.append(
                Operation(
                    method,
                    path,
                    handler,
                    " ".join((inspect.getdoc(fn) or fn.__name__).split()),
                    tag,
                    status,
                    request or reading.request,
                    response,
                    auth=reading.auth,
                    query=reading.query,
                    errors=errors,
                    content_types=content_types,
                    name=fn.__name__,
                )
            )
            return fn

        return declare

    def tagged(self, tag: str) -> Tagged:
        """Declarations under one OpenAPI tag."""
        return Tagged(self, tag)


@dataclass(frozen=True)
class Tagged:
    """`Routes.route` with the tag given once, by method."""

    routes: Routes
    tag: str

    def get(self, path: str, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """A GET route."""
        return self.routes.route("GET", path, self.tag, *args, **kwargs)

    def post(self, path: str, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """A POST route."""
        return self.routes.route("POST", path, self.tag, *args, **kwargs)

    def put(self, path: str, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """A PUT route."""
        return self.routes.route("PUT", path, self.tag, *args, **kwargs)

    def patch(self, path: str, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """A PATCH route."""
        return self.routes.route("PATCH", path, self.tag, *args, **kwargs)

    def delete(self, path: str, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """A DELETE route."""
        return self.routes.route("DELETE", path, self.tag, *args, **kwargs)
