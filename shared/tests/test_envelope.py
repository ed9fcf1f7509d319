"""The AES-GCM payload envelope of CONTRACT section 6."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from parley_shared import envelope
from parley_shared.envelope import (
    AlgorithmMismatch,
    DecryptionFailed,
    EnvelopeError,
    KeyVersion,
    MalformedEnvelope,
    SaltMismatch,
    UnknownKeyId,
    is_envelope,
    new_salt,
    open_envelope,
    seal,
    seal_bytes,
)

SALT = base64.b64encode(bytes(range(16))).decode()
OTHER_SALT = base64.b64encode(bytes(range(16, 32))).decode()
PASSPHRASE = "correct horse battery staple"
BODY = b'{"specversion":"1.0","id":"evt_1","type":"parley.message.delivered"}'
KEY_128 = KeyVersion("v1", "aes-128", SALT, PASSPHRASE)
KEY_256 = KeyVersion("v2", "aes-256", SALT, PASSPHRASE)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _with(env: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**env, **changes}


@pytest.mark.parametrize("key", [KEY_128, KEY_256], ids=["A128GCM", "A256GCM"])
def test_round_trip(key: KeyVersion) -> None:
    """A sealed body opens back to the same bytes, for both algorithms, from dict, bytes and str."""
    env = seal(BODY, key)
    assert env["alg"] == {"aes-128": "A128GCM", "aes-256": "A256GCM"}[key.algorithm]
    assert env["v"] == 1
    assert env["kid"] == key.kid
    assert env["salt"] == SALT
    assert open_envelope(env, [key]) == BODY
    raw = seal_bytes(BODY, key)
    assert open_envelope(raw, [key]) == BODY
    assert open_envelope(raw.decode(), [key]) == BODY


def test_key_is_selected_by_kid() -> None:
    """With two key versions held, each envelope opens with the version its kid names."""
    other = KeyVersion("v9", "aes-256", OTHER_SALT, "another passphrase!")
    keys = [KEY_128, other]
    assert open_envelope(seal(b"a", KEY_128), keys) == b"a"
    assert open_envelope(seal(b"b", other), keys) == b"b"


def test_algorithm_mapping() -> None:
    """Account algorithms map to envelope algs and an unknown one is refused."""
    assert envelope.alg_for("aes-128") == "A128GCM"
    assert envelope.alg_for("aes-256") == "A256GCM"
    with pytest.raises(ValueError, match="aes-192"):
        envelope.alg_for("aes-192")  # type: ignore[arg-type]


def test_unknown_kid() -> None:
    """An envelope naming a version the account does not hold raises UnknownKeyId."""
    env = seal(BODY, KEY_128)
    with pytest.raises(UnknownKeyId):
        open_envelope(env, [KEY_256])


def test_wrong_salt() -> None:
    """An envelope whose salt is not the version's salt raises SaltMismatch."""
    env = _with(seal(BODY, KEY_128), salt=OTHER_SALT)
    with pytest.raises(SaltMismatch):
        open_envelope(env, [KEY_128])


def test_wrong_alg() -> None:
    """An envelope claiming another alg than the version's raises AlgorithmMismatch."""
    env = _with(seal(BODY, KEY_128), alg="A256GCM")
    with pytest.raises(AlgorithmMismatch):
        open_envelope(env, [KEY_128])


def test_flipped_ciphertext_bit() -> None:
    """A single flipped bit in the ciphertext fails the tag check."""
    env = seal(BODY, KEY_128)
    ct = bytearray(base64.b64decode(env["ct"]))
    ct[0] ^= 1
    with pytest.raises(DecryptionFailed):
        open_envelope(_with(env, ct=_b64(bytes(ct))), [KEY_128])


def test_flipped_aad() -> None:
    """An envelope relabelled with another kid fails even when that kid's key is the same key."""
    twin = KeyVersion("v1-twin", "aes-128", SALT, PASSPHRASE)
    env = _with(seal(BODY, KEY_128), kid="v1-twin")
    with pytest.raises(DecryptionFailed):
        open_envelope(env, [twin])


def test_wrong_passphrase() -> None:
    """The right kid, alg and salt with another passphrase fails the tag check."""
    imposter = KeyVersion("v1", "aes-128", SALT, "not the passphrase")
    with pytest.raises(DecryptionFailed):
        open_envelope(seal(BODY, KEY_128), [imposter])


def test_truncated_ct() -> None:
    """A ciphertext shorter than the 16-byte tag is malformed; one cut by a byte fails the tag."""
    env = seal(BODY, KEY_128)
    ct = base64.b64decode(env["ct"])
    with pytest.raises(MalformedEnvelope, match="tag"):
        open_envelope(_with(env, ct=_b64(ct[:15])), [KEY_128])
    with pytest.raises(DecryptionFailed):
        open_envelope(_with(env, ct=_b64(ct[:-1])), [KEY_128])


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": True},
        {"v": "1"},
        {"alg": "A192GCM"},
        {"kid": 1},
        {"kid": ""},
        {"iv": base64.b64encode(b"\0" * 16).decode()},
        {"iv": "not base64!"},
        {"salt": "AAA"},
        {"ct": None},
    ],
    ids=repr,
)
def test_malformed_fields(change: dict[str, Any]) -> None:
    """A wrong version or alg, ill-typed fields, bad base64 or a wrong IV size is malformed."""
    env = _with(seal(BODY, KEY_128), **change)
    with pytest.raises(MalformedEnvelope):
        open_envelope(env, [KEY_128])


