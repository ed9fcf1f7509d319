"""Delivery to NATS subjects: `nats://[user:pass@]host[:port]/subject[?jetstream=true]`.

One pooled connection per (server, credentials), made on first use to the address the SSRF
guard checked. It never reconnects by itself: nats-py would also try the servers the target
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
from collections.abc import Mapping
from typing import Any

import nats
import structlog

from webhook_svc import metrics
from webhook_svc.domain.targets import Target, address_allowed
from webhook_svc.ports import Outcome

log = structlog.get_logger("webhook_svc.nats_sender")

TIMEOUT_S = 5.0
REFUSED = "target address not allowed (loopback, private, link-local or reserved)"


class NatsSender:
    """Publishes bodies to customers' NATS servers over pooled connections."""

    def __init__(self, *, allow_private: bool, timeout_s: float = TIMEOUT_S) -> None:
        """No connection until the first delivery to a server."""
        self._allow_private = allow_private
        self._timeout_s = timeout_s
        self._pool: dict[tuple[str, int, str | None, str | None], Any] = {}
        self._locks: dict[tuple[str, int, str | None, str | None], asyncio.Lock] = {}

    async def _address(self, host: str, port: int) -> str | None:
        """A resolved address of `host` the SSRF rule allows, or None."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for info in infos:
            address = str(info[4][0])
            if address_allowed(address, allow_private=self._allow_private):
                return address
        return None

    async def _connection(self, target: Target) -> Any:
        key = (target.host, target.port, target.username, target.password)
        nc = self._pool.get(key)
        if nc is not None and not nc.is_closed:
            return nc
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            nc = self._pool.get(key)
            if nc is not None and not nc.is_closed:
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
            self._pool[key] = nc
            return nc

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
        for nc in self._pool.values():
            try:
                await nc.close()
            except Exception as exc:  # noqa: BLE001 - closing anyway
                log.debug("nats_target_close_failed", error=type(exc).__name__)
        self._pool.clear()


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
