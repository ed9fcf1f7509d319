"""Secret bookkeeping of accounts: salts, key versions, URL credentials, signing secrets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from account_svc.domain.account_secrets import (
    apply_secrets,
    existing_passphrases,
    public_view,
    rotate_signing_secret,
)
from parley_shared.events import AccountSecrets, SealedSecret
from parley_shared.sealing import (
    PAYLOAD_PASSPHRASE_FIELD as PAYLOAD,
)
from parley_shared.sealing import (
    MasterKey,
    generate_master_key,
    webhook_url_field,
)
from parley_shared.timefmt import now, parse_ts

KEY = MasterKey.from_b64(generate_master_key())


def seal(value: str, field: str) -> str:
    return KEY.seal_field(value, "acc_1", field)


def unseal(value: str, field: str) -> str:
    return KEY.unseal_field(value, "acc_1", field)


def config(passphrase: str | None = "first passphrase", version: str = "v1") -> dict[str, Any]:
    block: dict[str, Any] = {"enabled": True, "algorithm": "aes-256", "version_code": version}
    if passphrase is not None:
        block["passphrase"] = passphrase
    return {
        "security": {"payload_encryption": block},
        "webhooks": {
            "status": {"url": "nats://u:p4ss@127.0.0.1:4222/a.b", "encryption": {"enabled": False}},
            "user_initiated": None,
        },
    }


def test_create_seals_passphrase_and_url_credentials() -> None:
    """The stored config holds neither passphrase nor URL password; secrets hold them sealed."""
    stored, secrets = apply_secrets(config(), None, seal=seal, unseal=unseal, now=now())
    assert "passphrase" not in stored["security"]["payload_encryption"]
    assert stored["webhooks"]["status"]["url"] == "nats://u:***@127.0.0.1:4222/a.b"
    assert unseal(secrets.payload_encryption[0].passphrase, PAYLOAD) == "first passphrase"
    assert unseal(secrets.webhook_urls["status"], webhook_url_field("status")) == (
        "nats://u:p4ss@127.0.0.1:4222/a.b"
    )


def test_unchanged_block_keeps_its_salt() -> None:
    """A patch that omits the passphrase and keeps the version keeps the salt."""
    _, first = apply_secrets(config(), None, seal=seal, unseal=unseal, now=now())
    _, second = apply_secrets(config(None), first, seal=seal, unseal=unseal, now=now())
    assert second.payload_encryption == first.payload_encryption


def test_new_version_gets_new_salt_and_previous_stays_24h() -> None:
    """A new version code makes a new salt; the previous key stays valid for 24 hours."""
    at = now()
    _, first = apply_secrets(config(), None, seal=seal, unseal=unseal, now=at)
    _, second = apply_secrets(config(None, "v2"), first, seal=seal, unseal=unseal, now=at)
    current, previous = second.payload_encryption
    assert current.version_code == "v2"
    assert current.salt != previous.salt
    assert unseal(current.passphrase, PAYLOAD) == "first passphrase"
    assert previous.valid_until is not None
    assert abs(parse_ts(previous.valid_until) - at - timedelta(hours=24)) < timedelta(
        milliseconds=1
    )
    later = at + timedelta(hours=25)
    _, third = apply_secrets(config(None, "v2"), second, seal=seal, unseal=unseal, now=later)
    assert [v.version_code for v in third.payload_encryption] == ["v2"]


def test_masked_url_round_trip_keeps_credentials() -> None:
    """Sending back the masked URL keeps the sealed original."""
    stored, first = apply_secrets(config(), None, seal=seal, unseal=unseal, now=now())
    again = config(None)
    again["webhooks"]["status"]["url"] = stored["webhooks"]["status"]["url"]
    _, second = apply_secrets(again, first, seal=seal, unseal=unseal, now=now())
    assert second.webhook_urls["status"] == first.webhook_urls["status"]


def test_existing_passphrases_and_public_view() -> None:
    """Enabled blocks with a key are known; the view shows passphrase_set and the salt."""
    stored, secrets = apply_secrets(config(), None, seal=seal, unseal=unseal, now=now())
    assert existing_passphrases(stored, secrets) == frozenset({("security", "payload_encryption")})
    meta = {"id": "acc_1", "version": 1, "status": "active", "created_at": "x", "updated_at": "x"}
    view = public_view(stored, secrets, meta)
    block = view["security"]["payload_encryption"]
    assert block["passphrase_set"] is True
    assert block["salt"] == secrets.payload_encryption[0].salt


def test_signing_secret_rotation_keeps_previous_for_24h() -> None:
    """After a rotation the new secret is first and the old one is valid for 24 hours."""
    at = now()
    secrets = AccountSecrets(webhook_signing_secrets=[SealedSecret(value="old")])
    rotated = rotate_signing_secret(secrets, "new", at)
    assert [s.value for s in rotated.webhook_signing_secrets] == ["new", "old"]
    until = rotated.webhook_signing_secrets[1].valid_until
    assert until is not None
    assert abs(parse_ts(until) - at - timedelta(hours=24)) < timedelta(milliseconds=1)
    twice = rotate_signing_secret(rotated, "newer", at)
    assert [s.value for s in twice.webhook_signing_secrets] == ["newer", "new"]