@pytest.mark.parametrize("value", [[1, 2], "not json", b"[]", 7, {"v": 1}])
def test_malformed_shapes(value: object) -> None:
    """Non-objects, invalid JSON and objects lacking fields are malformed (a ValueError)."""
    with pytest.raises(MalformedEnvelope) as caught:
        open_envelope(value, [KEY_128])
    assert isinstance(caught.value, EnvelopeError)
    assert isinstance(caught.value, ValueError)


def test_fresh_iv_per_envelope() -> None:
    """Sealing the same body twice uses two different IVs and so two different ciphertexts."""
    first, second = seal(BODY, KEY_256), seal(BODY, KEY_256)
    assert first["iv"] != second["iv"]
    assert first["ct"] != second["ct"]
    assert len(base64.b64decode(first["iv"])) == 12


def test_explicit_iv_is_used_and_checked() -> None:
    """An explicit IV is what the envelope carries, and one not 12 bytes long is refused."""
    env = seal(BODY, KEY_128, iv=b"\x01" * 12)
    assert env["iv"] == _b64(b"\x01" * 12)
    with pytest.raises(ValueError, match="12 bytes"):
        seal(BODY, KEY_128, iv=b"\x01" * 8)


def test_key_derivation_is_cached() -> None:
    """Two seals and an open under one version run PBKDF2 once and do not even consult the
    shared cache again: the key stays on the version."""
    key = KeyVersion("cache", "aes-256", new_salt(), "a passphrase used once")
    before = envelope.derive_key.cache_info()
    seal(BODY, key)
    open_envelope(seal(BODY, key), [key])
    after = envelope.derive_key.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 0


def test_a_version_keeps_its_key_when_the_shared_cache_is_cleared() -> None:
    """Evicted from the process-wide cache (more versions than it holds), a version still
    does not derive again."""
    key = KeyVersion("held", "aes-128", new_salt(), "a passphrase kept long")
    first = key.key
    envelope.derive_key.cache_clear()
    before = envelope.derive_key.cache_info().misses
    seal(BODY, key)
    assert key.key == first
    assert envelope.derive_key.cache_info().misses == before


def test_rejects_before_deriving() -> None:
    """A wrong salt is refused without running PBKDF2 for the attacker's salt."""
    key = KeyVersion("fresh", "aes-128", new_salt(), "another passphrase")
    before = envelope.derive_key.cache_info().misses
    with pytest.raises(SaltMismatch):
        open_envelope(
            {"v": 1, "alg": "A128GCM", "kid": "fresh", "salt": OTHER_SALT, "iv": _b64(b"\0" * 12),
             "ct": _b64(b"\0" * 32)},
            [key],
        )  # fmt: skip
    assert envelope.derive_key.cache_info().misses == before


def test_new_salt() -> None:
    """A new salt is 16 random bytes in standard base64 with padding."""
    salt = new_salt()
    assert len(base64.b64decode(salt, validate=True)) == 16
    assert salt.endswith("==")
    assert salt != new_salt()


def test_key_version_hides_passphrase_and_checks_salt() -> None:
    """A key version never shows its passphrase in repr and refuses a salt that is not base64."""
    assert PASSPHRASE not in repr(KEY_128)
    with pytest.raises(ValueError, match="salt"):
        KeyVersion("v1", "aes-128", "not base64!", PASSPHRASE)


def test_is_envelope() -> None:
    """Only a dict carrying all six fields is taken for an envelope."""
    assert is_envelope(seal(BODY, KEY_128))
    assert not is_envelope({"v": 1, "alg": "A128GCM", "kid": "v1", "salt": "", "iv": ""})
    assert not is_envelope(json.loads(BODY))
    assert not is_envelope([seal(BODY, KEY_128)])
    assert not is_envelope(seal_bytes(BODY, KEY_128))


@pytest.mark.parametrize(("algorithm", "length"), [("aes-128", 16), ("aes-256", 32)])
def test_matches_independent_implementation(algorithm: str, length: int) -> None:
    """Envelopes agree both ways with PBKDF2 and AES-GCM called directly, not via the module."""
    passphrase = "pässwörd with ünïcode ✓"
    salt = b"\xa5" * 16
    key = KeyVersion("k.2026-01_a", algorithm, _b64(salt), passphrase)  # type: ignore[arg-type]
    raw_key = hashlib.pbkdf2_hmac("sha256", passphrase.encode("utf-8"), salt, 600_000, length)
    alg = f"A{length * 8}GCM"
    aad = f"{alg}.k.2026-01_a".encode()

    iv = b"\x07" * 12
    env = seal(BODY, key, iv=iv)
    assert env["ct"] == _b64(AESGCM(raw_key).encrypt(iv, BODY, aad))
    assert AESGCM(raw_key).decrypt(base64.b64decode(env["iv"]), base64.b64decode(env["ct"]), aad)

    theirs_iv = b"\x42" * 12
    theirs = {
        "v": 1,
        "alg": alg,
        "kid": "k.2026-01_a",
        "salt": _b64(salt),
        "iv": _b64(theirs_iv),
        "ct": _b64(AESGCM(raw_key).encrypt(theirs_iv, BODY, aad)),
    }
    assert open_envelope(json.dumps(theirs).encode(), [key]) == BODY


def test_same_kid_after_passphrase_change_is_told_apart_by_salt() -> None:
    """Two key versions sharing a kid (passphrase changed, same version code) both open."""
    old = KeyVersion("v1", "aes-128", new_salt(), "old passphrase 123")
    new = KeyVersion("v1", "aes-128", new_salt(), "new passphrase 456")
    for key in (old, new):
        assert open_envelope(seal(b"{}", key), [new, old]) == b"{}"
