"""Secrets at rest and on the bus, sealed with the platform master key; key and secret generation.

`PARLEY_MASTER_KEY` is 32 random bytes in standard base64. Two subkeys are derived from it with
HKDF-SHA256 (no salt): a sealing key (info ``b"parley seal v1"``) and an API-key pepper (info
``b"parley api-key pepper v1"``).

- A sealed secret is ``"s1." + kid + "." + urlsafe_b64(nonce12 || AES-256-GCM ciphertext||tag)``
  (base64 without padding), where kid is the first 8 hex digits of sha256(sealing subkey) and the
  caller's `aad` string (for example the account id and field name) is bound as AAD, so a sealed
  value cannot be moved to another record.
- A secret of a record field is sealed with `seal_field`: ``"s2." + kid + "." + data`` with the
  AAD ``"<owner>|<field>"`` (owner: the account id; field: e.g. ``signing_secret``), so a
  sealed value can be moved neither to another account nor to another field of the same one.
  ``s1`` tokens (AAD = the owner alone, from before fields were bound) still open through
  `unseal_field`; every new seal is ``s2``.
- Message-record fields (numbers, texts: many per second) are sealed with `seal_record` under
  a subkey per owner and UTC day, HKDF-derived from the sealing key (info ``b"parley record
  v1|" + owner + "|" + day``): ``"r1." + kid + "." + day + "." + data``, AAD
  ``"<owner>|<field>"``. No single key then comes near the 2^32 random-nonce limit of AES-GCM
  (a day of one account at 20,000 seals a second is 1.7 x 10^9).
- A phone number that must be found again but not kept (the last-sender map) is stored as its
  keyed hash: hex HMAC-SHA256(number key, number)[:32], the number key HKDF-derived from the
  master key (info ``b"parley number v1"``). Without the master key the hash reveals nothing,
  and a dictionary of every number of a country cannot be run against it. After a rotation,
  look the number up under every hash of `MasterKey.number_hashes`.
- An API key is stored as hex HMAC-SHA256(pepper, api_key). The hash depends on the master key:
  after rotating it, keep the old key in `previous` and look a presented key up under every hash
  of `MasterKey.api_key_hashes` (or re-issue the API keys). Sealed secrets keep opening with the
  previous key too; re-seal them under the current one at leisure.

Exceptions::

    ValueError
    ├── InvalidMasterKey
    └── SealError
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_KEY_BYTES: Final = 32
SEAL_INFO: Final = b"parley seal v1"
PEPPER_INFO: Final = b"parley api-key pepper v1"
NUMBER_INFO: Final = b"parley number v1"
NUMBER_HASH_HEX: Final = 32
SEAL_PREFIX: Final = "s1"
FIELD_PREFIX: Final = "s2"
RECORD_PREFIX: Final = "r1"
RECORD_INFO: Final = b"parley record v1|"
RECORD_KEY_CACHE: Final = 4096
NONCE_BYTES: Final = 12
API_KEY_PREFIX: Final = "pk_"
WEBHOOK_SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix, not a secret


class InvalidMasterKey(ValueError):
    """The configured master key is unusable; the service must refuse to start rather than guess."""


class SealError(ValueError):
    """A sealed token cannot be opened: unknown key id, altered, or sealed for another `aad`."""


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def _decode_master_key(value: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidMasterKey(
            f"{name} is not standard base64; generate one with generate_master_key()"
        ) from None
    if len(raw) != MASTER_KEY_BYTES:
        raise InvalidMasterKey(
            f"{name} decodes to {len(raw)} bytes; it must be {MASTER_KEY_BYTES} random bytes"
        )
    return raw


@dataclass(frozen=True)
class _Subkeys:
    kid: str
    seal_key: bytes = field(repr=False)
    pepper: bytes = field(repr=False)
    number_key: bytes = field(repr=False)

    @classmethod
    def derive(cls, master: bytes) -> _Subkeys:
        seal_key = _hkdf(master, SEAL_INFO)
        kid = hashlib.sha256(seal_key).hexdigest()[:8]
        return cls(
            kid=kid,
            seal_key=seal_key,
            pepper=_hkdf(master, PEPPER_INFO),
            number_key=_hkdf(master, NUMBER_INFO),
        )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)


PAYLOAD_PASSPHRASE_FIELD: Final = "security.payload_encryption.passphrase"  # noqa: S105
SIGNING_SECRET_FIELD: Final = "webhook_signing_secret"  # noqa: S105 - a field name


def webhook_passphrase_field(kind: str) -> str:
    """The sealed field of a webhook's encryption passphrase (`status`, `user_initiated`)."""
    return f"webhooks.{kind}.encryption.passphrase"


