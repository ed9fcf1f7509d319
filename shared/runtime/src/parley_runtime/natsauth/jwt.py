"""NATS JWTs (nats-io/jwt v2 claims) encoded and checked over the official `nkeys` library.

Only what Parley needs: operator, account, user and authorization-response claims, signed
with ed25519 nkeys, and reading the authorization requests the server sends to a callout.
`nats-jwt` (PyPI) could not decode its own tokens and accepted a zeroed signature, so the few
claims are encoded here (see shared/reference/nats-auth.md); the server is the judge of the
claims, and the tests run against it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

import nkeys
import orjson
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

OPERATOR = nkeys.PREFIX_BYTE_OPERATOR
ACCOUNT = nkeys.PREFIX_BYTE_ACCOUNT
USER = nkeys.PREFIX_BYTE_USER
_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
_PREFIXES = {"O": OPERATOR, "A": ACCOUNT, "U": USER, "N": nkeys.PREFIX_BYTE_SERVER}


class JwtError(ValueError):
    """A token that is malformed or whose signature does not hold."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Key:
    """An nkey pair (operator, account or user) that signs claims."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self._pair = nkeys.from_seed(seed.encode("ascii"))
        self.public = str(self._pair.public_key.decode("ascii"))

    @classmethod
    def from_raw(cls, raw: bytes, prefix: int) -> Key:
        """The key whose 32-byte ed25519 seed is `raw`."""
        return cls(nkeys.encode_seed(raw, prefix).decode("ascii"))

    @classmethod
    def new(cls, prefix: int) -> Key:
        """A fresh random key."""
        import secrets

        return cls.from_raw(secrets.token_bytes(32), prefix)

    @classmethod
    def derived(cls, secret: bytes, label: str, prefix: int) -> Key:
        """A key that is a pure function of `secret` and `label` (HMAC-SHA256)."""
        return cls.from_raw(hmac.new(secret, label.encode(), hashlib.sha256).digest(), prefix)

    def sign(self, data: bytes) -> bytes:
        """The ed25519 signature of `data`."""
        return bytes(self._pair.sign(data))


def public_key_bytes(public: str) -> bytes:
    """The raw ed25519 key of an encoded public nkey (prefix and CRC checked)."""
    try:
        raw = base64.b32decode(public + "=" * (-len(public) % 8))
    except (binascii.Error, ValueError) as exc:
        raise JwtError("not a public nkey") from exc
    if len(raw) != 35 or raw[0] != _PREFIXES.get(public[:1], -1):
        raise JwtError("not a public nkey")
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    if nkeys.crc16(bytearray(body)) != crc:
        raise JwtError("public nkey checksum mismatch")
    return raw[1:33]


def encode(claims: dict[str, Any], signer: Key) -> str:
    """Sign `claims` (adds `iss`, `iat` unless given, and `jti` as the Go library does)."""
    body = dict(claims)
    body["iss"] = signer.public
    body.setdefault("iat", int(time.time()))
    body.pop("jti", None)
    body["jti"] = base64.b32encode(hashlib.sha256(orjson.dumps(body)).digest()).decode().rstrip("=")
    head = _b64(orjson.dumps(_HEADER)) + "." + _b64(orjson.dumps(body))
    return head + "." + _b64(signer.sign(head.encode("ascii")))


def decode(token: str, verify: bool = True) -> dict[str, Any]:
    """The claims of a token; with `verify`, its signature must hold for its `iss`."""
    try:
        head, body, signature = token.split(".")
        claims = orjson.loads(_unb64(body))
        header = orjson.loads(_unb64(head))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise JwtError("not a JWT") from exc
    if not isinstance(claims, dict) or header.get("alg") not in ("ed25519-nkey", "ed25519"):
        raise JwtError("not a NATS JWT")
    if verify:
        try:
            key = VerifyKey(public_key_bytes(str(claims.get("iss", ""))))
            key.verify(f"{head}.{body}".encode("ascii"), _unb64(signature))
        except (BadSignatureError, ValueError) as exc:
            raise JwtError("bad signature") from exc
    return claims


def operator_claims(operator: Key, signing_key: Key, system_account: str) -> dict[str, Any]:
    """The operator JWT's claims (self-signed; account JWTs are signed by `signing_key`)."""
    return {
        "sub": operator.public,
        "name": "parley",
        "nats": {
            "type": "operator",
            "version": 2,
            "signing_keys": [signing_key.public],
            "system_account": system_account,
        },
    }


def account_claims(
    public: str,
    name: str,
    *,
    jetstream: bool = False,
    signing_keys: list[str] | None = None,
    imports: list[dict[str, Any]] | None = None,
    exports: list[dict[str, Any]] | None = None,
    authorization: dict[str, Any] | None = None,
    max_connections: int = -1,
) -> dict[str, Any]:
    """An account JWT's claims; JetStream is on only with `jetstream` (no limits then)."""
    limits: dict[str, Any] = {
        "subs": -1,
        "data": -1,
        "payload": -1,
        "imports": -1,
        "exports": -1,
        "wildcards": True,
        "conn": max_connections,
        "leaf": 0 if max_connections == 0 else -1,
    }
    if jetstream:
        limits |= {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}
    nats: dict[str, Any] = {
        "type": "account",
        "version": 2,
        "limits": limits,
        "default_permissions": {"pub": {}, "sub": {}},
        "signing_keys": list(signing_keys or []),
        "imports": list(imports or []),
        "exports": list(exports or []),
    }
    if authorization:
        nats["authorization"] = authorization
    return {"sub": public, "name": name, "nats": nats}


def user_claims(
    public: str,
    name: str,
    permissions: dict[str, Any],
    *,
    issuer_account: str | None = None,
    bearer: bool = False,
    expires: int | None = None,
) -> dict[str, Any]:
    """A user JWT's claims with `permissions` ({"pub": {...}, "sub": {...}, "resp"?: {...}})."""
    nats: dict[str, Any] = {
        "type": "user",
        "version": 2,
        "subs": -1,
        "data": -1,
        "payload": -1,
        **permissions,
    }
    if issuer_account:
        nats["issuer_account"] = issuer_account
    if bearer:
        nats["bearer_token"] = True
    claims: dict[str, Any] = {"sub": public, "name": name, "nats": nats}
    if expires is not None:
        claims["exp"] = expires
    return claims


def authorization_response(
    user_nkey: str, server_id: str, *, user_jwt: str | None = None, error: str | None = None
) -> dict[str, Any]:
    """A callout's answer: the user JWT it grants, or the error it refuses with."""
    nats: dict[str, Any] = {"type": "authorization_response", "version": 2}
    if user_jwt is not None:
        nats["jwt"] = user_jwt
    if error is not None:
        nats["error"] = error
    return {"sub": user_nkey, "aud": server_id, "nats": nats}


def creds(user_jwt: str, seed: str) -> str:
    """A `.creds` file (what NATS_CREDS names): the user JWT and its nkey seed."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )
