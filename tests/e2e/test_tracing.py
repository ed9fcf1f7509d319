"""Tracing across the three services as processes, exporting to a local OTLP receiver: a
message sent over HTTP is one trace from routing-svc's HTTP span through SUBMIT to the
provider, and through STATUS (and a webhook retry on WEBHOOK_RETRY) to webhook-svc's
deliveries, each hop parent and child; account-svc's lookup of it in the operator's trace view
shows its trace id, is a trace of its own across the three services, linked to the message's;
and webhook-svc's log line about the failed attempt carries the trace id."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from e2e_parley_kit import ADMIN_PASSWORD, call
from parley_devtools.fakes.otlp import OtlpReceiver, ReceivedSpan
from parley_devtools.platform import Platform
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually


async def _account(session: aiohttp.ClientSession, base: str, hooks: str) -> tuple[str, str, str]:
    """An SMS account whose status webhook (unbatched) goes to `hooks`/status:
    (admin token, account id, API key)."""
    login = await call(
        session, "POST", f"{base}/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD}
    )
    token = login.json["token"]
    ent = await call(
        session, "POST", f"{base}/v1/organizations", {"name": "T", "kind": "enterprise"}, token
    )
    group = await call(
        session,
        "POST",
        f"{base}/v1/business-groups",
        {"name": "G", "enterprise_id": ent.json["id"]},
        token,
    )
    config = {
        "label": "traced",
        "communication_type": "outgoing",
        "traffic_type": "otp",
        "channels": ["sms"],
        "enterprise_id": ent.json["id"],
        "business_group_id": group.json["id"],
        "webhooks": {
            "status": {
                "url": f"{hooks}/status",
                "events": ["delivery_status", "sent"],
                "payload_format": "native",
                "retries": 3,
                "batch": {"enabled": False},
            }
        },
    }
    made = await call(session, "POST", f"{base}/v1/accounts", config, token)
    assert made.status == 201, made.json
    return token, str(made.json["account"]["id"]), str(made.json["api_key"])


def _one(spans: list[ReceivedSpan], name: str, service: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and s.service == service]
    assert len(found) == 1, (name, service, spans)
    return found[0]


async def _spans(otlp: OtlpReceiver, found: Any) -> Any:
    return await asyncio.to_thread(otlp.wait_for, found, 30.0)


async def test_a_message_is_one_trace_across_services_and_the_console_shows_it(
    traced_platform: Platform, otlp: OtlpReceiver
) -> None:
    """HTTP submit -> route attempt -> provider send (routing-svc) -> webhook deliveries and
    the retry of the failed one (webhook-svc) share one trace, each linked to its parent across
    the NATS hop; account-svc's trace view answers that trace id from a lookup linked to it,
    and webhook-svc's log line of the failed attempt carries it."""
    receiver = Receiver()
    receiver.script("/status", [503])
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as session:
            token, account_id, api_key = await _account(
                session, traced_platform.account, receiver.url("")
            )
            body = {"to": "+919876543210", "channel": "sms", "content": {"text": "traced"}}

            async def accepted() -> str | None:
                answer = await call(
                    session, "POST", f"{traced_platform.routing}/v1/messages", body, api_key
                )
                return str(answer.json["message_id"]) if answer.status == 202 else None

            message_id = await eventually(accepted, what="routing-svc to accept a send")

            async def delivered_twice() -> bool:
                carried = [d.body for d in receiver.accepted("/status")]
                return sum(message_id.encode() in b for b in carried) >= 2  # sent, delivered

            await eventually(delivered_twice, what="both webhooks delivered")
            lookup = await call(
                session,
                "GET",
                f"{traced_platform.account}/v1/message-trace?q={message_id}",
                None,
                token,
            )
    finally:
        await receiver.stop()
    assert lookup.status == 200, lookup.json
    trace = lookup.json["trace"]
    assert trace["message_id"] == message_id
    assert trace["account_id"] == account_id
    trace_id = trace["trace_id"]
    assert isinstance(trace_id, str), trace
    assert len(trace_id) == 32, trace

    def message_trace(r: OtlpReceiver) -> list[ReceivedSpan]:
        spans = r.of_trace(trace_id)
        deliveries = [s for s in spans if s.name == "deliver webhook"]
        return spans if len(deliveries) >= 3 else []  # sent (503), its retry, delivered

    spans = await _spans(otlp, message_trace)
    assert {s.service for s in spans} == {"routing-svc", "webhook-svc"}
    submit = _one(spans, "POST /v1/messages", "routing-svc")
    assert submit.kind == "server"
    assert submit.parent_span_id is None
    route = _one(spans, "route attempt", "routing-svc")
    assert route.kind == "consumer"
    assert route.parent_span_id == submit.span_id
    assert route.attributes["parley.message_id"] == message_id
    send = _one(spans, "provider send", "routing-svc")
    assert send.kind == "client"
    assert send.parent_span_id == route.span_id
    assert send.attributes["parley.send_status"] == "accepted"
    deliveries = {s.span_id: s for s in spans if s.name == "deliver webhook"}
    firsts = [d for d in deliveries.values() if d.parent_span_id == route.span_id]  # via STATUS
    assert len(firsts) >= 2, deliveries
    failed = [d for d in firsts if d.attributes.get("http.response.status_code") == 503]
    assert len(failed) == 1, firsts
    (retry,) = [d for d in deliveries.values() if d.parent_span_id == failed[0].span_id]
    assert retry.attributes["parley.attempt"] == 2  # via WEBHOOK_RETRY's schedule
    assert retry.attributes["http.response.status_code"] == 200  # the receiver, script used up

    def lookup_trace(r: OtlpReceiver) -> list[ReceivedSpan]:
        linked = [s for s in r.named("GET /v1/message-trace", "account-svc") if s.links]
        if not linked:
            return []
        spans = r.of_trace(linked[0].trace_id)
        return spans if {s.service for s in spans} >= {"routing-svc", "webhook-svc"} else []

    lookup_spans = await _spans(otlp, lookup_trace)
    asked = _one(lookup_spans, "GET /v1/message-trace", "account-svc")
    assert asked.links == ((trace_id, submit.span_id),)
    routing = _one(lookup_spans, "parley.routing.v1.messages.trace process", "routing-svc")
    assert routing.parent_span_id == asked.span_id
    webhook = _one(lookup_spans, "parley.webhook.v1.deliveries.query process", "webhook-svc")
    assert webhook.parent_span_id == asked.span_id

    lines = (traced_platform.root / "webhook-svc.log").read_text().splitlines()
    logged = [json.loads(x) for x in lines if x.startswith("{") and "webhook_attempt_failed" in x]
    assert [line["trace_id"] for line in logged] == [trace_id], logged
