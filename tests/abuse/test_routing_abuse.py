"""Abuse of routing-svc's messaging API: a client hiding its address in an X-Forwarded-For line
of its own, and bodies nested thousands of levels deep.

routing-svc runs in-process against a real nats-server (`routing_fixtures`, the same fixtures
as routing-svc's own integration tests)."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict
from routing_fixtures import log_stream, master_key, routing, routing_settings
from routing_testkit import Routing, allow

__all__ = ["log_stream", "master_key", "routing", "routing_settings"]

SMS = {"to": "+919876543210", "channel": "sms", "content": {"text": "hi"}}


@pytest.fixture
def trusted_loopback(routing_settings: dict[str, str]) -> None:
    """routing-svc believes X-Forwarded-For from loopback (the test's own proxy)."""
    routing_settings["trusted_proxies"] = "127.0.0.1"


@pytest.mark.usefixtures("trusted_loopback")
async def test_a_forged_forwarded_for_line_does_not_pass_the_allowlist(routing: Routing) -> None:
    """The client sends `X-Forwarded-For: <allowed address>`; the proxy appends its own line
    with the client's real address: the right-to-left walk over every line finds the real one
    (403), while a single honest line with an allowed address passes."""
    account = await routing.account(["sms"], ip_restriction=allow("203.0.113.0/24"))
    forged = CIMultiDict([("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "198.51.100.7")])
    status, body = await routing.api.call(
        "POST", "/v1/messages", SMS, key=account.api_key, headers=forged
    )
    assert (status, body["type"]) == (403, "ip_not_allowed")
    honest = CIMultiDict([("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "203.0.113.9")])
    status, body = await routing.api.call(
        "POST", "/v1/messages", SMS, key=account.api_key, headers=honest
    )
    assert status == 202, body


@pytest.mark.parametrize("depth", [40, 1_000, 20_000])
async def test_deeply_nested_bodies_are_refused_not_a_500(routing: Routing, depth: int) -> None:
    """A body (or its `metadata`) nested `depth` levels answers 400 `malformed_request` (or 413
    when simply too large), never a 500, and the service goes on answering."""
    account = await routing.account(["sms"])
    nested = json.loads('{"a":' * min(depth, 500) + "1" + "}" * min(depth, 500))
    raw = json.dumps({**SMS, "metadata": nested}).encode() if depth <= 500 else None
    bodies = [("[" * depth + "]" * depth).encode()]
    if raw is not None:
        bodies.append(raw)
    for body in bodies:
        status, answer = await routing.api.call(
            "POST",
            "/v1/messages",
            raw=body,
            key=account.api_key,
            headers={"Content-Type": "application/json"},
        )
        assert status in (400, 413), answer
        assert answer["type"] in ("malformed_request", "payload_too_large")
    assert (await routing.api.send(account))[0] == 202
