"""Sends against the enterprise's registered senders (SENDERS): access mode `all` means every
sender the enterprise owns, an allowlist names some of them, a deregistered one stops at once."""

from __future__ import annotations

from parley_devtools.waiting import eventually
from routing_testkit import Routing, allow


async def _status(routing: Routing, account: object, **body: object) -> tuple[int, object]:
    status, answer = await routing.api.send(account, **body)  # type: ignore[arg-type]
    return status, answer if status == 202 else answer["type"]


async def test_mode_all_takes_only_the_enterprises_senders(routing: Routing) -> None:
    """Under mode all an explicit sender must be registered by the account's enterprise (not
    another's); it stops working when deregistered; no sender is the platform default."""
    account = await routing.account(["sms"])
    other = await routing.account(["sms"])
    await routing.accounts.register(other.enterprise_id, "sms", "OTHERCO")
    assert (await _status(routing, account, sender="SHOPCO"))[1] == "sender_not_allowed"
    assert (await _status(routing, account, sender="OTHERCO"))[1] == "sender_not_allowed"
    await routing.accounts.register(account.enterprise_id, "sms", "SHOPCO")

    async def accepted() -> bool:
        return (await routing.api.send(account, sender="SHOPCO"))[0] == 202

    await eventually(accepted, 5)
    await routing.accounts.register(account.enterprise_id, "sms", "SHOPCO", deleted=True)

    async def refused() -> bool:
        return (await routing.api.send(account, sender="SHOPCO"))[0] == 422

    await eventually(refused, 5)
    assert (await routing.api.send(account))[0] == 202  # the platform default sender


async def test_an_allowlist_names_registered_senders_only(routing: Routing) -> None:
    """An allowlist entry that is not a registered sender of the enterprise is refused, whether
    named in the send or taken as the default; once registered it sends."""
    account = await routing.account(
        ["whatsapp"], {"whatsapp": {"wabas": allow("+919800000001")}}, register_senders=False
    )
    status, problem = await routing.api.send(account, channel="whatsapp")
    assert (status, problem["type"]) == (422, "sender_not_allowed"), problem
    assert "registered" in problem["detail"]
    await routing.accounts.register(account.enterprise_id, "whatsapp", "+919800000001")

    async def accepted() -> bool:
        return (await routing.api.send(account, channel="whatsapp"))[0] == 202

    await eventually(accepted, 5)
    status, problem = await routing.api.send(account, channel="whatsapp", sender="+919800000002")
    assert (status, problem["type"]) == (422, "sender_not_allowed")
