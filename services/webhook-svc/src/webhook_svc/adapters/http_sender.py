"""HTTPS delivery through one pooled aiohttp session, behind an SSRF guard.

- One `ClientSession` per process: keep-alive connections pooled per host, redirects never
  followed (a 3xx is a failure).
- Timeouts (CONTRACT 7: 5 s connect, 15 s total) never count the wait for a free connection
  of the shared pool, so a busy pool cannot fail a healthy receiver: `sock_connect` bounds
  each TCP connect and TLS handshake, and the 15 s deadline is armed by aiohttp's trace hooks
  only once the attempt holds a connection (a pooled one, or the start of a new one, name
  lookup included); it runs until the answer's status line and headers are in.
- The outcome is decided on the status line. The answer's body is then read and dropped, at
  most `MAX_ANSWER_BYTES` for at most `DRAIN_S`; a body that is larger, slower or broken only
  closes that connection instead of returning it to the pool (a 2xx stays delivered).
- The SSRF guard: `GuardedResolver` resolves names and keeps only addresses
  `address_allowed` accepts; aiohttp then connects to exactly those addresses, so a name
  cannot resolve to a public address for the check and a private one for the connection. IP
  literals never reach a resolver in aiohttp, so the sender checks them itself first. With
  `WEBHOOK_ALLOW_PRIVATE_TARGETS` the guard is off and `http://` is allowed.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from webhook_svc import metrics
from webhook_svc.domain.targets import Target, address_allowed, is_ip_literal
from webhook_svc.errors import TargetRefused
from webhook_svc.ports import Outcome

REFUSED = "target address not allowed (loopback, private, link-local or reserved)"
MAX_ANSWER_BYTES = 64 * 1024
DRAIN_S = 1.0


class GuardedResolver(AbstractResolver):
    """Resolves with `inner` and drops every address the SSRF rule forbids."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        """Wrap a resolver (a threaded getaddrinfo one by default)."""
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The allowed addresses of `host`; TargetRefused when there is none."""
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if address_allowed(r["host"], allow_private=False)]
        if not allowed:
            metrics.SSRF_REFUSED.inc()
            raise TargetRefused(f"{host} resolves only to addresses that are not allowed")
        return allowed

    async def close(self) -> None:
        """Close the inner resolver."""
        await self._inner.close()


class _Deadline:
    """An attempt's total timeout, armed when it gets a connection (not while it queues)."""

    __slots__ = ("seconds", "timeout")

    def __init__(self, timeout: asyncio.Timeout, seconds: float) -> None:
        self.timeout = timeout
        self.seconds = seconds

    def arm(self) -> None:
        """Start the clock, once (a new connection's start, or a pooled one's reuse)."""
        if self.timeout.when() is None:
            self.timeout.reschedule(asyncio.get_running_loop().time() + self.seconds)


async def _arm_deadline(_session: aiohttp.ClientSession, ctx: SimpleNamespace, _: object) -> None:
    deadline = ctx.trace_request_ctx
    if isinstance(deadline, _Deadline):
        deadline.arm()


def _deadline_trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_connection_create_start.append(_arm_deadline)
    trace.on_connection_reuseconn.append(_arm_deadline)
    return trace


class HttpSender:
    """POSTs bodies to HTTPS (or, when private targets are allowed, HTTP) endpoints."""

    def __init__(
        self,
        *,
        allow_private: bool,
        connect_timeout_seconds: float = 5.0,
        total_timeout_seconds: float = 15.0,
        pool_size: int = 512,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """Configure; the session is made on first use (inside the event loop)."""
        self._allow_private = allow_private
        # No `total` / `connect`: in aiohttp both include the wait for a pooled connection.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_read=None, sock_connect=connect_timeout_seconds
        )
        self._total_s = total_timeout_seconds
        self._pool_size = pool_size
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver = self._resolver
            if resolver is None and not self._allow_private:
                resolver = GuardedResolver()
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, limit_per_host=0, ttl_dns_cache=10, resolver=resolver
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"user-agent": "parley-webhook/1"},
                auto_decompress=False,
                trace_configs=[_deadline_trace()],
            )
        return self._session

    def refusal(self, target: Target) -> str | None:
        """Why `target` may not be contacted at all, before any I/O; None when it may."""
        if self._allow_private:
            return None
        if target.scheme == "http":
            return "http:// targets are allowed only with WEBHOOK_ALLOW_PRIVATE_TARGETS"
        if is_ip_literal(target.host) and not address_allowed(
            target.host.strip("[]"), allow_private=False
        ):
            metrics.SSRF_REFUSED.inc()
            return REFUSED
        return None

    async def send(self, target: Target, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST `body`; 2xx is delivered, anything else (or no answer) a failure."""
        refusal = self.refusal(target)
        if refusal is not None:
            return Outcome(False, error=refusal)
        started = time.perf_counter()
        session = self._session_now()
        try:
            async with asyncio.timeout(None) as timeout:
                resp = await session.post(
                    target.url,
                    data=body,
                    headers=dict(headers),
                    allow_redirects=False,
                    trace_request_ctx=_Deadline(timeout, self._total_s),
                )
        except Exception as exc:  # noqa: BLE001 - every failure of the target is an outcome
            return Outcome(False, error=_describe(exc), duration_ms=_ms(started))
        finally:
            metrics.child(metrics.ATTEMPT_SECONDS, "http").observe(time.perf_counter() - started)
        duration_ms = _ms(started)
        status = resp.status
        retry_after = resp.headers.get("Retry-After")
        try:
            await _drain(resp)
        finally:
            resp.release()
        ok = 200 <= status < 300
        return Outcome(
            ok,
            status_code=status,
            error=None if ok else f"HTTP {status}",
            retry_after=retry_after,
            duration_ms=duration_ms,
        )

    async def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read and drop the answer's body (bounded); close the connection unless it all came."""
    left = MAX_ANSWER_BYTES + 1
    try:
        async with asyncio.timeout(DRAIN_S):
            while left > 0:
                chunk = await resp.content.read(left)
                if not chunk:
                    return  # the whole body: the connection may go back to the pool
                left -= len(chunk)
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass  # the status decided the outcome already
    resp.close()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _describe(exc: BaseException) -> str:
    """A short error text without the URL (it may hold credentials)."""
    cause: Any = exc
    for _ in range(5):
        if cause is None:
            break
        if isinstance(cause, TargetRefused):
            return REFUSED
        cause = getattr(cause, "os_error", None) or cause.__cause__
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection error: {type(exc.os_error).__name__}"
    if isinstance(exc, aiohttp.ClientError):
        return f"request failed: {type(exc).__name__}"
    return f"request failed: {type(exc).__name__}"
