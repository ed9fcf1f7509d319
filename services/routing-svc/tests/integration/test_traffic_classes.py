"""traffic_type end to end: OTP never queues behind a promotional flood (its own SUBMIT lane,
its turn on a busy route), and a promotional window refuses sends outside it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from parley_devtools.waiting import eventually
from parley_shared import subjects
from routing_testkit import Routing

FLOOD = 150
CAPACITY = 10  # sends per second on the only SMS route: the flood takes 15 s to drain


@pytest.fixture
def routing_settings(tmp_path: Path) -> dict[str, Any]:
    """One slow sandbox SMS route, so a promotional flood queues on it."""
    routes = {"routes": [{"name": "sms-slow", "channel": "sms", "capacity_per_s": CAPACITY}]}
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(routes))
    return {"routes_file": str(path)}


def _sent_order(routing: Routing) -> list[str]:
    """Message ids in the order their `sent` events were published."""
    return [e["subject"] for e in routing.events.status if e["type"] == "parley.message.sent"]


async def test_otp_is_sent_ahead_of_a_promotional_flood(routing: Routing) -> None:
    """With 150 promotional messages queued on a 10/s route, an OTP message sent after them
    goes out before most of them (by the order of the `sent` events)."""
    promo = await routing.account(["sms"], traffic_type="promotional")
    otp = await routing.account(["sms"], traffic_type="otp")
    flood = set(await asyncio.gather(*(routing.api.sent(promo) for _ in range(FLOOD))))
    await eventually(lambda: len(_sent_order(routing)) >= 3, 10)  # the flood is on the route
    code = await routing.api.sent(otp)
    await routing.events.wait(code, "sent", within_s=10)
    order = _sent_order(routing)
    ahead = [m for m in order[: order.index(code)] if m in flood]
    assert len(ahead) < FLOOD // 2, f"{len(ahead)} promotional messages went out first"

    async def otp_lane_empty() -> bool:  # its message is out (acked just after `sent` is published)
        info = await routing.js.stream_info(subjects.STREAM_SUBMIT_OTP)
        return info.state.messages == 0

    await eventually(otp_lane_empty, 5, "the OTP lane to be empty")


async def test_promotional_sends_are_refused_outside_their_window(routing: Routing) -> None:
    """A promotional account whose window is closed now answers 422 outside_promotional_window
    with the next opening; one whose window is open sends; an OTP account has none."""
    now = datetime.now(UTC)
    closed = {
        "start": (now + timedelta(hours=2)).strftime("%H:%M"),
        "end": (now + timedelta(hours=3)).strftime("%H:%M"),
        "timezone": "UTC",
    }
    opened = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%H:%M"),
        "timezone": "Europe/London",
    }
    shut = await routing.account(["sms"], traffic_type="promotional", promotional_window=closed)
    status, problem = await routing.api.send(shut)
    assert (status, problem["type"]) == (422, "outside_promotional_window"), problem
    assert problem["promotional_window"] == f"{closed['start']}-{closed['end']} UTC"
    opening = datetime.fromisoformat(problem["next_window_at"].replace("Z", "+00:00"))
    assert timedelta(hours=1) < opening - now < timedelta(hours=2, minutes=1)
    assert problem["next_window_at"] in problem["detail"]
    open_ = await routing.account(["sms"], traffic_type="promotional", promotional_window=opened)
    assert (await routing.api.send(open_))[0] == 202
