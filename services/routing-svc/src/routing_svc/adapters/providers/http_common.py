"""What the HTTP providers (WhatsApp Cloud API, RBM) share: one pooled client session with
timeouts, `Retry-After` and back-off for put-off sends, each route's health for
`parley_route_up`, and the callback counter.

A route is up until requests to its provider fail without an HTTP answer (connection refused,
reset, timeout) `DOWN_AFTER` times in a row; any HTTP answer, even a 429 or a 500, shows the
network is reachable and brings it up again. Nothing waits on it: routing-svc stays ready and a
put-off send is offered again (CONTRACT section 9); it is what `/metrics` shows.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import aiohttp
import orjson
from parley_runtime.retry_after import parse_retry_after

from routing_svc.domain.channels import CallbackAnswer, Route
from routing_svc.metrics import CALLBACK_ITEMS, CALLBACKS, inc
from routing_svc.ports import ProviderSink

CONNECT_TIMEOUT_S = 5.0
TOTAL_TIMEOUT_S = 15.0
POOL_SIZE = 100  # connections per provider (aiohttp's default); every route shares them
DOWN_AFTER = 3
MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0  # the router never waits longer than this before offering a send again


def new_session(
    connect_s: float = CONNECT_TIMEOUT_S, total_s: float = TOTAL_TIMEOUT_S
) -> aiohttp.ClientSession:
    """One pooled client session (keep-alive, no cookies kept, redirects not followed)."""
    timeout = aiohttp.ClientTimeout(total=total_s, sock_connect=connect_s)
    connector = aiohttp.TCPConnector(limit=POOL_SIZE, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta seconds or an HTTP-date), or None."""
    return parse_retry_after(headers.get("Retry-After"), now or datetime.now(UTC))


class RouteHealth:
    """Per route: whether it is up (`parley_route_up`), and the back-off of put-off sends.

    The back-off is a route-wide pause: the first throttled (or unanswered) request opens a
    window of 0.5 s and every send put off meanwhile waits for its end; a throttled answer
    after the window doubles it (up to 30 s); a good answer resets it. So a burst of concurrent
    sends meeting one 429 wait together instead of escalating each other's delay.
    """

    def __init__(
        self,
        routes: list[str],
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failures = dict.fromkeys(routes, 0)  # requests without an HTTP answer in a row
        self._streak = dict.fromkeys(routes, 0)  # back-off windows opened in a row
        self._until = dict.fromkeys(routes, 0.0)  # end of the current window (monotonic)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._clock = clock

    def up(self, route: str) -> bool:
        """Whether the route's last requests reached its provider."""
        return self._failures.get(route, DOWN_AFTER) < DOWN_AFTER

    def answered(self, route: str, *, throttled: bool = False) -> None:
        """The provider answered (`throttled`: with a 429 or 5xx, or a rate-limit code)."""
        self._failures[route] = 0
        if not throttled:
            self._streak[route], self._until[route] = 0, 0.0

    def unreachable(self, route: str) -> None:
        """A request got no HTTP answer (connection refused or lost, timeout), or no token."""
        self._failures[route] = self._failures.get(route, 0) + 1

    def backoff_s(self, route: str, asked: float | None = None) -> float:
        """How long to put a send off: the provider's `Retry-After` when it gave one, else
        until the end of the route's back-off window (opening or doubling it), ±20% jitter."""
        if asked is not None:
            return min(max(asked, 0.0), MAX_BACKOFF_S)
        now = self._clock()
        if now >= self._until.get(route, 0.0):
            self._streak[route] = streak = self._streak.get(route, 0) + 1
            window = min(MIN_BACKOFF_S * 2 ** min(streak - 1, 10), MAX_BACKOFF_S)
            self._until[route] = now + window
        wait = max(self._until[route] - now, MIN_BACKOFF_S / 10)
        return float(wait * self._rng.uniform(1.0, 1.2))

    def stopped(self) -> None:
        """The provider stopped: its routes have no connection."""
        for route in self._failures:
            self._failures[route] = DOWN_AFTER


def count_callback(route: str, outcome: str) -> None:
    """Count one callback on `route`: `verified`, `refused` (failed verification), `handshake`
    (a webhook set-up), `failed` (not made durable: the provider will resend)."""
    inc(CALLBACKS, route, outcome)


def count_items(route: str, kind: str, n: int = 1) -> None:
    """Count what a verified callback carried: `report`, `message`, `typing`, `ignored`."""
    for _ in range(n):
        inc(CALLBACK_ITEMS, route, kind)


def problem(status: int, kind: str, detail: str) -> CallbackAnswer:
    """An RFC 9457 problem answer to a provider's callback."""
    body = {"type": kind, "title": kind.replace("_", " ").capitalize(), "status": status}
    return CallbackAnswer(
        status, orjson.dumps(body | {"detail": detail}), "application/problem+json"
    )


def is_unsent(exc: BaseException) -> bool:
    """Whether a failed request certainly never reached the provider (it could not connect)."""
    return isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


class HttpProvider:
    """The life of an HTTP provider's routes: one pooled session opened by `start` and closed
    by `stop`, the sink callbacks go to, and each route's health (`route_up`)."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = list(routes)
        self._health = RouteHealth([route.name for route in self._routes])
        self._session: aiohttp.ClientSession | None = None
        self._sink: ProviderSink | None = None

    def routes(self) -> list[Route]:
        """Every route of this provider, in the routes file's order."""
        return list(self._routes)

    async def start(self, sink: ProviderSink) -> None:
        """Open the pooled session; callbacks go to `sink` from now on."""
        self._sink = sink
        self._session = new_session()

    async def stop(self) -> None:
        """Close the session (sends in flight end as put off)."""
        session, self._session = self._session, None
        self._sink = None
        self._health.stopped()
        if session is not None:
            await session.close()

    def route_up(self, route: str) -> bool:
        """Up unless the last requests on the route got no HTTP answer (or, for RBM, no
        token)."""
        return self._session is not None and self._health.up(route)
