"""Helpers for routing-svc tests: account config events exactly as account-svc publishes them
(from `routing_accounts`), an API client, a collector of status and inbound events, the service
as a real process, and settings. Waiting is `parley_devtools.waiting.eventually`."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict
from parley_devtools.processes import Child, service_process
from parley_devtools.settings_check import known_settings
from parley_devtools.waiting import eventually
from parley_shared import subjects
from routing_accounts import (
    ALL,
    PASSPHRASE,
    Account,
    AccountPublisher,
    account_config,
    allow,
    channel_defaults,
    fallback,
)
from routing_svc.settings import Settings

__all__ = [
    "ALL",
    "NUMBER",
    "PASSPHRASE",
    "Account",
    "AccountPublisher",
    "Api",
    "Events",
    "Routing",
    "account_config",
    "allow",
    "channel_defaults",
    "fallback",
    "make_settings",
    "routing_process",
]

NUMBER = "+919876543210"


def make_settings(nats_url: str, master_key: str, **overrides: Any) -> Settings:
    """Settings for an in-process routing-svc on loopback."""
    values: dict[str, Any] = {
        "NATS_URL": nats_url,
        "PARLEY_MASTER_KEY": master_key,
        "http_host": "127.0.0.1",
        "profile_cache_seconds": 0,
    }
    unknown = set(overrides) - known_settings(Settings)
    assert not unknown, f"not routing-svc settings (extra='ignore' would drop them): {unknown}"
    values.update(overrides)
    return Settings(**values)


# ---------------------------------------------------------------------- API client
@dataclass
class Api:
    """A client of the messaging API."""

    session: aiohttp.ClientSession
    base: str

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send a request; answer (status, JSON body or raw bytes or None). `headers` may be a
        multidict holding a header more than once."""
        hdrs: CIMultiDict[str] = CIMultiDict(headers or {})
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        kwargs: dict[str, Any] = {"headers": hdrs}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            data = await resp.read()
            if not data:
                return resp.status, None
            try:
                return resp.status, orjson.loads(data)
            except orjson.JSONDecodeError:
                return resp.status, data

    async def send(self, account: Account, **body: Any) -> tuple[int, Any]:
        """`POST /v1/messages` for `account` (defaults: SMS to NUMBER)."""
        message = {"to": NUMBER, "channel": "sms", "content": {"text": "Your code is 4821"}}
        message.update(body)
        return await self.call("POST", "/v1/messages", message, key=account.api_key)

    async def sent(self, account: Account, **body: Any) -> str:
        """Send and return the message id (asserting 202)."""
        status, answer = await self.send(account, **body)
        assert status == 202, answer
        return str(answer["message_id"])


# ---------------------------------------------------------------------- events
class Events:
    """Every status and inbound event published while it listens (core NATS subscription)."""

    def __init__(self) -> None:
        self.status: list[dict[str, Any]] = []
        self.inbound: list[dict[str, Any]] = []
        self._subs: list[Any] = []

    async def start(self, nc: Any) -> Events:
        """Subscribe to every account's status and inbound subjects."""

        async def on_status(msg: Any) -> None:
            self.status.append(orjson.loads(msg.data))

        async def on_inbound(msg: Any) -> None:
            self.inbound.append(orjson.loads(msg.data))

        self._subs = [
            await nc.subscribe(subjects.STATUS_ALL, cb=on_status),
            await nc.subscribe(subjects.INBOUND_ALL, cb=on_inbound),
        ]
        await nc.flush()
        return self

    def of(self, message_id: str) -> list[dict[str, Any]]:
        """The status events of one message, in arrival order, without duplicates."""
        seen: set[str] = set()
        out = []
        for event in self.status:
            if event["subject"] == message_id and event["id"] not in seen:
                seen.add(event["id"])
                out.append(event)
        return out

    def kinds(self, message_id: str) -> list[str]:
        """`type` suffixes of one message's events, in order."""
        return [event["type"].rsplit(".", 1)[-1] for event in self.of(message_id)]

    async def final(self, message_id: str, within_s: float = 30.0) -> dict[str, Any]:
        """The message's `final: true` event, once it is there."""
        await eventually(
            lambda: any(e["data"]["final"] for e in self.of(message_id)),
            within_s,
            f"the final event of {message_id}",
        )
        return next(e for e in self.of(message_id) if e["data"]["final"])

    async def wait(self, message_id: str, kind: str, within_s: float = 30.0) -> dict[str, Any]:
        """The first event of `kind` of a message, once it is there."""
        await eventually(
            lambda: kind in self.kinds(message_id), within_s, f"{kind} of {message_id}"
        )
        return next(e for e in self.of(message_id) if e["type"].endswith("." + kind))


@dataclass
class Routing:
    """A running routing-svc and what a test drives it with."""

    api: Api
    accounts: AccountPublisher
    events: Events
    nc: Any
    js: Any
    master_key: str
    nats_url: str
    log: io.StringIO

    async def account(self, *args: Any, **kwargs: Any) -> Account:
        """Publish a new account and wait until the service knows it."""
        account = await self.accounts.create(*args, **kwargs)
        await self.known(account)
        return account

    async def known(self, account: Account) -> None:
        """Wait until the account's key works (any answer but 401 to an authenticated GET)."""

        async def works() -> bool:
            status, _ = await self.api.call("GET", "/v1/messages/msg_none", key=account.api_key)
            return status != 401

        await eventually(works, what="routing-svc to know the account's key")


# ---------------------------------------------------------------------- real processes
def routing_process(nats_url: str, master_key: str, log_dir: Path, **env: str) -> Child:
    """`routing-svc serve` as a child process on a free loopback port (killable); not started
    (`await process.started()`)."""
    settings = {
        "NATS_URL": nats_url,
        "PARLEY_MASTER_KEY": master_key,
        "ROUTING_LOG_LEVEL": "INFO",
        **env,
    }
    return service_process(["routing-svc", "serve"], log_dir, "ROUTING_HTTP_PORT", **settings)
