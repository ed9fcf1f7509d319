"""Templates, registered senders and app subscriptions over fake ports: each change is written
with its event, bad input is refused before any write, and scope holds."""

from __future__ import annotations

import copy

import pytest
from account_fakes import AGGREGATOR, ENTERPRISE, OTHER, PLATFORM, Hasher, Memory, user
from account_svc.accounts import AccountAdmin
from account_svc.domain.requests import SenderIn, TemplateIn
from account_svc.errors import Forbidden, NotFound, ValidationFailed
from account_svc.senders import SenderAdmin
from account_svc.subscriptions import Subscriptions
from account_svc.templates import TemplateAdmin
from account_svc.tenancy import Tenancy
from account_testkit import SEED
from parley_shared import subjects
from parley_shared.sealing import MasterKey, generate_master_key


def tenancy(memory: Memory) -> Tenancy:
    """Tenancy over one in-memory store."""
    return Tenancy(memory, memory, Hasher())


def template(enterprise: str = ENTERPRISE.id) -> TemplateIn:
    """An SMS template with one placeholder."""
    return TemplateIn(enterprise_id=enterprise, channel="sms", name="otp", text="Code {#otp#}")


async def test_a_template_decision_is_written_once_with_its_event() -> None:
    """Approving writes version + 1 and its event; approving again writes nothing."""
    memory = Memory()
    use = TemplateAdmin(memory, tenancy(memory))
    made = await use.create(user(ENTERPRISE), template())
    assert made["status"] == "pending"
    approved = await use.decide(user(AGGREGATOR), made["id"], "approved")
    await use.decide(user(AGGREGATOR), made["id"], "approved")
    assert approved["status"] == "approved"
    assert [w[0] for w in memory.journal] == ["insert_template", "update_template"]
    assert memory.journal[-1][2] == subjects.template_config(made["id"])


async def test_a_template_of_another_tenant_is_not_found() -> None:
    """Reading, deciding or deleting another tenant's template answers 404; nothing written."""
    memory = Memory()
    use = TemplateAdmin(memory, tenancy(memory))
    made = await use.create(PLATFORM, template(OTHER.id))
    for attempt in (
        use.get(user(ENTERPRISE), made["id"]),
        use.decide(user(ENTERPRISE), made["id"], "rejected"),
        use.delete(user(ENTERPRISE), made["id"]),
    ):
        with pytest.raises(NotFound):
            await attempt
    assert [w[0] for w in memory.journal] == ["insert_template"]


async def test_a_sender_in_a_bad_format_is_refused_before_any_write() -> None:
    """An SMS sender id outside 3..15 letters or digits names `value`; a header registration
    on another channel names `header_registration`."""
    memory = Memory()
    use = SenderAdmin(memory, tenancy(memory))
    bad = SenderIn(enterprise_id=ENTERPRISE.id, channel="sms", value="S!")
    with pytest.raises(ValidationFailed) as refused:
        await use.create(PLATFORM, bad)
    assert refused.value.errors[0]["loc"] == ["value"]
    misplaced = SenderIn(
        enterprise_id=ENTERPRISE.id, channel="rcs", value="agent", header_registration="1"
    )
    with pytest.raises(ValidationFailed) as refused:
        await use.create(PLATFORM, misplaced)
    assert refused.value.errors[0]["loc"] == ["header_registration"]
    assert memory.journal == []


async def test_a_deregistered_sender_leaves_a_tombstone_event() -> None:
    """Delete writes the sender's tombstone on its config subject."""
    memory = Memory()
    use = SenderAdmin(memory, tenancy(memory))
    made = await use.create(
        PLATFORM, SenderIn(enterprise_id=ENTERPRISE.id, channel="sms", value="SHOP")
    )
    await use.delete(user(ENTERPRISE), made["id"])
    assert memory.journal[-1] == ("delete_sender", made["id"], subjects.sender_config(made["id"]))
    assert await use.list(PLATFORM, None, None) == []


def subscriptions(memory: Memory) -> tuple[Subscriptions, AccountAdmin]:
    """App subscriptions and the accounts they switch apps off in."""
    key = MasterKey.from_b64(generate_master_key())
    accounts = AccountAdmin(memory, tenancy(memory), key, allow_private_targets=False)
    return Subscriptions(memory, tenancy(memory), accounts), accounts


async def test_an_enterprise_reads_its_subscriptions_but_may_not_change_them() -> None:
    """The enterprise's own users get 403 on subscribe; its aggregator's users may."""
    memory = Memory()
    use, _ = subscriptions(memory)
    with pytest.raises(Forbidden):
        await use.subscribe(user(ENTERPRISE), ENTERPRISE.id, "url_shortener")
    assert await use.subscribe(user(AGGREGATOR), ENTERPRISE.id, "url_shortener")
    assert not await use.subscribe(user(AGGREGATOR), ENTERPRISE.id, "url_shortener")
    listed = await use.listed(user(ENTERPRISE), ENTERPRISE.id)
    assert [item["app"] for item in listed] == ["url_shortener"]


async def test_withdrawing_switches_the_app_off_in_every_account_that_had_it() -> None:
    """The account with the app on gets version + 1 with the app off and its config event;
    withdrawing what is not subscribed answers 404."""
    memory = Memory()
    use, accounts = subscriptions(memory)
    await use.subscribe(PLATFORM, ENTERPRISE.id, "url_shortener")
    body = copy.deepcopy(SEED)
    body.update(enterprise_id=ENTERPRISE.id, business_group_id="bg_1")
    body["apps"] = {**body["apps"], "url_shortener": True}
    account_id = (await accounts.create(PLATFORM, body))["account"]["id"]
    assert await use.withdraw(PLATFORM, ENTERPRISE.id, "url_shortener") == [account_id]
    row = memory.accounts[account_id]
    assert (row["version"], row["config"]["apps"]["url_shortener"]) == (2, False)
    assert memory.journal[-1] == ("update_account", account_id, subjects.account_config(account_id))
    with pytest.raises(NotFound):
        await use.withdraw(PLATFORM, ENTERPRISE.id, "url_shortener")
