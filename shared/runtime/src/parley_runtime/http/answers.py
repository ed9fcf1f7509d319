"""JSON and problem answers, encoded with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from parley_shared.problems import ProblemError


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer."""
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def body_response(body: bytes, status: int = 200) -> web.Response:
    """A JSON answer already serialized (routing-svc seals some before they leave)."""
    return web.Response(status=status, body=body, content_type="application/json")


def problem_response(error: ProblemError) -> web.Response:
    """An RFC 9457 answer for an error, with its headers (`Retry-After`, ...)."""
    return web.Response(
        status=error.status,
        body=orjson.dumps(error.problem()),
        content_type="application/problem+json",
        headers=error.headers or None,
    )
