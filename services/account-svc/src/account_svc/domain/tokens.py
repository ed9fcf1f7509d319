"""Console users' bearer tokens and the bootstrap admin's generated password.

Tokens are 32 random bytes shown once; only their SHA-256 is stored, so a database dump yields
no usable token.
"""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """A fresh opaque bearer token."""
    return "pat_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    """A password for the bootstrap admin when none is given."""
    return secrets.token_urlsafe(18)
