"""Webhook deliveries and the operator views over fake ports: scope is checked before
webhook-svc or routing-svc is asked, and one service not answering does not hide the rest."""

from __future__ import annotations

import copy

import pytest
from account_fakes import AGGREGATOR, ENTERPRISE, OTHER, PLATFORM, Asked, Hasher, Memory, user
from account_svc.accounts import AccountAdmin
from account_svc.deliveries import Deliveries
from account_svc.errors import NotFound, ValidationFailed
from account_svc.operations import Operations
from account_svc.tenancy import Tenancy
from account_testkit import SEED
from parley_shared.sealing import MasterKey, generate_master_key


async def _account(memory: Memory, accounts: AccountAdmin, enterprise: str, group: str) -> str:
    body = copy.deepcopy(SEED)
    body.update(enterprise_id=enterprise, business_group_id=group)
    return str((await accounts.create(PLATFORM, body))["account"]["id"])


def _accounts(memory: Memory) -> AccountAdmin:
    key = MasterKey.from_b64(generate_master_key())
    return AccountAdmin(memory, Tenancy(memory, memory, Hasher()), key, allow_private_targets=False)


async def test_webhook_svc_is_never_asked_about_an_account_out_of_scope() -> None:
    """Another tenant's account answers 404 for its log, dead letters and replay, and none
    of them reaches webhook-svc; one in scope is asked."""
    memory, asked = Memory(), Asked()
    accounts = _accounts(memory)
    theirs = await _account(memory, accounts, OTHER.id, "bg_2")
    ours = await _account(memory, accounts, ENTERPRISE.id, "bg_1")
    use = Deliveries(accounts, asked)
    for attempt in (
        use.deliveries(user(AGGREGATOR), theirs, 10),
        use.dead_letters(user(AGGREGATOR), theirs),
        use.replay(user(AGGREGATOR), theirs, "dl_1"),
    ):
        with pytest.raises(NotFound):
            await attempt
    assert asked.asked == []
    assert await use.deliveries(user(AGGREGATOR), ours, 10) == [{"id": "dlv_1"}]
    assert asked.asked == [("deliveries", ours)]


def operations(asked: Asked) -> Operations:
    """The operator views over one fake of every other service."""
    memory = Memory()
    return Operations(Tenancy(memory, memory, Hasher()), asked, asked, asked, asked)


async def test_the_traffic_view_covers_only_the_accounts_in_scope() -> None:
    """A platform user sees every account; an enterprise user only its own, and an account of
    another tenant answers 404."""
    asked = Asked()
    asked.ids = {"acc_a": ENTERPRISE.id, "acc_b": OTHER.id}
    use = operations(asked)
    assert (await use.traffic(PLATFORM, None, None))["accounts"] is None
    mine = await use.traffic(user(ENTERPRISE), None, None)
    assert (mine["accounts"], mine["truncated"], mine["queues"]["streams"]) == (
        ["acc_a"],
        False,
        None,
    )
    with pytest.raises(NotFound):
        await use.traffic(user(ENTERPRISE), None, "acc_b")


async def test_another_tenants_message_looks_like_none() -> None:
    """A message id of another tenant finds nothing (no trace, no match) for a scoped user."""
    asked = Asked()
    asked.ids = {"acc_a": ENTERPRISE.id, "acc_b": OTHER.id}
    asked.messages["msg_1"] = {"message_id": "msg_1", "account_id": "acc_b", "events": []}
    found = await operations(asked).trace(user(ENTERPRISE), "msg_1", None)
    assert (found["trace"], found["matches"]) == (None, [])


async def test_a_trace_shows_without_deliveries_when_webhook_svc_is_down() -> None:
    """One message found by `client_ref`: its trace, labelled, with `webhook_deliveries` None
    while webhook-svc does not answer."""
    asked = Asked(webhook_down=True)
    asked.ids = {"acc_a": ENTERPRISE.id}
    asked.messages["msg_1"] = {
        "message_id": "msg_1",
        "account_id": "acc_a",
        "client_ref": "order-7",
        "events": [{"id": "evt_1"}],
    }
    found = await operations(asked).trace(user(ENTERPRISE), " order-7 ", None)
    trace = found["trace"]
    assert (trace["message_id"], trace["account_label"]) == ("msg_1", "label of acc_a")
    assert trace["webhook_deliveries"] is None
    assert ("attempts_of", "acc_a") in asked.asked


async def test_an_empty_query_is_refused_before_asking_anyone() -> None:
    """A blank search names `q` and asks routing-svc nothing."""
    asked = Asked()
    with pytest.raises(ValidationFailed) as refused:
        await operations(asked).trace(PLATFORM, "   ", None)
    assert refused.value.errors[0]["loc"] == ["q"]
    assert asked.asked == []
