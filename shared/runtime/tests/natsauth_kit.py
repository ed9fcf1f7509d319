"""A small Parley on an authenticated nats-server, without the services: for NATS-level tests.

`World` holds the streams (made with the admin creds), a callout answering from a dict of
accounts (as account-svc does from PostgreSQL), two integrators' NATS accounts and consumers,
a stand-in for routing-svc's send service, and connections as each service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import RawCredentials
from parley_devtools.nats_auth import AuthNatsServer
from parley_runtime.natsauth import tenants
from parley_runtime.natsauth.authority import Authority
from parley_runtime.natsauth.callout import CalloutResponder, parley_decider
from parley_runtime.natsauth.permissions import inbox_prefix
from parley_shared.streams import ensure_streams

KEYS = {"acc_a": "pk_a", "acc_b": "pk_b"}


def key_hash(key: str) -> str:
    """A stand-in for the peppered hash account-svc stores."""
    return "h:" + key


@dataclass
class Errors:
    """What the server told a connection through `error_cb`."""

    seen: list[str] = field(default_factory=list)

    async def record(self, exc: Exception) -> None:
        """The `error_cb` of a connection."""
        self.seen.append(str(exc))

    async def wait_violation(self) -> str:
        """The first permission violation reported (waits up to 3 s for it)."""
        deadline = asyncio.get_running_loop().time() + 3.0
        while asyncio.get_running_loop().time() < deadline:
            for text in self.seen:
                if "permissions violation" in text.lower():
                    return text
            await asyncio.sleep(0.02)
        raise AssertionError(f"no permission violation reported; saw {self.seen}")


@dataclass
class World:
    """The running pieces; `accounts` is what the callout believes (id -> (status, hash))."""

    server: AuthNatsServer
    authority: Authority
    accounts: dict[str, tuple[str, str | None]]
    admin: Any = None
    system: Any = None
    account_svc: Any = None
    sends: list[tuple[str, str | None]] = field(default_factory=list)
    _closers: list[Any] = field(default_factory=list)

    async def service(self, name: str) -> Any:
        """A connection as a service (its creds, its inbox prefix)."""
        errors = Errors()
        nc = await nats.connect(
            self.server.url,
            user_credentials=str(self.server.files.creds(name)),
            inbox_prefix=inbox_prefix(name),
            error_cb=errors.record,
            allow_reconnect=False,
        )
        nc.errors = errors
        self._closers.append(nc)
        return nc

    async def integrator(self, account_id: str, key: str | None = None, **kw: Any) -> Any:
        """An integrator's connection, as CONTRACT section 10 says to make one."""
        errors = Errors()
        nc = await nats.connect(
            self.server.url,
            user=account_id,
            password=key or KEYS[account_id],
            inbox_prefix=f"_INBOX.{account_id}",
            error_cb=errors.record,
            max_reconnect_attempts=kw.pop("max_reconnect_attempts", 0),
            **kw,
        )
        nc.errors = errors
        self._closers.append(nc)
        return nc

    async def apply(self, account_id: str) -> None:
        """Make the account's NATS side match `accounts` (as account-svc's provisioner does)."""
        status, digest = self.accounts[account_id]
        await tenants.apply_account(
            self.system,
            self.account_svc.jetstream(),
            self.authority,
            account_id,
            digest if status == "active" else None,
        )

    async def close(self) -> None:
        """Close every connection made."""
        for nc in reversed(self._closers):
            with contextlib.suppress(Exception):
                await nc.close()


@contextlib.asynccontextmanager
async def world(server: AuthNatsServer) -> AsyncIterator[World]:
    """Streams, callout, two integrators (acc_a, acc_b) and a send service stand-in."""
    authority = server.files.authority()
    accounts: dict[str, tuple[str, str | None]] = {
        acc: ("active", key_hash(key)) for acc, key in KEYS.items()
    }
    w = World(server, authority, accounts)
    try:
        w.admin = await w.service("admin")
        await ensure_streams(w.admin.jetstream())
        w.system = await nats.connect(
            server.url, user_credentials=RawCredentials(authority.system_creds)
        )
        w._closers.append(w.system)
        callout_nc = await nats.connect(
            server.url, user_credentials=RawCredentials(authority.callout_creds)
        )
        w._closers.append(callout_nc)

        async def lookup(account_id: str) -> tuple[str, str | None] | None:
            return w.accounts.get(account_id)

        decide = parley_decider(authority, lookup, lambda key, digest: key_hash(key) == digest)
        await CalloutResponder(callout_nc, authority.auth, decide).start()
        w.account_svc = await w.service("account-svc")
        for account_id in KEYS:
            await w.apply(account_id)
        routing = await w.service("routing-svc")

        async def answer(msg: Any) -> None:
            w.sends.append((msg.subject, (msg.headers or {}).get("Authorization")))
            await msg.respond(b'{"message_id": "msg_1", "status": "accepted"}')

        await routing.subscribe("parley.api.v1.messages.send.*", queue="routing-svc", cb=answer)
        w.routing = routing  # type: ignore[attr-defined]
        yield w
    finally:
        await w.close()
