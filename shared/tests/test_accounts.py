"""Consumers open account config events: ordering and unsealed secrets."""

from __future__ import annotations

from datetime import timedelta

import orjson
from parley_shared.accounts import is_newer, open_secrets, parse_event
from parley_shared.envelope import new_salt, open_envelope, seal
from parley_shared.events import (
    AccountConfigData,
    AccountSecrets,
    SealedKeyVersion,
    SealedSecret,
)
from parley_shared.sealing import MasterKey, generate_master_key
from parley_shared.timefmt import format_ts, now


def test_open_secrets_unseals_everything_with_expiry() -> None:
    """Keys, signing secrets and URLs come back in clear; expired ones drop out by time."""
    master = MasterKey.from_b64(generate_master_key())
    aid = "acc_1"
    at = now()
    salt = new_salt()
    data = AccountConfigData(
        account_id=aid,
        version=3,
        status="active",
        enterprise_id="ent_1",
        account={"id": aid},
        secrets=AccountSecrets(
            api_key_hash="h",
            webhook_signing_secrets=[
                SealedSecret(value=master.seal("whsec_new", aad=aid)),
                SealedSecret(
                    value=master.seal("whsec_old", aad=aid),
                    valid_until=format_ts(at + timedelta(hours=1)),
                ),
            ],
            payload_encryption=[
                SealedKeyVersion(
                    version_code="v2",
                    algorithm="aes-256",
                    salt=salt,
                    passphrase=master.seal("pass phrase two", aad=aid),
                )
            ],
            webhook_urls={"status": master.seal("nats://u:p@h:1/s", aad=aid)},
        ),
    )
    event = {"data": data.model_dump(mode="json")}
    opened = open_secrets(parse_event(orjson.dumps(event)), master)
    assert opened.signing_secrets_at(at) == ["whsec_new", "whsec_old"]
    assert opened.signing_secrets_at(at + timedelta(hours=2)) == ["whsec_new"]
    keys = opened.payload_keys_at(at)
    assert keys[0].kid == "v2"
    assert open_envelope(seal(b"[1]", keys[0]), keys) == b"[1]"
    assert opened.webhook_urls["status"] == "nats://u:p@h:1/s"
    assert is_newer(data, 2)
    assert not is_newer(data, 3)
    assert is_newer(data, None)
