"""The AES-GCM payload envelope of CONTRACT section 6.

An encrypting account's request and answer bodies (and its webhook bodies) travel as::

    {"v": 1, "alg": "A128GCM"|"A256GCM", "kid": "<version_code>",
     "salt": "<std base64>", "iv": "<std base64, 12 bytes>", "ct": "<std base64, ciphertext||tag>"}

- key = PBKDF2-HMAC-SHA256(passphrase as UTF-8, salt bytes, 600000 iterations, 16 or 32 bytes);
- AAD = UTF-8 of ``alg + "." + kid``; a fresh random 12-byte IV per envelope; 16-byte tag.

The salt is fixed per key version, so a key is derived once per (passphrase, salt, length) and
cached (`derive_key`). `open_envelope` checks the kid, algorithm and salt against the account's
keys *before* deriving anything, so a caller cannot make us run PBKDF2 on a salt of its choosing.

Exceptions::

    ValueError
    └── EnvelopeError
        ├── MalformedEnvelope
        ├── UnknownKeyId
        ├── AlgorithmMismatch
        ├── SaltMismatch
        └── DecryptionFailed
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Final, Literal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Algorithm = Literal["aes-128", "aes-256"]
Alg = Literal["A128GCM", "A256GCM"]

VERSION: Final = 1
PBKDF2_ITERATIONS: Final = 600_000
SALT_BYTES: Final = 16
IV_BYTES: Final = 12
TAG_BYTES: Final = 16
FIELDS: Final = ("v", "alg", "kid", "salt", "iv", "ct")

ALGS: Final[Mapping[Algorithm, Alg]] = {"aes-128": "A128GCM", "aes-256": "A256GCM"}
"""Account setting `algorithm` -> envelope `alg`."""
KEY_BYTES: Final[Mapping[Alg, int]] = {"A128GCM": 16, "A256GCM": 32}
"""Envelope `alg` -> derived key length in bytes."""


class EnvelopeError(ValueError):
    """An envelope could not be opened; the API answers 400 and never accepts it silently."""


class MalformedEnvelope(EnvelopeError):
    """The input is not an envelope of the contract's shape, so nothing about it can be trusted."""


class UnknownKeyId(EnvelopeError):
    """The `kid` names no key version the account holds (unknown, or past its 24 h grace)."""


class AlgorithmMismatch(EnvelopeError):
    """The `alg` is not the one configured for that key version; we never let the sender pick."""


class SaltMismatch(EnvelopeError):
    """The `salt` is not the account's salt for that version; refusing it keeps PBKDF2 unforced."""


class DecryptionFailed(EnvelopeError):
    """The GCM tag did not verify: wrong passphrase, or the envelope was altered in transit."""


def alg_for(algorithm: Algorithm) -> Alg:
    """The envelope `alg` (`A128GCM`/`A256GCM`) of an account `algorithm` (`aes-128`/`aes-256`)."""
    try:
        return ALGS[algorithm]
    except KeyError:
        raise ValueError(f"unknown algorithm {algorithm!r}; expected aes-128 or aes-256") from None


def _b64decode(value: str) -> bytes:
    """Strict standard base64 (with padding); `binascii.Error` on anything else."""
    return base64.b64decode(value.encode("ascii"), validate=True)


