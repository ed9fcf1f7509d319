"""Who is calling and what they sent: API key, IP restriction and payload envelopes.

The same gate serves HTTP and NATS requests (the IP restriction applies to HTTP only). An
encrypting account's request bodies must be envelopes its current or previous key (24 h)
opens; its 2xx answers are sealed with the current key; problem answers never are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson
from parley_runtime.addresses import Network, client_address
from parley_runtime.bodies import MAX_JSON_DEPTH, too_deep
from parley_shared.envelope import (
    EnvelopeError,
    KeyVersion,
    is_envelope,
    open_envelope,
    seal_bytes,
)
from parley_shared.sealing import API_KEY_PREFIX
from parley_shared.timefmt import now
from pydantic import BaseModel, ValidationError

from routing_svc.domain.accounts import AccountView
from routing_svc.domain.network import ip_allowed
from routing_svc.domain.policy import PolicyRefusal
from routing_svc.domain.requests import pydantic_errors
from routing_svc.errors import (
    REFUSALS,
    DecryptionFailed,
    IpNotAllowed,
    MalformedRequest,
    OutsidePromotionalWindow,
    RoutingSvcError,
    TransientError,
    Unauthorized,
    ValidationFailed,
)
from routing_svc.ports import AccountDirectory

M = TypeVar("M", bound=BaseModel)

API_KEY_SHAPE = re.compile(re.escape(API_KEY_PREFIX) + r"[A-Za-z0-9_-]{1,256}")
"""What an API key can look like: `pk_` and URL-safe base64 (`generate_api_key`), ASCII only."""


def api_key_of(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key of `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    return None


def well_formed(key: str) -> bool:
    """Whether `key` has the shape of an API key; anything else (non-ASCII, or bytes a server
    decoded with surrogateescape) can hold no account and is never hashed."""
    return API_KEY_SHAPE.fullmatch(key) is not None


def refused(exc: PolicyRefusal) -> RoutingSvcError:
    """The problem a policy refusal is answered with."""
    if exc.code == "validation_error":
        return ValidationFailed.at(exc.loc or [], exc.detail)
    errors = [{"loc": exc.loc, "msg": exc.detail, "type": exc.code}] if exc.loc else None
    if exc.code == OutsidePromotionalWindow.type:
        return OutsidePromotionalWindow(exc.detail, errors, exc.extra)
    return REFUSALS[exc.code](exc.detail, errors)


class Gate:
    """Authentication, IP restriction and envelopes for the messaging API."""

    def __init__(self, directory: AccountDirectory, trusted_proxies: Sequence[Network]) -> None:
        self._directory = directory
        self._trusted = tuple(trusted_proxies)

    def authenticate(self, authorization: str | None, x_api_key: str | None) -> AccountView:
        """The account holding the presented API key (401 otherwise, 503 before the view)."""
        key = api_key_of(authorization, x_api_key)
        if key is None:
            raise Unauthorized("an API key is required (Authorization: Bearer, or X-API-Key)")
        if not well_formed(key):
            raise Unauthorized("the API key is not valid")
        account = self._directory.by_api_key(key)
        if account is None:
            if not self._directory.ready.is_set():
                raise TransientError("the account view is loading; retry")
            raise Unauthorized("the API key is not valid")
        return account

    def check_ip(
        self, account: AccountView, peer: str | None, forwarded_for: Sequence[str] | None
    ) -> None:
        """403 `ip_not_allowed` unless the client address passes the account's restriction."""
        if account.ip_allowlist is None:
            return
        address = client_address(peer, forwarded_for, self._trusted, malformed="refuse")
        if not ip_allowed(address, account.ip_allowlist):
            raise IpNotAllowed("the client address is not in the account's IP allowlist")

    def open_body(self, account: AccountView, raw: bytes) -> Any:
        """The request's JSON, opened from its envelope when the account encrypts."""
        data = parse_json(raw)
        if not account.payload_encryption:
            return data
        if not is_envelope(data):
            raise DecryptionFailed("this account encrypts payloads: the body must be an envelope")
        try:
            plain = open_envelope(data, account.payload_keys(now()))
        except EnvelopeError as exc:
            raise DecryptionFailed(str(exc)) from exc
        return parse_json(plain)

    def answer_key(self, account: AccountView) -> KeyVersion | None:
        """The key a 2xx answer is sealed with: the current one (None when the account does not
        encrypt); 503 when an encrypting account has none. A handler that stores something
        takes it before storing, so that an answer it cannot seal is refused before, not after
        (a client retrying the 503 would send twice)."""
        if not account.payload_encryption:
            return None
        keys = account.payload_keys(now())
        if not keys:
            raise TransientError("the account has no payload key")
        return keys[0]

    def seal_answer(
        self, account: AccountView, answer: dict[str, Any], key: KeyVersion | None = None
    ) -> bytes:
        """A 2xx answer's body: an envelope when the account encrypts, under `key` (taken by
        `answer_key` beforehand) or else the current key."""
        body = orjson.dumps(answer)
        if key is None:
            key = self.answer_key(account)
        return body if key is None else seal_bytes(body, key)


def parse_json(raw: bytes) -> Any:
    """A body's JSON (400 `malformed_request` when it is empty, not JSON, or nested deeper
    than `MAX_JSON_DEPTH`)."""
    if not raw.strip():
        raise MalformedRequest("the request body is empty; a JSON object is expected")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest("the body is not valid JSON") from exc
    if too_deep(value):
        raise MalformedRequest(f"the body's JSON nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def validated(model: type[M], data: Any) -> M:
    """`data` validated by `model`; a 422 naming each field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = pydantic_errors(exc.errors(include_url=False, include_input=False))
        raise ValidationFailed("the request is invalid", errors) from exc
