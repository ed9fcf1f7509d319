"""Secret bookkeeping of an access account, apart from its plain config.

The stored config never holds a passphrase or a URL's password: those are sealed with the
master key into `AccountSecrets` (the shape that travels on the bus). This module decides,
on create and on every patch, which secrets stay, which are replaced (a new salt per new
passphrase or version, the previous API payload key valid 24 h more) and how the account
is shown (each passphrase as `passphrase_set: true` plus its `salt`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from parley_shared.envelope import new_salt
from parley_shared.events import AccountSecrets, SealedKeyVersion, SealedSecret
from parley_shared.sealing import (
    PAYLOAD_PASSPHRASE_FIELD,
    webhook_passphrase_field,
    webhook_url_field,
)
from parley_shared.timefmt import format_ts, parse_ts

from account_svc.domain.account_config import (
    ENCRYPTION_BLOCKS,
    ConfigValidationError,
    redact_url,
    url_has_credentials,
)
from account_svc.domain.account_urls import has_masked_password

PREVIOUS_VALID_FOR = timedelta(hours=24)
WEBHOOK_KINDS = ("status", "user_initiated")

Seal = Callable[[str, str], str]
"""Seals a value of the account's named field (`parley_shared.sealing.*_FIELD`)."""
Unseal = Callable[[str, str], str]


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = doc
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, dict) else None


def _current_version(secrets: AccountSecrets, path: tuple[str, ...]) -> SealedKeyVersion | None:
    if path == ENCRYPTION_BLOCKS[0]:
        return secrets.payload_encryption[0] if secrets.payload_encryption else None
    return secrets.webhook_encryption.get(path[1])


def existing_passphrases(
    config: dict[str, Any], secrets: AccountSecrets
) -> frozenset[tuple[str, ...]]:
    """The encryption blocks that have a passphrase now (a patch may omit it there)."""
    return frozenset(
        path
        for path in ENCRYPTION_BLOCKS
        if (block := _get(config, path))
        and block.get("enabled")
        and _current_version(secrets, path)
    )


def _prune(versions: list[SealedKeyVersion], now: datetime) -> list[SealedKeyVersion]:
    return [v for v in versions if v.valid_until is None or parse_ts(v.valid_until) > now]


def _passphrase_field(path: tuple[str, ...]) -> str:
    if path == ENCRYPTION_BLOCKS[0]:
        return PAYLOAD_PASSPHRASE_FIELD
    return webhook_passphrase_field(path[1])


def _next_version(
    block: dict[str, Any],
    current: SealedKeyVersion | None,
    field: str,
    seal: Seal,
    unseal: Unseal,
) -> tuple[SealedKeyVersion, bool]:
    """The key version an enabled block has after a change, and whether it is unchanged."""
    given = block.pop("passphrase", None)
    if (
        current is not None
        and current.version_code == block["version_code"]
        and current.algorithm == block["algorithm"]
        and (given is None or unseal(current.passphrase, field) == given)
    ):
        return current, True
    if given is None:
        if current is None:  # the validator requires a passphrase here; defensive
            raise ValueError("an enabled encryption block needs a passphrase")
        given = unseal(current.passphrase, field)
    fresh = SealedKeyVersion(
        version_code=block["version_code"],
        algorithm=block["algorithm"],
        salt=new_salt(),
        passphrase=seal(given, field),
    )
    return fresh, False


def _payload_versions(
    version: SealedKeyVersion, same: bool, history: list[SealedKeyVersion], now: datetime
) -> list[SealedKeyVersion]:
    """Current first; a replaced version stays valid for 24 hours more."""
    if same:
        return history
    until = format_ts(now + PREVIOUS_VALID_FOR)
    demoted = [v if v.valid_until else v.model_copy(update={"valid_until": until}) for v in history]
    return [version, *demoted]


def _split_urls(
    stored: dict[str, Any], old: AccountSecrets, new: AccountSecrets, seal: Seal, unseal: Unseal
) -> None:
    """Seal URLs that carry credentials; keep the sealed one when the masked form comes back."""
    for kind in WEBHOOK_KINDS:
        hook = (stored.get("webhooks") or {}).get(kind)
        if not hook:
            continue
        url = hook["url"]
        field = webhook_url_field(kind)
        kept = old.webhook_urls.get(kind)
        if kept is not None and url == redact_url(unseal(kept, field)):
            new.webhook_urls[kind] = kept
        elif has_masked_password(url):
            # The mask came back on a changed URL: storing `***` as the password would break
            # delivery silently.
            loc: list[str | int] = ["webhooks", kind, "url"]
            msg = "the password is the mask `***`; send the real password with a changed URL"
            raise ConfigValidationError([{"loc": loc, "msg": msg, "type": "masked_password"}])
        elif url_has_credentials(url):
            new.webhook_urls[kind] = seal(url, field)
            hook["url"] = redact_url(url)


def apply_secrets(
    config: dict[str, Any],
    previous: AccountSecrets | None,
    *,
    seal: Seal,
    unseal: Unseal,
    now: datetime,
) -> tuple[dict[str, Any], AccountSecrets]:
    """Split secrets out of a validated config: the config to store and the secrets to keep.

    `config` is the validator's output (passphrases present where given, URLs in full or
    as a previous answer showed them, credentials masked).
    """
    stored = copy.deepcopy(config)
    old = previous or AccountSecrets()
    new = AccountSecrets(
        api_key_hash=old.api_key_hash,
        webhook_signing_secrets=list(old.webhook_signing_secrets),
    )
    for path in ENCRYPTION_BLOCKS:
        block = _get(stored, path)
        if block is None or not block.get("enabled"):
            continue
        current = _current_version(old, path)
        version, same = _next_version(block, current, _passphrase_field(path), seal, unseal)
        if path == ENCRYPTION_BLOCKS[0]:
            history = _prune(list(old.payload_encryption), now)
            new.payload_encryption = _payload_versions(version, same, history, now)
        else:
            new.webhook_encryption[path[1]] = version
    _split_urls(stored, old, new, seal, unseal)
    return stored, new


def rotate_signing_secret(
    secrets: AccountSecrets, sealed_new: str, now: datetime
) -> AccountSecrets:
    """The new secret signs from now on; the one it replaces signs too for 24 hours."""
    keep = [
        s.model_copy(update={"valid_until": format_ts(now + PREVIOUS_VALID_FOR)})
        for s in secrets.webhook_signing_secrets[:1]
    ]
    return secrets.model_copy(
        update={"webhook_signing_secrets": [SealedSecret(value=sealed_new), *keep]}
    )


def public_view(
    row_config: dict[str, Any], secrets: AccountSecrets, meta: dict[str, Any]
) -> dict[str, Any]:
    """The account as the API answers it: meta fields, config, `passphrase_set` and `salt`."""
    out: dict[str, Any] = {"id": meta["id"]}
    out.update(copy.deepcopy(row_config))
    for path in ENCRYPTION_BLOCKS:
        block = _get(out, path)
        current = _current_version(secrets, path)
        if block is not None and block.get("enabled") and current is not None:
            block["passphrase_set"] = True
            block["salt"] = current.salt
    out["version"] = meta["version"]
    out["status"] = meta["status"]
    out["created_at"] = meta["created_at"]
    out["updated_at"] = meta["updated_at"]
    return out
