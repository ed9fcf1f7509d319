"""An integrator's NATS side: its account JWT and its two durable consumers.

`apply_account` makes the NATS side match an access account: for an active one, a pull
consumer named after it on STATUS and on INBOUND, filtered to its subject, then its account
JWT (imports of its own subjects only, and the signing key of its current API key); for a
deleted one,
an account JWT with no signing key and no connection allowed (the server closes every
connection at once), then no consumers and no JWT. Each step is idempotent, so a caller may
repeat it after a crash.
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from parley_shared import subjects

from parley_runtime.natsauth import jwt
from parley_runtime.natsauth.authority import Authority
from parley_runtime.natsauth.permissions import TENANT_STREAMS, tenant_imports

log = structlog.get_logger("parley_runtime.natsauth.tenants")

CLAIMS_UPDATE = "$SYS.REQ.CLAIMS.UPDATE"
CLAIMS_DELETE = "$SYS.REQ.CLAIMS.DELETE"
REQUEST_TIMEOUT_S = 5.0
CONSUMER_MAX_ACK_PENDING = 1000
CONSUMER_ACK_WAIT_S = 30.0


class ClaimsRefused(RuntimeError):
    """The server refused an account JWT (update or delete)."""


def tenant_jwt(authority: Authority, account_id: str, api_key_hash: str | None) -> str:
    """The account JWT of an access account; None as the hash: deleted (nothing may connect)."""
    account = authority.tenant_account(account_id)
    if api_key_hash is None:
        claims = jwt.account_claims(account.public, account_id, max_connections=0)
    else:
        signer = authority.tenant_signer(account_id, api_key_hash)
        claims = jwt.account_claims(
            account.public,
            account_id,
            signing_keys=[signer.public],
            imports=tenant_imports(account_id, authority.parley),
        )
    return jwt.encode(claims, authority.operator_signing)


async def _claims_request(sys_nc: Any, subject: str, token: str) -> None:
    msg = await sys_nc.request(subject, token.encode(), timeout=REQUEST_TIMEOUT_S)
    answer = orjson.loads(msg.data) if msg.data else {}
    if not isinstance(answer, dict) or "error" in answer:
        error = answer.get("error") if isinstance(answer, dict) else None
        description = error.get("description") if isinstance(error, dict) else None
        raise ClaimsRefused(str(description or "the server refused the account claims"))


async def push_account(sys_nc: Any, token: str) -> None:
    """Store an account JWT in the cluster's resolver (it takes effect at once)."""
    await _claims_request(sys_nc, CLAIMS_UPDATE, token)


async def delete_account(sys_nc: Any, authority: Authority, public: str) -> None:
    """Remove an account JWT from the resolver (the resolver must allow deletes)."""
    signer = authority.operator_signing
    claims = {"sub": signer.public, "nats": {"accounts": [public], "type": "generic", "version": 2}}
    await _claims_request(sys_nc, CLAIMS_DELETE, jwt.encode(claims, signer))


def _filter(stream: str, account_id: str) -> str:
    return (
        subjects.status(account_id)
        if stream == subjects.STREAM_STATUS
        else subjects.inbound(account_id)
    )


async def ensure_consumers(js: Any, account_id: str) -> None:
    """The account's durable pull consumers on STATUS and INBOUND (created when missing)."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    for stream in TENANT_STREAMS:
        config = ConsumerConfig(
            name=account_id,
            durable_name=account_id,
            filter_subject=_filter(stream, account_id),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=CONSUMER_ACK_WAIT_S,
            max_ack_pending=CONSUMER_MAX_ACK_PENDING,
        )
        await js.add_consumer(stream, config)


async def remove_consumers(js: Any, account_id: str) -> None:
    """Delete the account's consumers (a missing one is fine)."""
    from nats.js.errors import NotFoundError

    for stream in TENANT_STREAMS:
        try:
            await js.delete_consumer(stream, account_id)
        except NotFoundError:
            continue


async def apply_account(
    sys_nc: Any, js: Any, authority: Authority, account_id: str, api_key_hash: str | None
) -> None:
    """Make the NATS side of one access account match it (None as the hash: deleted).

    The consumers come first and go last: once the account's JWT admits a connection, its
    durable consumers are there to read (a pull request for a missing one gets no answer).
    """
    if api_key_hash is not None:
        await ensure_consumers(js, account_id)
        await push_account(sys_nc, tenant_jwt(authority, account_id, api_key_hash))
        return
    await push_account(sys_nc, tenant_jwt(authority, account_id, None))
    await remove_consumers(js, account_id)
    try:
        await delete_account(sys_nc, authority, authority.tenant_account(account_id).public)
    except ClaimsRefused as exc:  # the disabled JWT stays: nothing can connect with it
        log.warning("account_jwt_delete_refused", account_id=account_id, error=str(exc)[:200])
