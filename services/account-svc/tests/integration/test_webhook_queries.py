"""account-svc answers the webhook delivery log and dead letters by asking webhook-svc over NATS
(here a stand-in responder on the real server), within the caller's scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import nats
import orjson
import pytest
from account_testkit import Api, make_tenant, seed_for
from parley_shared import subjects

ATTEMPT = {
    "id": "dlv_1",
    "kind": "status",
    "event_ids": ["evt_1"],
    "url": "https://hooks.example.com/parley",
    "attempt": 1,
    "outcome": "delivered",
    "status_code": 200,
    "error": None,
    "duration_ms": 3.2,
    "at": "2026-11-26T10:00:00.123Z",
}
DEAD = {
    "id": "dl_1",
    "kind": "status",
    "event_ids": ["evt_2"],
    "attempts": 4,
    "last_error": "HTTP 500",
    "failed_at": "2026-11-26T10:00:00.123Z",
}


@pytest.fixture
async def responder(nats_url: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Answers the three webhook-svc subjects; records what it was asked."""
    asked: list[dict[str, Any]] = []
    nc = await nats.connect(nats_url)

    async def answer(msg: Any) -> None:
        request = orjson.loads(msg.data)
        asked.append({"subject": msg.subject, **request})
        if msg.subject == subjects.WEBHOOK_DELIVERIES_QUERY:
            reply: dict[str, Any] = {"items": [ATTEMPT]}
        elif msg.subject == subjects.WEBHOOK_DEAD_LETTERS_QUERY:
            reply = {"items": [DEAD]}
        elif request["dead_letter_id"] == "dl_1":
            reply = {"status": 202}
        else:
            reply = {"type": "not_found", "title": "Not found", "status": 404, "detail": "no such"}
        await msg.respond(orjson.dumps(reply))

    for subject in (
        subjects.WEBHOOK_DELIVERIES_QUERY,
        subjects.WEBHOOK_DEAD_LETTERS_QUERY,
        subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
    ):
        await nc.subscribe(subject, cb=answer)
    await nc.flush()
    yield asked
    await nc.close()


async def test_delivery_log_dead_letters_and_replay(
    api: Api, responder: list[dict[str, Any]]
) -> None:
    """The three endpoints pass webhook-svc's answers through, with limit and ids."""
    tenant = await make_tenant(api)
    _, created = await api.call("POST", "/v1/accounts", seed_for(tenant))
    account_id = created["account"]["id"]
    status, log = await api.call("GET", f"/v1/accounts/{account_id}/webhook-deliveries?limit=7")
    assert status == 200
    assert log == {"items": [ATTEMPT]}
    status, dead = await api.call("GET", f"/v1/accounts/{account_id}/dead-letters")
    assert status == 200
    assert dead == {"items": [DEAD]}
    status, _ = await api.call("POST", f"/v1/accounts/{account_id}/dead-letters/dl_1/replay")
    assert status == 202
    status, problem = await api.call("POST", f"/v1/accounts/{account_id}/dead-letters/dl_9/replay")
    assert status == 404
    assert problem["type"] == "not_found"
    assert responder[0] == {
        "subject": subjects.WEBHOOK_DELIVERIES_QUERY,
        "account_id": account_id,
        "limit": 7,
    }


async def test_other_tenants_account_is_404_and_webhook_svc_is_not_asked(
    api: Api, responder: list[dict[str, Any]]
) -> None:
    """An account out of scope answers 404 before anything is asked of webhook-svc."""
    status, _ = await api.call("GET", "/v1/accounts/acc_doesnotexist/dead-letters")
    assert status == 404
    assert responder == []


async def test_no_webhook_svc_is_503(api: Api) -> None:
    """Without a responder the endpoints answer 503, never 500."""
    tenant = await make_tenant(api)
    _, created = await api.call("POST", "/v1/accounts", seed_for(tenant))
    status, problem = await api.call(
        "GET", f"/v1/accounts/{created['account']['id']}/webhook-deliveries"
    )
    assert status == 503
    assert problem["status"] == 503
