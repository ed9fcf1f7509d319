"""Standard Webhooks signing (https://www.standardwebhooks.com), CONTRACT section 7.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (unix seconds) and ``webhook-signature``:
``"v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.".encode() + body))`` where key is the
base64-decoded part of the ``whsec_...`` secret after the prefix. During a secret rotation both
secrets sign and the header holds both signatures separated by one space; a receiver accepts the
delivery when any one of them verifies. The body is signed exactly as sent (for an encrypting
account: the envelope bytes).

Exceptions::

    ValueError
    └── InvalidWebhookSecret
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Final

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_VERSION: Final = "v1"
DEFAULT_TOLERANCE_S: Final = 300
_MAX_TIMESTAMP_DIGITS: Final = 16


class InvalidWebhookSecret(ValueError):
    """A configured signing secret is not base64; signing with a guess would fail every receiver."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: the base64-decoded part after `whsec_` (the prefix is optional)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidWebhookSecret("webhook secret is not whsec_ + standard base64") from None
    if not key:
        raise InvalidWebhookSecret("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The signature `v1,<base64>` of one delivery under one secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: the signature under every secret, joined by one space."""
    if not secrets:
        raise ValueError("at least one webhook secret is needed to sign")
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def webhook_headers(
    secrets: Sequence[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The `webhook-id`, `webhook-timestamp` and `webhook-signature` headers of a delivery."""
    if timestamp is None:
        timestamp = int(time.time())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }


def _parse_timestamp(value: str) -> int | None:
    value = value.strip()
    if not value or len(value) > _MAX_TIMESTAMP_DIGITS or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def verify(  # noqa: PLR0917 - the header values read best in delivery order
    secrets: Sequence[str],
    msg_id: str,
    timestamp_header: str,
    body: bytes,
    signature_header: str,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether any `v1` signature in the header matches any secret, with the timestamp within
    `tolerance_s` of `now` (either way). A mismatch returns False; only a secret that is not
    base64 raises (`InvalidWebhookSecret`), as that is a configuration error."""
    timestamp = _parse_timestamp(timestamp_header)
    if timestamp is None:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    received = [
        sig.encode("utf-8", errors="replace")
        for sig in signature_header.split(" ")
        if sig.startswith(SIGNATURE_VERSION + ",")
    ]
    matched = False
    for secret in secrets:
        expected = sign(secret, msg_id, timestamp, body).encode("ascii")
        for candidate in received:
            matched |= hmac.compare_digest(expected, candidate)
    return matched
