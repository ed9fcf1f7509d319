"""Console users' credentials: argon2id password hashes and opaque bearer tokens.

argon2id (argon2-cffi) is memory-hard, so a stolen hash is expensive to brute-force; hashing
runs in a worker thread so it never stalls the event loop. Tokens are 32 random bytes shown
once; only their SHA-256 is stored, so a database dump yields no usable token.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults
# A hash to verify against when the username does not exist, so timing reveals nothing.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))

LOCKOUT_FAILURES = 5
LOCKOUT_MINUTES = 15


async def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches (always does the work, even for an unknown user)."""

    def check() -> bool:
        try:
            return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def new_token() -> str:
    """A fresh opaque bearer token."""
    return "pat_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    """A password for the bootstrap admin when none is given."""
    return secrets.token_urlsafe(18)
