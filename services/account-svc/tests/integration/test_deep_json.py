"""Deeply nested JSON bodies on every account-svc JSON endpoint: a 400 naming the depth, never a
500 and never a RecursionError in the logs."""

from __future__ import annotations

import io

import pytest
from account_svc.adapters.http_api import ROUTES
from account_svc.adapters.http_base import MAX_JSON_DEPTH
from account_testkit import Api

BODY_ROUTES = [
    (route.method, route.path.replace("{id}", "acc_0000000000000000"))
    for route in ROUTES
    if route.request is not None
] + [("POST", "/console/session")]
BODIES = {
    "1000 arrays": b"[" * 1000 + b"]" * 1000,
    "1000 objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "100000 arrays": b"[" * 100_000 + b"]" * 100_000,
    "limit + 1 objects": b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1),
}


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_deep_bodies_answer_400_naming_the_depth(
    api: Api, log_stream: io.StringIO, method: str, path: str
) -> None:
    """Each nesting attack answers 400 `malformed_request` whose detail speaks of depth."""
    for name, raw in BODIES.items():
        status, data = await api.call(
            method, path, raw=raw, headers={"Content-Type": "application/json"}
        )
        assert status == 400, (name, status, data)
        assert data["type"] == "malformed_request", (name, data)
        assert "depth" in data["detail"], (name, data)
    logged = log_stream.getvalue()
    assert "RecursionError" not in logged
    assert "unhandled_error" not in logged


async def test_a_body_at_the_depth_limit_is_judged_on_its_fields(api: Api) -> None:
    """Nesting up to the limit is not refused for depth: the body is validated as usual."""
    deep = {"a": 1}
    for _ in range(MAX_JSON_DEPTH - 2):
        deep = {"a": deep}
    status, data = await api.call(
        "POST", "/v1/organizations", {"name": "Deep", "kind": "enterprise", "x": deep}
    )
    assert status == 422, data
    assert data["errors"][0]["loc"] == ["x"]
