"""Consent: records per enterprise, channel overrides, lookups on send, STOP / START."""

from __future__ import annotations

from routing_testkit import NUMBER, Routing, allow

OUT = {"lookup_opt_in": False, "lookup_opt_out": True}
IN = {"lookup_opt_in": True, "lookup_opt_out": False}


async def test_put_and_get_consent_shape(routing: Routing) -> None:
    """GET answers msisdn, status, channel records and updated_at; none before any PUT."""
    account = await routing.account(["sms", "rcs"])
    status, body = await routing.api.call("GET", f"/v1/consent/{NUMBER}", key=account.api_key)
    assert status == 200
    assert body == {"msisdn": NUMBER, "status": "none", "channels": {}, "updated_at": None}
    put = {"status": "opted_out"}
    status, _ = await routing.api.call("PUT", f"/v1/consent/{NUMBER}", put, key=account.api_key)
    assert status == 200
    put = {"status": "opted_in", "channel": "sms"}
    status, _ = await routing.api.call("PUT", f"/v1/consent/{NUMBER}", put, key=account.api_key)
    status, body = await routing.api.call("GET", f"/v1/consent/{NUMBER}", key=account.api_key)
    assert body["status"] == "opted_out"
    assert body["channels"] == {"sms": "opted_in"}
    assert body["updated_at"].endswith("Z")


async def test_consent_put_is_validated(routing: Routing) -> None:
    """A bad status, channel or msisdn is 422 naming it."""
    account = await routing.account(["sms"])
    for path, body, loc in [
        (f"/v1/consent/{NUMBER}", {"status": "maybe"}, ["status"]),
        (f"/v1/consent/{NUMBER}", {"status": "opted_in", "channel": "fax"}, ["channel"]),
        ("/v1/consent/12345", {"status": "opted_in"}, ["msisdn"]),
    ]:
        status, answer = await routing.api.call("PUT", path, body, key=account.api_key)
        assert status == 422, answer
        assert loc in [error["loc"] for error in answer["errors"]]


async def test_opt_out_lookup_refuses_opted_out_user_at_the_next_send(routing: Routing) -> None:
    """lookup_opt_out: a PUT opted_out holds for the very next send (422 opted_out)."""
    account = await routing.account(["sms"], consent=OUT)
    assert (await routing.api.send(account))[0] == 202
    await routing.api.call(
        "PUT", f"/v1/consent/{NUMBER}", {"status": "opted_out"}, key=account.api_key
    )
    status, body = await routing.api.send(account)
    assert (status, body["type"]) == (422, "opted_out")


async def test_opt_in_lookup_requires_an_opt_in(routing: Routing) -> None:
    """lookup_opt_in: 422 opt_in_required until the user opted in, then accepted."""
    account = await routing.account(["sms"], consent=IN)
    status, body = await routing.api.send(account)
    assert (status, body["type"]) == (422, "opt_in_required")
    await routing.api.call(
        "PUT", f"/v1/consent/{NUMBER}", {"status": "opted_in"}, key=account.api_key
    )
    assert (await routing.api.send(account))[0] == 202


async def test_channel_record_overrides_the_all_channels_record(routing: Routing) -> None:
    """Opted out of everything but opted in on sms: sms goes, rcs is refused."""
    account = await routing.account(["sms", "rcs"], consent=OUT)
    for body in ({"status": "opted_out"}, {"status": "opted_in", "channel": "sms"}):
        await routing.api.call("PUT", f"/v1/consent/{NUMBER}", body, key=account.api_key)
    assert (await routing.api.send(account, channel="sms"))[0] == 202
    status, body = await routing.api.send(account, channel="rcs")
    assert (status, body["type"]) == (422, "opted_out")


async def test_consent_scope_is_the_enterprise(routing: Routing) -> None:
    """An opt-out recorded through one account holds for its enterprise's other accounts only."""
    first = await routing.account(["sms"], consent=OUT)
    sibling = await routing.account(["sms"], consent=OUT, enterprise_id=first.enterprise_id)
    stranger = await routing.account(["sms"], consent=OUT)
    await routing.api.call(
        "PUT", f"/v1/consent/{NUMBER}", {"status": "opted_out"}, key=first.api_key
    )
    assert (await routing.api.send(sibling))[1]["type"] == "opted_out"
    assert (await routing.api.send(stranger))[0] == 202


async def test_stop_and_start_from_inbound_cover_every_channel(routing: Routing) -> None:
    """An inbound ' stop ' opts the user out of every channel; 'Start' opts back in."""
    account = await routing.account(
        ["sms", "rcs"],
        {"sms": {"sender_ids": allow("PARLEY")}},
        communication_type="conversational",
        consent=OUT,
    )
    await routing.api.call(
        "PUT",
        f"/v1/consent/{NUMBER}",
        {"status": "opted_in", "channel": "rcs"},
        key=account.api_key,
    )
    inbound = {"channel": "sms", "from": NUMBER, "to": "PARLEY", "text": " stop "}
    status, _ = await routing.api.call("POST", "/v1/sandbox/inbound", inbound)
    assert status == 202
    for channel in ("sms", "rcs"):
        assert (await routing.api.send(account, channel=channel))[1]["type"] == "opted_out"
    status, body = await routing.api.call("GET", f"/v1/consent/{NUMBER}", key=account.api_key)
    assert (body["status"], body["channels"]) == ("opted_out", {})
    inbound["text"] = "Start"
    await routing.api.call("POST", "/v1/sandbox/inbound", inbound)
    assert (await routing.api.send(account, channel="rcs"))[0] == 202
    inbound["text"] = "UNSUBSCRIBE"
    await routing.api.call("POST", "/v1/sandbox/inbound", inbound)
    assert (await routing.api.send(account))[1]["type"] == "opted_out"
