"""Route choice end to end: round robin is exact, capacity-based follows the capacities, RCS
goes over the account's agent providers only."""

from __future__ import annotations

import asyncio
from collections import Counter

from routing_testkit import Account, Routing


async def _send_many(routing: Routing, account: Account, channel: str, count: int) -> list[str]:
    """Send `count` messages concurrently; wait for every final event; the message ids."""
    ids = await asyncio.gather(*(routing.api.sent(account, channel=channel) for _ in range(count)))
    for message_id in ids:
        await routing.events.final(message_id, within_s=30)
    return list(ids)


def _routes(routing: Routing, ids: list[str]) -> Counter[str]:
    """How many messages went out on each route (from their `sent` events)."""
    return Counter(
        e["data"]["route"] for m in ids for e in routing.events.of(m) if e["type"].endswith("sent")
    )


async def test_whatsapp_round_robin_is_exact(routing: Routing) -> None:
    """30 WhatsApp sends round robin over wa-1..3: exactly 10 each."""
    account = await routing.account(
        ["whatsapp"],
        {"whatsapp": {"traffic_management": {"enabled": True, "strategy": "round_robin"}}},
    )
    ids = await _send_many(routing, account, "whatsapp", 30)
    assert _routes(routing, ids) == {"wa-1": 10, "wa-2": 10, "wa-3": 10}


async def test_truecaller_round_robin_is_exact(routing: Routing) -> None:
    """20 Truecaller sends round robin over tc-1, tc-2: exactly 10 each."""
    account = await routing.account(
        ["truecaller"],
        {"truecaller": {"traffic_management": {"enabled": True, "strategy": "round_robin"}}},
    )
    ids = await _send_many(routing, account, "truecaller", 20)
    assert _routes(routing, ids) == {"tc-1": 10, "tc-2": 10}


async def test_rcs_round_robin_over_the_accounts_agent_providers(routing: Routing) -> None:
    """RCS goes only to rcs-<provider> of agent_providers, alternating exactly."""
    account = await routing.account(
        ["rcs"], {"rcs": {"agent_providers": ["airtel", "reliance-jio"]}}
    )
    ids = await _send_many(routing, account, "rcs", 12)
    assert _routes(routing, ids) == {"rcs-airtel": 6, "rcs-reliance-jio": 6}
    status, routes = await routing.api.call("GET", "/v1/sandbox/routes")
    assert (status, routes["rcs-vodafone-idea"]) == (200, {"sent": 0})


async def test_capacity_based_follows_capacity_proportions(routing: Routing) -> None:
    """capacity_based over wa-1..3 (100, 200, 300/s): shares within 10 points of 1/6, 2/6, 3/6."""
    account = await routing.account(
        ["whatsapp"],
        {"whatsapp": {"traffic_management": {"enabled": True, "strategy": "capacity_based"}}},
    )
    count = 360
    ids = await _send_many(routing, account, "whatsapp", count)
    shares = {route: n / count for route, n in _routes(routing, ids).items()}
    for route, expected in {"wa-1": 1 / 6, "wa-2": 2 / 6, "wa-3": 3 / 6}.items():
        assert abs(shares.get(route, 0.0) - expected) <= 0.10, shares
