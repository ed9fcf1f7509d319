"""The auth callout: the server asks, for each connection without a creds file, who it is.

A plain user/password connection reaches the AUTH account through its `default_sentinel` and
the server sends an authorization request (a JWT) on `$SYS.REQ.USER.AUTH`. `CalloutResponder`
answers each one within the server's auth timeout with a user JWT that places the connection
in its NATS account with its permissions, or with an error (connection refused). Who gets what
is `parley_decider`: the operator credential, or an integrator whose password is the current
API key of an active access account. Passwords are never logged.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from parley_runtime.natsauth import jwt
from parley_runtime.natsauth.authority import Authority
from parley_runtime.natsauth.jwt import Key
from parley_runtime.natsauth.permissions import (
    OPERATOR_USER,
    integrator_permissions,
    operator_permissions,
)

log = structlog.get_logger("parley_runtime.natsauth.callout")

AUTH_SUBJECT = "$SYS.REQ.USER.AUTH"
QUEUE = "parley-callout"
DECIDE_TIMEOUT_S = 1.5  # the server gives up after its auth timeout (2 s by default)
REFUSED = "authorization violation"
ACCOUNT_USER = re.compile(r"acc_[A-Za-z0-9_-]{1,120}")
"""An integrator's user: an access account id, which becomes a subject token."""


@dataclass(frozen=True)
class Request:
    """What the server tells about a connecting client (never logged whole: it has a password)."""

    user_nkey: str
    server_id: str
    user: str
    password: str


@dataclass(frozen=True)
class Grant:
    """A connection admitted: the NATS account it lands in, signed by `signer`."""

    account: str  # public key of the account
    signer: Key  # that account's key or one of its signing keys
    name: str
    permissions: dict[str, Any]


Decide = Callable[[str, str], Awaitable[Grant | None]]
Lookup = Callable[[str], Awaitable[tuple[str, str | None] | None]]
KeyMatches = Callable[[str, str], bool]
Ready = Callable[[str, str], Awaitable[bool]]
"""`ready(account_id, api_key_hash)`: whether the account's NATS side (its account JWT in the
resolver) is made for that key yet."""
READY_WITHIN_S = 1.0
"""How long a connect waits for its account's NATS side (inside `DECIDE_TIMEOUT_S`)."""
READY_STEP_S = 0.02


def parse_request(token: str) -> Request:
    """The fields of an authorization request JWT (its signature is the server's)."""
    claims = jwt.decode(token)
    nats = claims.get("nats") or {}
    if nats.get("type") != "authorization_request":
        raise jwt.JwtError("not an authorization request")
    opts = nats.get("connect_opts") or {}
    return Request(
        user_nkey=str(nats.get("user_nkey", "")),
        server_id=str((nats.get("server_id") or {}).get("id", "")),
        user=str(opts.get("user") or ""),
        password=str(opts.get("pass") or ""),
    )


def response(auth: Key, request: Request, grant: Grant | None, error: str = REFUSED) -> bytes:
    """The signed answer to `request`: the user JWT of `grant`, or `error`."""
    if grant is None:
        claims = jwt.authorization_response(request.user_nkey, request.server_id, error=error)
        return jwt.encode(claims, auth).encode()
    issuer_account = grant.account if grant.signer.public != grant.account else None
    user = jwt.user_claims(
        request.user_nkey, grant.name, grant.permissions, issuer_account=issuer_account
    )
    user_jwt = jwt.encode(user, grant.signer)
    claims = jwt.authorization_response(request.user_nkey, request.server_id, user_jwt=user_jwt)
    return jwt.encode(claims, auth).encode()


def parley_decider(
    authority: Authority,
    lookup: Lookup,
    key_matches: KeyMatches,
    ready: Ready | None = None,
    ready_within: float = READY_WITHIN_S,
) -> Decide:
    """Who Parley admits: the operator credential, and integrators by account id + API key.

    `lookup(account_id)` answers `(status, api_key_hash)` from the source of truth (so a
    replaced key or a deleted account is refused at once); `key_matches(key, hash)` compares
    an API key with its stored hash. With `ready`, a right key is admitted only once its
    account's NATS side is made for it, waited for up to `ready_within` s (refused after
    that): a connect the instant an account is created (or its key replaced) would otherwise
    land in a NATS account the server does not know yet, which it refuses only after ~2 s.
    """

    async def decide(user: str, password: str) -> Grant | None:
        if user == OPERATOR_USER:
            if not authority.operator_password_ok(password):
                return None
            return Grant(
                authority.parley, authority.parley_signing, OPERATOR_USER, operator_permissions()
            )
        if not ACCOUNT_USER.fullmatch(user) or not password:
            return None  # never looked up, and never put into a subject
        key_hash = await admitted_key(user, password)
        if key_hash is None:
            return None
        return Grant(
            authority.tenant_account(user).public,
            authority.tenant_signer(user, key_hash),
            user,
            integrator_permissions(user),
        )

    async def admitted_key(account_id: str, password: str) -> str | None:
        """The key hash of an active account whose current key `password` is, once its NATS
        side is made for it (with `ready`); None otherwise."""
        found = await lookup(account_id)
        if found is None:
            return None
        status, key_hash = found
        if status != "active" or not key_hash or not key_matches(password, key_hash):
            return None
        if ready is not None and not await _until_ready(ready, account_id, key_hash, ready_within):
            log.info("nats_side_not_ready", account_id=account_id)
            return None
        return key_hash

    return decide


async def _until_ready(ready: Ready, account_id: str, key_hash: str, within: float) -> bool:
    """Whether `ready` says yes within `within` s (asked every `READY_STEP_S`)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await ready(account_id, key_hash):
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(READY_STEP_S)
    return True


class CalloutResponder:
    """Answers the server's authorization requests on a connection of the AUTH account."""

    def __init__(self, nc: Any, auth: Key, decide: Decide) -> None:
        self._nc, self._auth, self._decide = nc, auth, decide
        self._sub: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Subscribe (queue group: any replica may answer)."""
        self._sub = await self._nc.subscribe(AUTH_SUBJECT, queue=QUEUE, cb=self._on_request)

    async def stop(self) -> None:
        """Stop answering; let answers in hand finish briefly."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)

    async def _on_request(self, msg: Any) -> None:
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Any) -> None:
        if not msg.reply:
            return
        try:
            request = parse_request(msg.data.decode("ascii"))
        except (jwt.JwtError, UnicodeDecodeError):
            log.warning("auth_request_malformed")
            return
        grant: Grant | None = None
        try:
            async with asyncio.timeout(DECIDE_TIMEOUT_S):
                grant = await self._decide(request.user, request.password)
        except Exception as exc:  # noqa: BLE001 - refused, never admitted, on any failure
            log.warning("auth_decision_failed", error=type(exc).__name__)
        who = request.user if request.user.startswith("acc_") else "other"
        if grant is None:
            log.info("nats_connection_refused", user=who)
        await self._nc.publish(msg.reply, response(self._auth, request, grant))
