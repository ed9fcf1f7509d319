"""Delivery to NATS subjects: `nats://[user:pass@]host[:port]/subject[?jetstream=true]`.

One pooled connection per (account, server, credentials), made on first use to the address
the SSRF guard checked. The pool is bounded: a connection unused for `idle_s` is closed (a
sweep every `idle_s / 4`, at most 30 s); so is an account's once its config changes (a newer
version may name other credentials or a host that now resolves elsewhere, to be checked
again) or it is deleted; and when `max_size` connections are open, the least recently used
one makes room for a new one. A connection closed under a publish fails that attempt, which
is retried like any failure.

A connection never reconnects by itself: nats-py would also try the servers the target
announces in its INFO (`connect_urls`), which the guard never saw, so a target could steer us
to a loopback or private address. Once closed, it is made again, guarded, on the next
delivery. The headers of an HTTPS delivery travel as NATS headers. A core publish counts as
delivered once flushed to the server; with `?jetstream=true` the publish waits for the
JetStream ack, and a missing stream or a timeout is a failure that is retried like any other.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nats
import structlog

from webhook_svc import metrics
from webhook_svc.domain.targets import Target, address_allowed
from webhook_svc.ports import Outcome

log = structlog.get_logger("webhook_svc.nats_sender")

TIMEOUT_S = 5.0
IDLE_S = 300.0
MAX_SIZE = 256
SWEEP_MAX_S = 30.0
REFUSED = "target address not allowed (loopback, private, link-local or reserved)"


Key = tuple[str, str, int, str | None, str | None]  # account, host, port, user, password


@dataclass(slots=True)
class _Pooled:
    nc: Any
    version: int
    used: float  # monotonic time of its last use


class NatsSender:
    """Publishes bodies to customers' NATS servers over pooled connections."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_s: float = TIMEOUT_S,
        idle_s: float = IDLE_S,
        max_size: int = MAX_SIZE,
    ) -> None:
        """No connection until the first delivery to a server."""
        self._allow_private = allow_private
        self._timeout_s = timeout_s
        self._idle_s = idle_s
        self._max_size = max_size
        self._pool: OrderedDict[Key, _Pooled] = OrderedDict()  # least recently used first
        self._locks: dict[Key, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        metrics.NATS_TARGET_CONNECTIONS.set_function(lambda: len(self._pool))

    @property
    def size(self) -> int:
        """Connections in the pool."""
        return len(self._pool)

    async def _address(self, host: str, port: int) -> str | None:
        """A resolved address of `host` the SSRF rule allows, or None."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for info in infos:
            address = str(info[4][0])
            if address_allowed(address, allow_private=self._allow_private):
                return address
        return None

    def _pooled(self, key: Key, version: int) -> Any:
        """The pooled connection for `key`, when it is open and not older than `version`."""
        pooled = self._pool.get(key)
        if pooled is None:
            return None
        if pooled.nc.is_closed or pooled.version < version:
            self._evict(key, "closed" if pooled.nc.is_closed else "config_changed")
            return None
        pooled.used = time.monotonic()
        self._pool.move_to_end(key)
        return pooled.nc

    async def _connection(self, target: Target) -> Any:
        key = (target.account_id, target.host, target.port, target.username, target.password)
        nc = self._pooled(key, target.version)
        if nc is not None:
            return nc
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            nc = self._pooled(key, target.version)
            if nc is not None:
                return nc
            address = await self._address(target.host, target.port)
            if address is None:
                metrics.SSRF_REFUSED.inc()
                raise PermissionError(REFUSED)
            host = f"[{address}]" if ":" in address else address
            connecting = nats.connect(
                servers=[f"nats://{host}:{target.port}"],
                user=target.username,
                password=target.password,
                connect_timeout=self._timeout_s,
                allow_reconnect=False,  # see the module docstring: only guarded addresses
                name="parley-webhook-svc",
                error_cb=_quiet,
            )
            nc = await asyncio.wait_for(connecting, timeout=2 * self._timeout_s)
            self._evict(key, "replaced")  # one made meanwhile under a lock since dropped
            while len(self._pool) >= self._max_size:
                self._evict(next(iter(self._pool)), "pool_full")
            self._pool[key] = _Pooled(nc, target.version, time.monotonic())
            self._start_sweeping()
            return nc

    def _evict(self, key: Key, reason: str) -> None:
        """Remove a connection from the pool and close it in the background."""
        pooled = self._pool.pop(key, None)
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]
        if pooled is None:
            return
        metrics.child(metrics.NATS_TARGET_EVICTIONS, reason).inc()
        log.debug("nats_target_evicted", account_id=key[0], reason=reason)
        task = asyncio.get_running_loop().create_task(_close(pooled.nc))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def account_changed(self, account_id: str, version: int | None) -> None:
        """Close the account's connections made for a config older than `version` (all of
        them when `version` is None: the account was deleted or is no longer usable)."""
        for key, pooled in list(self._pool.items()):
            if key[0] == account_id and (version is None or pooled.version < version):
                self._evict(key, "account_deleted" if version is None else "config_changed")

    def evict_idle(self, now: float | None = None) -> None:
        """Close every connection unused for `idle_s`."""
        limit = (time.monotonic() if now is None else now) - self._idle_s
        for key, pooled in list(self._pool.items()):
            if pooled.used <= limit:
                self._evict(key, "idle")

    def _start_sweeping(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        period = min(self._idle_s / 4, SWEEP_MAX_S)
        while self._pool:
            await asyncio.sleep(period)
            self.evict_idle()

    async def send(self, target: Target, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """Publish `body` to the target's subject (with a JetStream ack when asked)."""
        started = time.perf_counter()
        try:
            nc = await self._connection(target)
            if target.jetstream:
                await nc.jetstream(timeout=self._timeout_s).publish(
                    target.subject, body, headers=dict(headers), timeout=self._timeout_s
                )
            else:
                await nc.publish(target.subject, body, headers=dict(headers))
                await nc.flush(timeout=self._timeout_s)
        except PermissionError as exc:
            return Outcome(False, error=str(exc), duration_ms=_ms(started))
        except Exception as exc:  # noqa: BLE001 - every failure of the target is an outcome
            return Outcome(False, error=_describe(exc), duration_ms=_ms(started))
        finally:
            metrics.ATTEMPT_SECONDS.labels("nats").observe(time.perf_counter() - started)
        return Outcome(True, duration_ms=_ms(started))

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for pooled in self._pool.values():
            await _close(pooled.nc)
        self._pool.clear()
        self._locks.clear()
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=self._timeout_s)


async def _close(nc: Any) -> None:
    try:
        await nc.close()
    except Exception as exc:  # noqa: BLE001 - closing anyway
        log.debug("nats_target_close_failed", error=type(exc).__name__)


async def _quiet(exc: Exception) -> None:
    log.debug("nats_target_error", error=type(exc).__name__)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, nats.js.errors.NoStreamResponseError):
        return "jetstream: no stream takes the subject"
    if isinstance(exc, nats.js.errors.APIError):
        return f"jetstream error: {exc.description or name}"
    if isinstance(exc, asyncio.TimeoutError | nats.errors.TimeoutError):
        return "timeout"
    return f"nats error: {name}"
