"""Sealing secrets with the master key, API key hashing and secret generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from parley_shared.sealing import (
    InvalidMasterKey,
    MasterKey,
    SealError,
    generate_api_key,
    generate_master_key,
    generate_webhook_secret,
)

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(100, 132))).decode()
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_round_trip() -> None:
    """A sealed secret unseals to the same text with the same aad, including non-ASCII text."""
    key = MasterKey.from_b64(KEY_A)
    for text in [SECRET, "", "pässwörd ✓"]:
        assert key.unseal(key.seal(text, aad="acc_1/passphrase"), aad="acc_1/passphrase") == text


def test_token_format() -> None:
    """A token is s1.<kid>.<urlsafe b64 of nonce and ciphertext>, kid from sha256 of the subkey."""
    key = MasterKey.from_b64(KEY_A)
    token = key.seal("hello")
    prefix, kid, data = token.split(".")
    assert prefix == "s1"
    subkey = HKDF(hashes.SHA256(), 32, None, b"parley seal v1").derive(bytes(range(32)))
    assert kid == hashlib.sha256(subkey).hexdigest()[:8] == key.kid
    assert re.fullmatch(r"[A-Za-z0-9_-]+", data)
    assert len(_b64url_decode(data)) == 12 + len("hello") + 16
    assert key.seal("hello") != token


def test_tamper() -> None:
    """A token with any data byte changed does not unseal."""
    key = MasterKey.from_b64(KEY_A)
    prefix, kid, data = key.seal("secret").split(".")
    raw = bytearray(_b64url_decode(data))
    raw[-1] ^= 0x80
    tampered = f"{prefix}.{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    with pytest.raises(SealError, match="altered"):
        key.unseal(tampered)


@pytest.mark.parametrize(
    "token", ["", "s1", "s1.{kid}", "s2.{kid}.AAAA", "s1..AAAA", "s1.{kid}.!!!", "s1.{kid}.AAAA"]
)
def test_garbage_tokens(token: str) -> None:
    """Strings that are not whole sealed tokens raise SealError, not some other error."""
    key = MasterKey.from_b64(KEY_A)
    with pytest.raises(SealError):
        key.unseal(token.format(kid=key.kid))


def test_wrong_aad() -> None:
    """A token sealed for one aad does not unseal for another, nor for none."""
    key = MasterKey.from_b64(KEY_A)
    token = key.seal("secret", aad="acc_1/webhook")
    with pytest.raises(SealError):
        key.unseal(token, aad="acc_2/webhook")
    with pytest.raises(SealError):
        key.unseal(token)


def test_previous_key_still_opens() -> None:
    """After rotation, tokens of the previous key still unseal and new ones use the current key."""
    old = MasterKey.from_b64(KEY_A)
    token = old.seal("secret", aad="x")
    rotated = MasterKey.from_b64(KEY_B, previous=[KEY_A])
    assert rotated.unseal(token, aad="x") == "secret"
    assert rotated.kids == (MasterKey.from_b64(KEY_B).kid, old.kid)
    assert rotated.seal("secret").split(".")[1] == rotated.kid != old.kid
    with pytest.raises(SealError, match="unknown master key"):
        MasterKey.from_b64(KEY_B).unseal(token, aad="x")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64 at all!", "PARLEY_MASTER_KEY is not standard base64"),
        (
            base64.b64encode(b"short").decode(),
            "PARLEY_MASTER_KEY decodes to 5 bytes; it must be 32",
        ),
        (base64.urlsafe_b64encode(b"\xff" * 32).decode(), "not standard base64"),
    ],
)
def test_invalid_master_key(value: str, message: str) -> None:
    """A master key that is not 32 bytes of standard base64 is refused with the problem named."""
    with pytest.raises(InvalidMasterKey, match=re.escape(message)):
        MasterKey.from_b64(value)


def test_invalid_previous_key_is_named() -> None:
    """A bad previous key is refused and named by its position, without echoing its value."""
    with pytest.raises(InvalidMasterKey, match="previous master key #2") as caught:
        MasterKey.from_b64(KEY_A, previous=[KEY_B, "c2hvcnQ="])
    assert "c2hvcnQ=" not in str(caught.value)


def test_repr_hides_key_material() -> None:
    """A master key's repr shows key ids, never the key."""
    key = MasterKey.from_b64(KEY_A)
    assert KEY_A not in repr(key)
    assert key.kid in repr(key)


def test_generated_formats() -> None:
    """Generated master keys, API keys and webhook secrets have their documented shapes."""
    master = generate_master_key()
    assert len(base64.b64decode(master, validate=True)) == 32
    MasterKey.from_b64(master)

    api_key = generate_api_key()
    assert re.fullmatch(r"pk_[A-Za-z0-9_-]{43}", api_key)
    assert len(_b64url_decode(api_key[3:])) == 32

    secret = generate_webhook_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{32}", secret)
    assert len(base64.b64decode(secret[6:], validate=True)) == 24

    assert generate_api_key() != api_key
    assert generate_webhook_secret() != secret
    assert generate_master_key() != master


