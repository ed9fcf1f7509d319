"""Operations that serve and document themselves: an `Operation` table becomes the aiohttp
routes (`build_app`) and the OpenAPI 3.1 document (`openapi_document`), so the document can
never list a route the service does not serve, or miss one."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from parley_runtime.http.problems import Handler

_PLACEHOLDER = re.compile(r"\{([^}/]+)\}")


@dataclass(frozen=True)
class Operation:
    """One operation: how it is served and how it is documented."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    status: int = 200
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: bool = True
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Query parameters by name, each with its JSON schema (all optional)."""
    errors: tuple[int, ...] = ()
    """The problem statuses it may answer."""
    content_types: tuple[str, ...] = ("application/json",)
    """The media types of its request body."""
    name: str = ""
    """The operationId; empty: the handler's name."""


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    """Path parameters (required strings), then the query parameters."""
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PLACEHOLDER.findall(operation.path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": dict(schema)}
        for name, schema in operation.query.items()
    ]
    return params


def openapi_document(
    operations: Sequence[Operation],
    title: str,
    problem: type[BaseModel],
    security: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The OpenAPI 3.1 document, generated from the models that validate requests.

    `problem` is the service's problem model (its `type` lists the service's codes);
    `security` names the schemes an authenticated operation accepts (any one of them).
    """
    models: set[type[BaseModel]] = {problem}
    for operation in operations:
        models.update(m for m in (operation.request, operation.response) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    modes: tuple[Literal["validation", "serialization"], ...] = ("validation", "serialization")
    keyed = [(m, mode) for mode in modes for m in ordered]
    refs, top = models_json_schema(keyed, ref_template="#/components/schemas/{model}")

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return refs[(model, mode)]  # type: ignore[index]

    problems = {"application/problem+json": {"schema": ref(problem, "serialization")}}
    paths: dict[str, Any] = {}
    for operation in operations:
        op: dict[str, Any] = {
            "summary": operation.summary,
            "tags": [operation.tag],
            "operationId": operation.name or operation.handler.__name__,
            "responses": {},
        }
        if params := _parameters(operation):
            op["parameters"] = params
        if operation.request is not None:
            schema = ref(operation.request, "validation")
            content = {media: {"schema": schema} for media in operation.content_types}
            op["requestBody"] = {"required": True, "content": content}
        ok: dict[str, Any] = {"description": "Success"}
        if operation.response is not None:
            answer = ref(operation.response, "serialization")
            ok["content"] = {"application/json": {"schema": answer}}
        op["responses"][str(operation.status)] = ok
        for code in operation.errors:
            op["responses"][str(code)] = {"description": "Problem", "content": problems}
        if operation.auth:
            op["security"] = [{name: []} for name in security]
        paths.setdefault(operation.path, {})[operation.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {name: dict(scheme) for name, scheme in security.items()},
        },
    }
