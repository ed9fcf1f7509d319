"""Retries, Retry-After, dead letters, HTTP 410 and the delivery log, with a scripted receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import orjson
from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from parley_shared import subjects
from prometheus_client import REGISTRY
from webhook_testkit import Account, publish_events, request, status_event


async def _log(nc: Any, account_id: str, limit: int = 50) -> list[dict[str, Any]]:
    reply = await request(
        nc, subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": account_id, "limit": limit}
    )
    items: list[dict[str, Any]] = reply["items"]
    return items


async def _dead_letters(nc: Any, account_id: str) -> list[dict[str, Any]]:
    reply = await request(nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account_id})
    items: list[dict[str, Any]] = reply["items"]
    return items


async def test_failures_retry_then_dead_letter_with_every_try_logged(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """Four failing tries (retries 3) end in one dead letter; the log shows failed x3 then dead."""
    account = Account(master, status_webhook=status_hook(receiver.url("/d")))
    await account.publish(js)
    receiver.script("/d", [500, 503, 500, 502])
    await start_service()
    event = status_event(account.account_id)
    await publish_events(js, [event])
    aid = account.account_id
    await eventually(lambda: len(receiver.on("/d")) == 4, 10, "four tries")
    await eventually(lambda: _dead_letters(nc, aid), 5, "dead letter")
    [letter] = await _dead_letters(nc, aid)
    assert set(letter) == {"id", "kind", "event_ids", "attempts", "last_error", "failed_at"}
    assert letter["id"].startswith("dl_")
    assert (letter["kind"], letter["event_ids"], letter["attempts"]) == ("status", [event["id"]], 4)
    assert letter["last_error"] == "HTTP 502"
    assert letter["failed_at"].endswith("Z")
    await eventually(lambda: _has_entries(nc, aid, 4), 5, "four log entries")
    log = await _log(nc, aid)
    assert [(e["attempt"], e["outcome"], e["status_code"]) for e in log] == [
        (4, "dead", 502),
        (3, "failed", 500),
        (2, "failed", 503),
        (1, "failed", 500),
    ]
    entry = log[0]
    assert set(entry) == {
        "id",
        "kind",
        "event_ids",
        "url",
        "attempt",
        "outcome",
        "status_code",
        "error",
        "duration_ms",
        "at",
    }
    assert entry["url"] == receiver.url("/d")
    assert entry["event_ids"] == [event["id"]]
    gaps = [b.at - a.at for a, b in zip(receiver.on("/d"), receiver.on("/d")[1:], strict=False)]
    assert all(g >= s * 0.8 - 0.05 for g, s in zip(gaps, (0.2, 0.4, 0.6), strict=True))
    assert all(g <= s * 1.2 + 0.5 for g, s in zip(gaps, (0.2, 0.4, 0.6), strict=True))


async def _has_entries(nc: Any, account_id: str, count: int) -> bool:
    return len(await _log(nc, account_id)) >= count


async def test_zero_retries_dead_letters_after_one_try(
    nc: Any, js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """With retries 0 the first failure is logged dead and dead-lettered with attempts 1."""
    account = Account(master, status_webhook=status_hook(receiver.url("/z"), retries=0))
    await account.publish(js)
    receiver.script("/z", [500])
    await start_service()
    await publish_events(js, [status_event(account.account_id)])
    await eventually(lambda: _dead_letters(nc, account.account_id), 5, "dead letter")
    [letter] = await _dead_letters(nc, account.account_id)
    assert letter["attempts"] == 1
    assert len(receiver.on("/z")) == 1


async def test_retry_after_seconds_is_honoured_within_the_clamp(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """429 with Retry-After 1 s and a 0.6 s schedule waits ~1 s (inside 1..2x, no jitter)."""
    account = Account(master, status_webhook=status_hook(receiver.url("/ra")))
    await account.publish(js)
    receiver.script("/ra", [(429, {"Retry-After": "1"})])
    await start_service(retry_schedule="0.6")
    await publish_events(js, [status_event(account.account_id)])
    await eventually(lambda: len(receiver.on("/ra")) == 2, 10, "retry")
    first, second = receiver.on("/ra")
    assert 0.9 <= second.at - first.at <= 1.6


async def test_retry_after_is_clamped_to_twice_the_schedule(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """An HTTP-date Retry-After one hour away is clamped to 2x a 0.3 s schedule."""
    account = Account(master, status_webhook=status_hook(receiver.url("/rd")))
    await account.publish(js)
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    receiver.script("/rd", [(429, {"Retry-After": later})])
    await start_service(retry_schedule="0.3")
    await publish_events(js, [status_event(account.account_id)])
    await eventually(lambda: len(receiver.on("/rd")) == 2, 10, "retry")
    first, second = receiver.on("/rd")
    assert 0.5 <= second.at - first.at <= 1.2


async def test_gone_disables_the_webhook_until_the_config_changes(
    nc: Any, master: Any, receiver: Receiver, start_service: Any, log_stream: Any
) -> None:
    """410 disables the webhook (logged, counted); later events are not sent until a new version."""
    js = nc.jetstream()
    account = Account(master, status_webhook=status_hook(receiver.url("/g")))
    await account.publish(js)
    receiver.script("/g", [410])
    await start_service()
    disabled_before = (
        REGISTRY.get_sample_value("parley_webhook_disabled_total", {"kind": "status"}) or 0.0
    )
    aid = account.account_id
    await publish_events(js, [status_event(aid)])
    await eventually(lambda: _dead_letters(nc, aid), 5, "dead letter after 410")
    [letter] = await _dead_letters(nc, aid)
    assert "410" in letter["last_error"]
    assert "disabled" in letter["last_error"]
    assert REGISTRY.get_sample_value("parley_webhook_disabled_total", {"kind": "status"}) == (
        disabled_before + 1
    )
    [line] = [
        orjson.loads(x) for x in log_stream.getvalue().splitlines() if "webhook_disabled" in x
    ]
    assert line["account_id"] == aid
    assert "until the account's config changes" in line["detail"]
    await publish_events(js, [status_event(aid)])
    await eventually(lambda: _dl_count(nc, aid, 2), 5, "second event dead-lettered unsent")
    assert len(receiver.on("/g")) == 1
    log = await _log(nc, aid)
    assert log[0]["outcome"] == "dead"
    assert "disabled" in log[0]["error"]
    account.version += 1
    await account.publish(js)
    fresh = status_event(aid)
    await publish_events(js, [fresh])
    await eventually(lambda: receiver.event_ids("/g")[-1:] == [fresh["id"]], 5, "re-enabled")


async def _dl_count(nc: Any, account_id: str, count: int) -> bool:
    return len(await _dead_letters(nc, account_id)) >= count
