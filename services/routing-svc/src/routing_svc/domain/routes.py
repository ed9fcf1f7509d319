"""The routes a message may take: the sandbox's default routes (CONTRACT section 5) and the
choice of candidate routes for a channel.

`routes_for` picks, in a stable order, the routes a message may take.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from routing_svc.domain.channels import Channel, Route

AgentProvider = Literal["reliance-jio", "vodafone-idea", "airtel"]

DEFAULT_ROUTES: tuple[Route, ...] = (
    Route("sms-1", "sms", 500.0),
    Route("rcs-reliance-jio", "rcs", 200.0, agent_provider="reliance-jio"),
    Route("rcs-vodafone-idea", "rcs", 200.0, agent_provider="vodafone-idea"),
    Route("rcs-airtel", "rcs", 200.0, agent_provider="airtel"),
    Route("wa-1", "whatsapp", 100.0),
    Route("wa-2", "whatsapp", 200.0),
    Route("wa-3", "whatsapp", 300.0),
    Route("tc-1", "truecaller", 100.0),
    Route("tc-2", "truecaller", 100.0),
)


def default_routes() -> list[Route]:
    """The sandbox's default routes (CONTRACT section 5), in their documented order."""
    return list(DEFAULT_ROUTES)


def routes_for(
    routes: Sequence[Route], channel: Channel, agent_providers: Iterable[str] | None = None
) -> list[Route]:
    """The routes a message on `channel` may take, in a stable order; [] when there is none.

    RCS with `agent_providers` (the account's `channel_settings.rcs.agent_providers`): the RCS
    routes of those providers, in the account's order (then in `routes` order for a provider
    with several). Otherwise every route of the channel, in `routes` order.
    """
    if channel == "rcs" and agent_providers is not None:
        return [
            route
            for provider in dict.fromkeys(agent_providers)
            for route in routes
            if route.channel == "rcs" and route.agent_provider == provider
        ]
    return [route for route in routes if route.channel == channel]