def test_api_key_hash() -> None:
    """An API key hash is a stable hex HMAC-SHA256 under the pepper, and differs per master key."""
    key_a = MasterKey.from_b64(KEY_A)
    pepper = HKDF(hashes.SHA256(), 32, None, b"parley api-key pepper v1").derive(bytes(range(32)))
    expected = hmac.new(pepper, b"pk_example", hashlib.sha256).hexdigest()
    assert key_a.hash_api_key("pk_example") == expected
    assert MasterKey.from_b64(KEY_A).hash_api_key("pk_example") == expected
    assert MasterKey.from_b64(KEY_B).hash_api_key("pk_example") != expected
    assert key_a.hash_api_key("pk_other") != expected


def test_api_key_hashes_across_rotation() -> None:
    """After rotation the hashes list the current key's hash first, then the previous key's."""
    old = MasterKey.from_b64(KEY_A)
    new = MasterKey.from_b64(KEY_B)
    rotated = MasterKey.from_b64(KEY_B, previous=[KEY_A])
    assert rotated.api_key_hashes("pk_x") == [new.hash_api_key("pk_x"), old.hash_api_key("pk_x")]
    assert rotated.api_key_matches("pk_x", old.hash_api_key("pk_x"))
    assert rotated.api_key_matches("pk_x", new.hash_api_key("pk_x"))
    assert not rotated.api_key_matches("pk_y", old.hash_api_key("pk_x"))
    assert not new.api_key_matches("pk_x", old.hash_api_key("pk_x"))


def test_a_field_seal_opens_only_for_its_account_and_field() -> None:
    """`seal_field` binds owner and field: moved to another field or account it is refused."""
    key = MasterKey.from_b64(generate_master_key())
    token = key.seal_field("whsec_abc", "acc_1", "webhook_signing_secret")
    assert token.startswith("s2.")
    assert key.unseal_field(token, "acc_1", "webhook_signing_secret") == "whsec_abc"
    with pytest.raises(SealError):
        key.unseal_field(token, "acc_1", "webhooks.status.url")
    with pytest.raises(SealError):
        key.unseal_field(token, "acc_2", "webhook_signing_secret")


def test_a_legacy_token_sealed_with_the_owner_alone_still_opens() -> None:
    """An `s1` token from before fields were bound opens through `unseal_field`, for its
    owner only."""
    key = MasterKey.from_b64(generate_master_key())
    legacy = key.seal("passphrase!", aad="acc_1")
    assert key.unseal_field(legacy, "acc_1", "security.payload_encryption.passphrase") == (
        "passphrase!"
    )
    with pytest.raises(SealError):
        key.unseal_field(legacy, "acc_2", "security.payload_encryption.passphrase")


def test_record_fields_use_a_subkey_per_account_and_day() -> None:
    """`seal_record` tokens name their day, open for their account and field only, and two
    days (or two accounts) are different keys: a token's data re-labelled with another day
    does not open."""
    key = MasterKey.from_b64(generate_master_key())
    token = key.seal_record("+919876543210", "acc_1", "to", "20261206")
    prefix, kid, day, data = token.split(".")
    assert (prefix, kid, day) == ("r1", key.kid, "20261206")
    assert key.unseal_record(token, "acc_1", "to") == "+919876543210"
    for wrong in (("acc_1", "content"), ("acc_2", "to")):
        with pytest.raises(SealError):
            key.unseal_record(token, *wrong)
    with pytest.raises(SealError):
        key.unseal_record(f"r1.{kid}.20261207.{data}", "acc_1", "to")
    legacy = key.seal("hello", aad="acc_1")
    assert key.unseal_record(legacy, "acc_1", "content") == "hello"


def test_record_subkeys_survive_a_master_key_rotation() -> None:
    """A record sealed under the previous master key opens after a rotation."""
    old, new = generate_master_key(), generate_master_key()
    token = MasterKey.from_b64(old).seal_record("text", "acc_1", "content", "20261206")
    rotated = MasterKey.from_b64(new, previous=[old])
    assert rotated.unseal_record(token, "acc_1", "content") == "text"


def test_number_hash_is_keyed_and_stable() -> None:
    """A number's hash is HMAC-SHA256 under the HKDF number key (32 hex digits), the same
    every time, different per number and per master key, and never contains the number."""
    key = MasterKey.from_b64(KEY_A)
    number_key = HKDF(hashes.SHA256(), 32, None, b"parley number v1").derive(bytes(range(32)))
    expected = hmac.new(number_key, b"+919876543210", hashlib.sha256).hexdigest()[:32]
    assert key.number_hash("+919876543210") == expected
    assert key.number_hash("+919876543210") == key.number_hash("+919876543210")
    assert key.number_hash("+919876543211") != expected
    assert MasterKey.from_b64(KEY_B).number_hash("+919876543210") != expected
    assert "9876543210" not in expected


def test_number_hashes_cover_previous_keys() -> None:
    """During a rotation a number is found under the current key's hash first, then the
    previous key's, so entries written before the rotation are still found."""
    rotated = MasterKey.from_b64(KEY_B, previous=[KEY_A])
    old = MasterKey.from_b64(KEY_A).number_hash("+15550100")
    assert rotated.number_hashes("+15550100") == [rotated.number_hash("+15550100"), old]