def _b64encode(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def new_salt() -> str:
    """A fresh salt for a new key version: 16 random bytes, standard base64 with padding."""
    return _b64encode(os.urandom(SALT_BYTES))


@lru_cache(maxsize=4096)
def derive_key(passphrase: str, salt: bytes, length: int) -> bytes:
    """PBKDF2-HMAC-SHA256(passphrase UTF-8, salt, 600000, length); cached, as it costs ~0.3 s."""
    return hashlib.pbkdf2_hmac(
        "sha256", passphrase.encode("utf-8"), salt, PBKDF2_ITERATIONS, dklen=length
    )


def aad_for(alg: str, kid: str) -> bytes:
    """The additional authenticated data: UTF-8 of `alg + "." + kid`."""
    return f"{alg}.{kid}".encode()


@dataclass(frozen=True)
class KeyVersion:
    """One payload-encryption key version of an account (its `version_code` is the `kid`)."""

    kid: str
    algorithm: Algorithm
    salt_b64: str
    passphrase: str = field(repr=False)

    def __post_init__(self) -> None:
        """Reject a version that could never seal or open anything."""
        if not self.kid:
            raise ValueError("key version kid must not be empty")
        alg_for(self.algorithm)
        try:
            salt = _b64decode(self.salt_b64)
        except (binascii.Error, UnicodeEncodeError):
            raise ValueError("key version salt is not standard base64") from None
        if not salt:
            raise ValueError("key version salt must not be empty")

    @property
    def alg(self) -> Alg:
        """The envelope `alg` of this version."""
        return alg_for(self.algorithm)

    @cached_property
    def salt(self) -> bytes:
        """The decoded salt."""
        return _b64decode(self.salt_b64)

    @cached_property
    def key(self) -> bytes:
        """The derived AES key, kept on this version for as long as it lives (a service holds
        its accounts' versions, so the ~0.3 s derivation happens once per version, whatever
        the number of accounts); `derive_key`'s own cache serves versions built anew."""
        return derive_key(self.passphrase, self.salt, KEY_BYTES[self.alg])


def seal(plaintext: bytes, key: KeyVersion, iv: bytes | None = None) -> dict[str, Any]:
    """The envelope of `plaintext` under `key`; pass `iv` only to reproduce test vectors."""
    if iv is None:
        iv = os.urandom(IV_BYTES)
    elif len(iv) != IV_BYTES:
        raise ValueError(f"iv must be {IV_BYTES} bytes, got {len(iv)}")
    alg = key.alg
    ct = AESGCM(key.key).encrypt(iv, plaintext, aad_for(alg, key.kid))
    return {
        "v": VERSION,
        "alg": alg,
        "kid": key.kid,
        "salt": _b64encode(key.salt),
        "iv": _b64encode(iv),
        "ct": _b64encode(ct),
    }


def seal_bytes(plaintext: bytes, key: KeyVersion, iv: bytes | None = None) -> bytes:
    """The envelope of `plaintext` as compact JSON bytes, ready to send as a body."""
    return orjson.dumps(seal(plaintext, key, iv))


def is_envelope(obj: object) -> bool:
    """Whether `obj` is a dict carrying every envelope field (its values are not checked)."""
    return isinstance(obj, Mapping) and all(name in obj for name in FIELDS)


@dataclass(frozen=True)
class _Parsed:
    alg: Alg
    kid: str
    salt: bytes
    iv: bytes
    ct: bytes


def _parse(envelope: object) -> _Parsed:
    if isinstance(envelope, bytes | bytearray | memoryview | str):
        try:
            envelope = json.loads(bytes(envelope) if not isinstance(envelope, str) else envelope)
        except (ValueError, RecursionError):
            raise MalformedEnvelope("envelope is not valid JSON") from None
    if not isinstance(envelope, Mapping):
        raise MalformedEnvelope("envelope is not a JSON object")
    missing = [name for name in FIELDS if name not in envelope]
    if missing:
        raise MalformedEnvelope(f"envelope lacks {', '.join(missing)}")
    version = envelope["v"]
    if type(version) is not int or version != VERSION:
        raise MalformedEnvelope(f"envelope v must be {VERSION}")
    alg = envelope["alg"]
    if alg not in KEY_BYTES:
        raise MalformedEnvelope("envelope alg must be A128GCM or A256GCM")
    for name in ("kid", "salt", "iv", "ct"):
        if not isinstance(envelope[name], str) or not envelope[name]:
            raise MalformedEnvelope(f"envelope {name} must be a non-empty string")
    decoded: dict[str, bytes] = {}
    for name in ("salt", "iv", "ct"):
        try:
            decoded[name] = _b64decode(envelope[name])
        except (binascii.Error, UnicodeEncodeError):
            raise MalformedEnvelope(f"envelope {name} is not standard base64") from None
    if len(decoded["iv"]) != IV_BYTES:
        raise MalformedEnvelope(f"envelope iv must be {IV_BYTES} bytes")
    if len(decoded["ct"]) < TAG_BYTES:
        raise MalformedEnvelope(f"envelope ct is shorter than the {TAG_BYTES}-byte tag")
    return _Parsed(alg, envelope["kid"], decoded["salt"], decoded["iv"], decoded["ct"])


def open_envelope(envelope: Any, keys: Sequence[KeyVersion]) -> bytes:
    """The plaintext of `envelope` (a dict, or its JSON as bytes/str), opened with the key whose
    `kid` it names; raises an `EnvelopeError` subclass saying why it cannot be opened."""
    parsed = _parse(envelope)
    named = [k for k in keys if k.kid == parsed.kid]
    if not named:
        raise UnknownKeyId(f"envelope kid {parsed.kid[:64]!r} names no key version of the account")
    # A passphrase changed under the same version code leaves two keys with one kid for 24 h;
    # the salt (new with every change) tells them apart.
    key = next((k for k in named if hmac.compare_digest(parsed.salt, k.salt)), None)
    if key is None:
        raise SaltMismatch("envelope salt is not the account's salt for that key version")
    if parsed.alg != key.alg:
        raise AlgorithmMismatch(f"envelope alg {parsed.alg} is not the key version's {key.alg}")
    try:
        return AESGCM(key.key).decrypt(parsed.iv, parsed.ct, aad_for(parsed.alg, parsed.kid))
    except InvalidTag:
        raise DecryptionFailed("envelope did not decrypt: wrong passphrase or altered") from None
