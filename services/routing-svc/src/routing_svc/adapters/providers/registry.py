"""The providers of a routing-svc process, one per kind in use, and which carries each route.

Built from the routes file (`routes_file.load_route_configs`): the sandbox exists only when some
route uses it (and with it its HTTP endpoints); every other kind is built by its factory from
the routes that name it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from routing_svc.adapters.providers.config import RouteConfig
from routing_svc.adapters.providers.sandbox import SandboxProvider
from routing_svc.domain.channels import Route
from routing_svc.ports import Provider, ProviderSink

log = structlog.get_logger("routing_svc.providers")

Factory = Callable[[list[RouteConfig], Any], Awaitable[Provider]]
"""Builds one kind's provider from its routes (and the process's NATS connection)."""


class UnknownRoute(KeyError):
    """A route name no provider of this process carries (a message planned under another
    routes file, still in flight): such an attempt cannot go out on it."""


class ProviderSet:
    """Every provider of the process, by route."""

    def __init__(self, routes: Sequence[Route], providers: Sequence[Provider]) -> None:
        self._routes = list(routes)
        self._providers = list(providers)
        self._by_route: dict[str, Provider] = {}
        for provider in self._providers:
            for route in provider.routes():
                self._by_route[route.name] = provider

    def routes(self) -> list[Route]:
        """Every route, in the routes file's order."""
        return list(self._routes)

    def for_route(self, route: str) -> Provider:
        """The provider carrying `route` (UnknownRoute when none does)."""
        try:
            return self._by_route[route]
        except KeyError:
            raise UnknownRoute(route) from None

    def kinds(self) -> list[str]:
        """The provider kinds in use."""
        return [provider.kind for provider in self._providers]

    @property
    def sandbox(self) -> SandboxProvider | None:
        """The sandbox, when some route uses it."""
        for provider in self._providers:
            if isinstance(provider, SandboxProvider):
                return provider
        return None

    def route_up(self, route: str) -> bool:
        """Whether `route` has a live connection."""
        provider = self._by_route.get(route)
        return provider is not None and provider.route_up(route)

    async def start(self, sink: ProviderSink) -> None:
        """Start every provider (a provider that cannot connect yet keeps trying on its own)."""
        for provider in self._providers:
            await provider.start(sink)

    async def stop(self) -> None:
        """Stop every provider; one failing to stop does not keep the others up."""
        for provider in self._providers:
            with contextlib.suppress(Exception):
                await provider.stop()


async def build(
    configs: Sequence[RouteConfig],
    nc: Any,
    factories: dict[str, Factory],
    *,
    replicas: int = 1,
) -> ProviderSet:
    """One provider per kind named by `configs`, in first-use order."""
    by_kind: dict[str, list[RouteConfig]] = {}
    for config in configs:
        by_kind.setdefault(config.route.provider, []).append(config)
    providers: list[Provider] = []
    for kind, group in by_kind.items():
        if kind == "sandbox":
            providers.append(SandboxProvider(nc, [c.route for c in group], replicas=replicas))
            continue
        factory = factories.get(kind)
        if factory is None:
            raise ValueError(f"no provider of kind {kind!r} is available in this build")
        providers.append(await factory(list(group), nc))
    return ProviderSet([config.route for config in configs], providers)
