"""The SSRF guard in service: with private targets off, loopback targets are never contacted."""

from __future__ import annotations

from typing import Any

import pytest
from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from prometheus_client import REGISTRY
from webhook_testkit import Account, publish_events, request, status_event


def _refused() -> float:
    return REGISTRY.get_sample_value("parley_webhook_ssrf_refused_total") or 0.0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_targets_are_refused_and_dead_lettered(
    host: str, nc: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """An IP literal or a name resolving to loopback is refused: no request, a dead letter."""
    js = nc.jetstream()
    url = f"https://{host}:{receiver.port}/ssrf"
    account = Account(master, status_webhook=status_hook(url, retries=0))
    await account.publish(js)
    before = _refused()
    await start_service(allow_private_targets=False)
    await publish_events(js, [status_event(account.account_id)])

    async def dead() -> bool:
        reply = await request(
            nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account.account_id}
        )
        return bool(reply["items"])

    await eventually(dead, 5, "dead letter")
    reply = await request(
        nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account.account_id}
    )
    assert reply["items"][0]["last_error"].startswith("target address not allowed")
    assert receiver.requests == []
    assert _refused() > before


async def test_plain_http_is_refused_without_private_targets(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """`http://` is not sent when private targets are off, even to an allowed-looking host."""
    account = Account(master, status_webhook=status_hook(receiver.url("/plain"), retries=0))
    await account.publish(js)
    await start_service(allow_private_targets=False)
    await publish_events(js, [status_event(account.account_id)])

    async def dead() -> bool:
        reply = await request(
            nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account.account_id}
        )
        return bool(reply["items"])

    await eventually(dead, 5, "dead letter")
    assert receiver.requests == []
