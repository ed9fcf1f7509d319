"""Helpers of the end-to-end tests: how they run the platform (`parley_devtools.platform`, the
launcher `make run` and `make chaos` use), an HTTP call, and an independent implementation of
the contract's envelope (CONTRACT 6) and signatures (CONTRACT 7).

The crypto here deliberately does not import `parley_shared`: it is written from the contract
with hashlib, hmac, base64 and cryptography's AESGCM, so a bug shared by the services and the
shared library cannot hide itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from parley_devtools.platform import LOOPBACK_HOSTS, QUICK, Options

ADMIN_PASSWORD = "e2e-bootstrap-password-1"

# ---------------------------------------------------------------------------------------------
# Independent crypto (CONTRACT 6 and 7)

_KEY_BYTES = {"A128GCM": 16, "A256GCM": 32}
_ALG_OF = {"aes-128": "A128GCM", "aes-256": "A256GCM"}
_KEYS: dict[tuple[str, str, int], bytes] = {}


@dataclass(frozen=True)
class EnvelopeKey:
    """One key version as the account answer shows it plus the passphrase the test chose."""

    passphrase: str
    salt_b64: str
    algorithm: str
    version_code: str

    @property
    def alg(self) -> str:
        """The envelope `alg` of this key's algorithm."""
        return _ALG_OF[self.algorithm]

    def key(self) -> bytes:
        """PBKDF2-HMAC-SHA256(passphrase, salt, 600000, 16|32), derived once."""
        length = _KEY_BYTES[self.alg]
        cache_key = (self.passphrase, self.salt_b64, length)
        if cache_key not in _KEYS:
            salt = base64.b64decode(self.salt_b64, validate=True)
            _KEYS[cache_key] = hashlib.pbkdf2_hmac(
                "sha256", self.passphrase.encode("utf-8"), salt, 600_000, dklen=length
            )
        return _KEYS[cache_key]

    def seal(self, plaintext: bytes) -> dict[str, Any]:
        """The envelope of `plaintext`, with a fresh random IV."""
        iv = os.urandom(12)
        aad = f"{self.alg}.{self.version_code}".encode()
        ct = AESGCM(self.key()).encrypt(iv, plaintext, aad)
        return {
            "v": 1,
            "alg": self.alg,
            "kid": self.version_code,
            "salt": self.salt_b64,
            "iv": base64.b64encode(iv).decode(),
            "ct": base64.b64encode(ct).decode(),
        }

    def open(self, envelope: Any) -> bytes:
        """The plaintext of an envelope sealed with this key; asserts its header fields."""
        assert isinstance(envelope, dict), f"not an envelope: {envelope!r}"
        assert set(envelope) == {"v", "alg", "kid", "salt", "iv", "ct"}, envelope
        assert envelope["v"] == 1, envelope
        assert envelope["alg"] == self.alg, envelope
        assert envelope["kid"] == self.version_code, envelope
        assert envelope["salt"] == self.salt_b64, envelope
        iv = base64.b64decode(envelope["iv"], validate=True)
        assert len(iv) == 12, envelope
        aad = f"{envelope['alg']}.{envelope['kid']}".encode()
        ct = base64.b64decode(envelope["ct"], validate=True)
        return AESGCM(self.key()).decrypt(iv, ct, aad)


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> None:
    """Assert a Standard Webhooks `webhook-signature` over `id.timestamp.body` with `secret`."""
    assert secret.startswith("whsec_"), secret
    key = base64.b64decode(secret[len("whsec_") :], validate=True)
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert stamp.isdigit(), stamp
    assert abs(int(stamp) - time.time()) < 300, stamp
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    offered = headers["webhook-signature"].split(" ")
    assert any(hmac.compare_digest(expected, sig) for sig in offered), (
        f"no signature verifies: {offered}"
    )


# ---------------------------------------------------------------------------------------------
# The platform


def options(root: Path, database_url: str | None, env: dict[str, str] | None = None) -> Options:
    """account-svc, routing-svc (sandbox) and webhook-svc on loopback, their data and logs under
    `root`, NATS with authentication on (each service its own creds, account-svc the auth
    callout; CONTRACT section 10), quick outbox and webhook retries; the embedded PostgreSQL
    unless `database_url` names a database; `env`: more for every service (OTEL_*, ...)."""
    settings = {
        **LOOPBACK_HOSTS,
        **QUICK,
        "ROUTING_PROVIDER": "sandbox",
        "WEBHOOK_RETRY_SCHEDULE": "1,1,1",
        "WEBHOOK_BATCH_LINGER_MS": "200",
        **(env or {}),
    }
    return Options(
        data_dir=root, database_url=database_url, admin_password=ADMIN_PASSWORD, settings=settings
    )


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Answer:
    """A status, the raw body and its JSON (None when empty or not JSON)."""

    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body) if self.body else None


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
    *,
    raw: bytes | None = None,
) -> Answer:
    """One request with a JSON body (or `raw` bytes as application/json) and a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with session.request(method, url, data=data, headers=headers) as resp:
        return Answer(
            resp.status, await resp.read(), {k.lower(): v for k, v in resp.headers.items()}
        )