def webhook_url_field(kind: str) -> str:
    """The sealed field of a webhook URL that carries credentials."""
    return f"webhooks.{kind}.url"


def field_aad(owner: str, field: str) -> str:
    """The AAD binding a sealed value to its owner (account) and field."""
    return f"{owner}|{field}"


class MasterKey:
    """The platform master key, plus previous ones that still open and verify during rotation."""

    __slots__ = ("_keys", "_record_keys")

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        """Build from raw 32-byte keys; `from_b64` is the usual way in."""
        keys: list[_Subkeys] = []
        for raw in (current, *previous):
            if len(raw) != MASTER_KEY_BYTES:
                raise InvalidMasterKey(f"a master key must be {MASTER_KEY_BYTES} bytes")
            sub = _Subkeys.derive(raw)
            if all(sub.kid != k.kid for k in keys):
                keys.append(sub)
        self._keys: tuple[_Subkeys, ...] = tuple(keys)
        self._record_keys: dict[tuple[str, str, str], AESGCM] = {}

    @classmethod
    def from_b64(cls, current: str, previous: Sequence[str] = ()) -> MasterKey:
        """Build from `PARLEY_MASTER_KEY` and optional previous keys (standard base64 each)."""
        raw_current = _decode_master_key(current, "PARLEY_MASTER_KEY")
        raw_previous = [
            _decode_master_key(value, f"previous master key #{n}")
            for n, value in enumerate(previous, start=1)
        ]
        return cls(raw_current, raw_previous)

    def __repr__(self) -> str:
        """The key ids only, never key material."""
        return f"MasterKey(kids={list(self.kids)!r})"

    @property
    def kid(self) -> str:
        """The id of the current key: the first 8 hex digits of sha256 of its sealing subkey."""
        return self._keys[0].kid

    @property
    def kids(self) -> tuple[str, ...]:
        """The ids of the current key, then of each previous one."""
        return tuple(k.kid for k in self._keys)

    def seal_field(self, plaintext: str, owner: str, field: str) -> str:
        """Seal a secret of `owner`'s record field `field` (AAD `owner|field`): `s2...`."""
        current = self._keys[0]
        nonce = os.urandom(NONCE_BYTES)
        aad = field_aad(owner, field).encode()
        ct = AESGCM(current.seal_key).encrypt(nonce, plaintext.encode(), aad)
        return f"{FIELD_PREFIX}.{current.kid}.{_b64url(nonce + ct)}"

    def unseal_field(self, token: str, owner: str, field: str) -> str:
        """Open a `seal_field` token of `owner`'s `field` (an `s1` one, sealed before fields
        were bound, opens with the owner alone as AAD)."""
        if token.startswith(SEAL_PREFIX + "."):
            return self.unseal(token, aad=owner)
        return self._open(token, FIELD_PREFIX, field_aad(owner, field))

    def seal_record(self, plaintext: str, owner: str, field: str, day: str) -> str:
        """Seal a message-record field under `owner`'s subkey of UTC `day` (`YYYYMMDD`)."""
        current = self._keys[0]
        nonce = os.urandom(NONCE_BYTES)
        aad = field_aad(owner, field).encode()
        ct = self._record_key(current, owner, day).encrypt(nonce, plaintext.encode(), aad)
        return f"{RECORD_PREFIX}.{current.kid}.{day}.{_b64url(nonce + ct)}"

    def unseal_record(self, token: str, owner: str, field: str) -> str:
        """Open a `seal_record` token (an `s1` one, from before record subkeys, opens with the
        owner alone as AAD)."""
        if token.startswith(SEAL_PREFIX + "."):
            return self.unseal(token, aad=owner)
        prefix, kid, day, body = [*token.split(".", 3), "", "", ""][:4]
        if prefix != RECORD_PREFIX or not kid or not body or not day.isdigit() or len(day) != 8:
            raise SealError("not a sealed record field (expected r1.<kid>.<day>.<data>)")
        key = self._subkeys(kid)
        data = _token_data(body)
        try:
            raw = self._record_key(key, owner, day).decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], field_aad(owner, field).encode()
            )
        except InvalidTag:
            raise SealError("sealed field was altered or belongs to another record") from None
        return _text(raw)

    def _record_key(self, key: _Subkeys, owner: str, day: str) -> AESGCM:
        cache_key = (key.kid, owner, day)
        found = self._record_keys.get(cache_key)
        if found is None:
            if len(self._record_keys) >= RECORD_KEY_CACHE:
                self._record_keys.pop(next(iter(self._record_keys)))
            info = RECORD_INFO + owner.encode() + b"|" + day.encode()
            found = self._record_keys[cache_key] = AESGCM(_hkdf(key.seal_key, info))
        return found

    def _subkeys(self, kid: str) -> _Subkeys:
        key = next((k for k in self._keys if k.kid == kid), None)  # key ids are not secret
        if key is None:
            raise SealError(f"sealed under unknown master key id {kid[:16]!r}")
        return key

    def _open(self, token: str, expected: str, aad: str) -> str:
        prefix, _, rest = token.partition(".")
        kid, _, body = rest.partition(".")
        if prefix != expected or not kid or not body:
            raise SealError(f"not a sealed token (expected {expected}.<kid>.<data>)")
        key = self._subkeys(kid)
        data = _token_data(body)
        try:
            raw = AESGCM(key.seal_key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad.encode())
        except InvalidTag:
            raise SealError("sealed token was altered or sealed for another aad") from None
        return _text(raw)

    def seal(self, plaintext: str, aad: str = "") -> str:
        """Seal `plaintext` under the current key, bound to `aad`: `s1.<kid>.<urlsafe b64>`."""
        current = self._keys[0]
        nonce = os.urandom(NONCE_BYTES)
        ct = AESGCM(current.seal_key).encrypt(nonce, plaintext.encode(), aad.encode())
        return f"{SEAL_PREFIX}.{current.kid}.{_b64url(nonce + ct)}"

    def unseal(self, token: str, aad: str = "") -> str:
        """The plaintext of a `seal` token made under the current or a previous key."""
        return self._open(token, SEAL_PREFIX, aad)

    def hash_api_key(self, api_key: str) -> str:
        """The stored form of an API key: hex HMAC-SHA256 with the current key's pepper."""
        return _hmac_hex(self._keys[0].pepper, api_key)

    def api_key_hashes(self, api_key: str) -> list[str]:
        """The hash of `api_key` under the current key, then under each previous key."""
        return [_hmac_hex(k.pepper, api_key) for k in self._keys]

    def number_hash(self, number: str) -> str:
        """The keyed hash a phone number is stored under instead of the number (current key)."""
        return _hmac_hex(self._keys[0].number_key, number)[:NUMBER_HASH_HEX]

    def number_hashes(self, number: str) -> list[str]:
        """The keyed hash of `number` under the current key, then under each previous key."""
        return [_hmac_hex(k.number_key, number)[:NUMBER_HASH_HEX] for k in self._keys]

    def api_key_matches(self, api_key: str, stored_hash: str) -> bool:
        """Whether `api_key` hashes to `stored_hash` under any key (constant-time compare)."""
        stored = stored_hash.encode("ascii", errors="replace")
        matched = False
        for candidate in self.api_key_hashes(api_key):
            matched |= hmac.compare_digest(candidate.encode("ascii"), stored)
        return matched


def _token_data(body: str) -> bytes:
    try:
        data = _unb64url(body)
    except (binascii.Error, UnicodeEncodeError):
        raise SealError("sealed token data is not urlsafe base64") from None
    if len(data) < NONCE_BYTES + 16:
        raise SealError("sealed token is too short")
    return data


def _text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise SealError("sealed token does not hold UTF-8 text") from None


def _hmac_hex(key: bytes, api_key: str) -> str:
    return hmac.new(key, api_key.encode(), hashlib.sha256).hexdigest()


def generate_master_key() -> str:
    """A new `PARLEY_MASTER_KEY`: 32 random bytes, standard base64."""
    return base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode("ascii")


def generate_api_key() -> str:
    """A new API key: `pk_` + 32 random bytes, urlsafe base64 without padding."""
    return API_KEY_PREFIX + _b64url(secrets.token_bytes(32))


def generate_webhook_secret() -> str:
    """A new webhook signing secret: `whsec_` + standard base64 of 24 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
