"""Access accounts over fake ports: each change is written with its config event, secrets are
shown once and stored sealed, scope and version races are refused before anything is written."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from account_fakes import AGGREGATOR, ENTERPRISE, OTHER, PLATFORM, Hasher, Memory, user
from account_svc.accounts import AccountAdmin
from account_svc.errors import Conflict, NotFound, ValidationFailed
from account_svc.tenancy import Tenancy
from account_testkit import SEED
from parley_shared import subjects
from parley_shared.sealing import MasterKey, generate_master_key

PASSPHRASE = SEED["security"]["payload_encryption"]["passphrase"]


def accounts(memory: Memory, key: MasterKey | None = None) -> AccountAdmin:
    """The use case over one in-memory store and a master key (a fresh one by default)."""
    key = key or MasterKey.from_b64(generate_master_key())
    return AccountAdmin(memory, Tenancy(memory, memory, Hasher()), key, allow_private_targets=False)


def config(enterprise: str = ENTERPRISE.id, group: str = "bg_1") -> dict[str, Any]:
    """The seed config in an enterprise and business group."""
    body = copy.deepcopy(SEED)
    body["enterprise_id"], body["business_group_id"] = enterprise, group
    return body


async def test_a_new_account_is_stored_with_its_event_and_its_secrets_shown_once() -> None:
    """One write holds the row and its config event; the answer has the API key and signing
    secret, the store and the event only sealed or hashed forms (no passphrase in clear)."""
    memory = Memory()
    created = await accounts(memory).create(user(AGGREGATOR), config())
    account_id = created["account"]["id"]
    assert memory.journal == [("insert_account", account_id, subjects.account_config(account_id))]
    stored = orjson.dumps(memory.accounts[account_id])
    for secret in (created["api_key"], created["webhook_signing_secret"], PASSPHRASE):
        assert secret.encode() not in stored
    assert created["account"]["security"]["payload_encryption"]["passphrase_set"] is True
    again = await accounts(memory).get(user(ENTERPRISE), account_id)
    assert "api_key" not in again


async def test_an_account_out_of_scope_is_not_found_and_not_written() -> None:
    """Creating in another tenant's enterprise, or reading another tenant's account, answers
    404 like a missing one; nothing is written."""
    memory = Memory()
    with pytest.raises(NotFound):
        await accounts(memory).create(user(ENTERPRISE), config(OTHER.id, "bg_2"))
    created = await accounts(memory).create(PLATFORM, config(OTHER.id, "bg_2"))
    with pytest.raises(NotFound):
        await accounts(memory).get(user(AGGREGATOR), created["account"]["id"])
    assert [w[0] for w in memory.journal] == ["insert_account"]


async def test_a_group_of_another_enterprise_is_a_validation_error() -> None:
    """A business group of another enterprise (in scope) names `business_group_id`."""
    memory = Memory()
    memory.groups["bg_3"] = {"id": "bg_3", "name": "g", "enterprise_id": "ent_9"}
    memory.orgs["ent_9"] = {**memory.orgs[ENTERPRISE.id], "id": "ent_9"}
    with pytest.raises(ValidationFailed) as refused:
        await accounts(memory).create(PLATFORM, config(group="bg_3"))
    assert refused.value.errors[0]["loc"] == ["business_group_id"]


async def test_a_patch_raises_the_version_and_keeps_an_omitted_passphrase() -> None:
    """A merge patch writes version + 1 with its event; the passphrase not sent stays set."""
    memory = Memory()
    use = accounts(memory)
    account_id = (await use.create(PLATFORM, config()))["account"]["id"]
    patched = await use.patch(PLATFORM, account_id, {"label": "renamed"})
    assert (patched["label"], patched["version"]) == ("renamed", 2)
    assert patched["security"]["payload_encryption"]["passphrase_set"] is True
    assert memory.journal[-1] == ("update_account", account_id, subjects.account_config(account_id))


async def test_a_write_that_lost_a_race_is_a_conflict() -> None:
    """When the stored version moved meanwhile, the change is refused with 409."""
    memory = Memory()
    use = accounts(memory)
    account_id = (await use.create(PLATFORM, config()))["account"]["id"]
    original = memory.get_account

    async def stale(account_id: str) -> dict[str, Any]:
        row = await original(account_id)
        memory.accounts[account_id]["version"] += 1  # someone else wrote after our read
        return row

    memory.get_account = stale  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        await use.rotate_api_key(PLATFORM, account_id)
    assert [w[0] for w in memory.journal] == ["insert_account"]


async def test_a_deleted_account_forgets_its_secrets_and_is_gone() -> None:
    """Delete writes a tombstone event and empty secrets; the account then answers 404."""
    memory = Memory()
    use = accounts(memory)
    account_id = (await use.create(PLATFORM, config()))["account"]["id"]
    await use.delete(PLATFORM, account_id)
    row = memory.accounts[account_id]
    assert row["status"] == "deleted"
    assert row["secrets"]["api_key_hash"] is None
    with pytest.raises(NotFound):
        await use.get(PLATFORM, account_id)


async def test_a_rotated_api_key_replaces_the_stored_hash_and_is_shown_once() -> None:
    """Rotation writes version + 1 with its event; only the new key's hash is stored, the key
    itself is in the answer alone, and the account's other secrets stay as they were."""
    memory, key = Memory(), MasterKey.from_b64(generate_master_key())
    use = accounts(memory, key)
    created = await use.create(PLATFORM, config())
    account_id = created["account"]["id"]
    before = copy.deepcopy(memory.accounts[account_id]["secrets"])
    rotated = await use.rotate_api_key(PLATFORM, account_id)
    row = memory.accounts[account_id]
    assert rotated["api_key"] != created["api_key"]
    assert row["secrets"]["api_key_hash"] == key.hash_api_key(rotated["api_key"])
    assert row["secrets"]["api_key_hash"] != before["api_key_hash"]
    assert rotated["api_key"].encode() not in orjson.dumps(row)
    others = {k: v for k, v in row["secrets"].items() if k != "api_key_hash"}
    assert others == {k: v for k, v in before.items() if k != "api_key_hash"}
    assert row["version"] == 2
    assert memory.journal[-1] == ("update_account", account_id, subjects.account_config(account_id))


async def test_a_rotated_signing_secret_is_added_and_the_old_one_still_signs() -> None:
    """A new signing secret is shown once and stored sealed in front of the previous one,
    which keeps signing during the overlap."""
    memory = Memory()
    use = accounts(memory)
    created = await use.create(PLATFORM, config())
    account_id = created["account"]["id"]
    rotated = await use.rotate_signing_secret(PLATFORM, account_id)
    stored = memory.accounts[account_id]["secrets"]["webhook_signing_secrets"]
    assert rotated["webhook_signing_secret"] != created["webhook_signing_secret"]
    assert len(stored) == 2
    assert rotated["webhook_signing_secret"].encode() not in orjson.dumps(stored)
