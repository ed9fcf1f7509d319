"""The Create Access Account flow and the account screens in real headless Chromium: the form's
three steps, server validation errors next to their fields, secrets shown once, edit (a merge
patch of what changed), rotation and delete."""

from __future__ import annotations

from typing import Any

import asyncpg
from account_testkit import Api, make_tenant, seed_for
from console.console_kit import Console
from playwright.async_api import expect


async def _enterprise_without_groups(api: Api, name: str) -> str:
    status, ent = await api.call("POST", "/v1/organizations", {"name": name, "kind": "enterprise"})
    assert status == 201, ent
    return str(ent["id"])


async def test_create_rcs_sms_account_with_fallback_and_batching(
    api: Api, console: Console
) -> None:
    """An RCS+SMS account with RCS->SMS fallback (DR TTL) and batched webhooks is created through
    the form; the server's 422 shows next to its fields; the API key is shown once only."""
    enterprise_id = await _enterprise_without_groups(api, "Acme Corp")
    page = console.page
    await console.login()
    await page.get_by_role("link", name="Create access account").click()
    await expect(page.get_by_role("heading", name="Step 1 of 3: Basic details")).to_be_visible()

    # Step 1: basic details, with the business group created in place.
    await page.get_by_label("Enterprise").select_option(label="Acme Corp")
    await expect(page.get_by_text("This enterprise has no business group yet")).to_be_visible()
    await page.get_by_label("New business group name").fill("Alerts")
    await page.get_by_role("button", name="Create business group").click()
    await expect(page.get_by_label("Business group", exact=True)).to_have_value(_re_prefix("bg_"))
    await page.get_by_label("Account label").fill("OTP alerts")
    await page.get_by_label("Traffic type").select_option("otp")
    await console.at("channels").get_by_label("RCS").check()
    await console.at("channels").get_by_label("SMS").check()
    await console.shot("step1-basic-details")
    await page.get_by_role("button", name="Next").click()

    # Step 2: only the selected channels' settings are shown.
    await expect(page.get_by_role("heading", name="Step 2 of 3: Advanced settings")).to_be_visible()
    await expect(console.at("channel_settings.rcs")).to_be_visible()
    await expect(console.at("channel_settings.sms")).to_be_visible()
    await expect(console.at("channel_settings.whatsapp")).to_be_hidden()
    await expect(console.at("channel_settings.truecaller")).to_be_hidden()
    await expect(console.at("webhooks.user_initiated")).to_be_hidden()

    ip = console.at("security.ip_restriction")
    await ip.get_by_label("Only an allowlist").check()
    # A prefix length of 33 is a rule only the server knows.
    await ip.get_by_label("Allowlist, one per line").fill("203.0.113.0/24\n10.0.0.0/33")

    fallback = console.at("channel_settings.rcs.fallback")
    ttl = console.at("channel_settings.rcs.fallback.dr_ttl_seconds")
    await fallback.get_by_label("Fall back to another channel when RCS fails").check()
    await fallback.get_by_label("Fall back to", exact=True).select_option("sms")
    whatsapp_option = fallback.get_by_label("Fall back to", exact=True).locator("[value=whatsapp]")
    await expect(whatsapp_option).to_be_disabled()
    await fallback.get_by_label("Delivery failed").check()
    await expect(ttl).to_be_hidden()
    await fallback.get_by_label("No delivery report in time (DR TTL expired)").check()
    await expect(ttl).to_be_visible()
    await ttl.get_by_label("DR TTL (seconds)").fill("0")

    sms = console.at("channel_settings.sms.sender_ids")
    await sms.get_by_label("Only an allowlist").check()
    await sms.get_by_label("Allowlist, one per line").fill("PARLEY")

    hook = console.at("webhooks.status")
    await hook.get_by_label("Send status events to a webhook").check()
    await hook.get_by_label("Webhook URL").fill("https://hooks.example.com/parley")
    await expect(hook.get_by_label("Typing (conversational only)")).to_be_hidden()
    for event in ("Delivery status", "Sent", "Read"):
        await hook.get_by_label(event, exact=True).check()
    await hook.get_by_label("Batch events into one delivery").check()
    await hook.get_by_label("Max events per batch").fill("20")
    await console.shot("step2-advanced-settings")
    await page.get_by_role("button", name="Next").click()

    # Step 3: review, create, and the server's errors land next to their fields.
    review = page.locator(".review")
    await expect(review).to_contain_text("to SMS on Delivery failed")
    await console.shot("step3-review")
    await page.get_by_role("button", name="Create access account").click()
    await expect(page.locator(".error-summary")).to_contain_text("The server found 2 problems")
    await expect(ttl.locator(".field-error")).to_contain_text("greater than or equal to 1")
    await expect(ttl.get_by_label("DR TTL (seconds)")).to_have_attribute("aria-invalid", "true")
    allow = console.at("security.ip_restriction.allowlist")
    await expect(allow.locator(".field-error")).to_contain_text("line 2: Input should be an IPv4")
    await expect(page.get_by_role("heading", name="Step 2 of 3: Advanced settings")).to_be_visible()
    await console.shot("server-validation-errors")

    await ttl.get_by_label("DR TTL (seconds)").fill("20")
    await allow.get_by_label("Allowlist, one per line").fill("203.0.113.0/24")
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Create access account").click()

    # The secrets, once.
    key_box = page.get_by_role("textbox", name="API key")
    await expect(key_box).to_have_value(_re_prefix("pk_"))
    await expect(page.get_by_role("textbox", name="Webhook signing secret")).to_have_value(
        _re_prefix("whsec_")
    )
    await expect(page.get_by_text("they are shown only this once")).to_be_visible()
    api_key = await key_box.input_value()
    await console.shot("created-secrets-shown-once")

    status, page_body = await api.call("GET", f"/v1/accounts?enterprise_id={enterprise_id}")
    assert status == 200
    [account] = page_body["items"]
    assert account["label"] == "OTP alerts"
    assert account["channels"] == ["rcs", "sms"]
    assert account["traffic_type"] == "otp"
    assert account["security"]["ip_restriction"] == {
        "mode": "allowlist",
        "allowlist": ["203.0.113.0/24"],
    }
    assert account["channel_settings"]["rcs"]["fallback"] == {
        "enabled": True,
        "channel": "sms",
        "dr_ttl_seconds": 20,
        "events": ["delivery_failed", "dr_ttl_expired"],
    }
    assert account["channel_settings"]["sms"]["sender_ids"] == {
        "mode": "allowlist",
        "allowlist": ["PARLEY"],
    }
    status_hook = account["webhooks"]["status"]
    assert status_hook["batch"] == {"enabled": True, "max_events": 20}
    assert status_hook["events"] == ["delivery_status", "sent", "read"]
    assert account["webhooks"]["user_initiated"] is None

    await page.reload()
    await expect(page.get_by_role("heading", name="OTP alerts", level=1)).to_be_visible()
    await expect(page.get_by_role("textbox", name="API key")).to_have_count(0)
    assert api_key not in await page.content()
    await console.shot("after-reload-no-secrets")


async def test_edit_rotate_and_delete_an_account(api: Api, console: Console) -> None:
    """Edit sends a merge patch of only the changed fields; rotations show the new secret once;
    delete asks first and then the account is gone."""
    tenant = await make_tenant(api)
    status, created = await api.call("POST", "/v1/accounts", seed_for(tenant))
    assert status == 201, created
    account_id = created["account"]["id"]
    page = console.page
    await console.login()
    await page.get_by_label("Search this page").fill("OTP")
    await page.get_by_role("link", name="OTP alerts").click()
    await expect(page.get_by_role("heading", name="OTP alerts", level=1)).to_be_visible()
    await console.shot("account-detail")

    await page.get_by_role("link", name="Edit", exact=True).click()
    await expect(page.get_by_role("heading", name="Step 1 of 3: Basic details")).to_be_visible()
    await expect(page.get_by_label("Enterprise")).to_be_disabled()
    await page.get_by_label("Account label").fill("OTP alerts EU")
    await page.get_by_role("button", name="Next").click()
    passphrase = console.at("security.payload_encryption").get_by_label("Passphrase")
    await expect(passphrase).to_have_attribute("placeholder", "Set: leave empty to keep it")
    await console.at("webhooks.status").get_by_label("Max events per batch").fill("10")
    await console.shot("edit-step2")
    await page.get_by_role("button", name="Next").click()
    async with page.expect_request(lambda r: r.method == "PATCH") as patch_info:
        await page.get_by_role("button", name="Save changes").click()
    patch_request = await patch_info.value
    assert patch_request.headers["content-type"] == "application/merge-patch+json"
    assert patch_request.post_data_json == {
        "label": "OTP alerts EU",
        "webhooks": {"status": {"batch": {"max_events": 10}}},
    }
    await expect(page.get_by_text("Saved: the account is now at version 2.")).to_be_visible()
    status, stored = await api.call("GET", f"/v1/accounts/{account_id}")
    assert (stored["label"], stored["version"]) == ("OTP alerts EU", 2)
    assert stored["security"]["payload_encryption"]["passphrase_set"] is True

    await page.get_by_role("button", name="Rotate API key").click()
    await expect(page.get_by_role("dialog")).to_contain_text("stops working at once")
    await page.get_by_role("button", name="Issue new API key").click()
    new_key = await page.get_by_role("textbox", name="API key").input_value()
    assert new_key.startswith("pk_")
    assert new_key != created["api_key"]
    await console.shot("rotated-api-key")
    await page.get_by_role("button", name="I have saved them").click()
    await page.get_by_role("button", name="Rotate signing secret").click()
    await page.get_by_role("button", name="Issue new webhook signing secret").click()
    await expect(page.get_by_role("textbox", name="Webhook signing secret")).to_have_value(
        _re_prefix("whsec_")
    )

    await page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Delete OTP alerts EU?")
    await console.shot("delete-confirmation", full_page=False)
    await dialog.get_by_role("button", name="Cancel").click()
    status, _ = await api.call("GET", f"/v1/accounts/{account_id}")
    assert status == 200
    await page.get_by_role("button", name="Delete", exact=True).click()
    await page.get_by_role("button", name="Delete account").click()
    await expect(page.get_by_role("heading", name="Access accounts", level=1)).to_be_visible()
    await expect(page.locator(".notice-ok")).to_have_text(f"Deleted OTP alerts EU ({account_id}).")
    await expect(page.get_by_text("No access accounts yet.")).to_be_visible()
    await console.shot("deleted")
    status, _ = await api.call("GET", f"/v1/accounts/{account_id}")
    assert status == 404


def _re_prefix(prefix: str) -> Any:
    import re

    return re.compile("^" + re.escape(prefix))


async def test_fields_appear_only_where_they_apply(api: Api, console: Console) -> None:
    """Conversational hides traffic type and shows typing and the user-initiated webhook,
    whose formats are only those with an inbound shape (Native, CleverTap); WhatsApp offers
    capacity-based traffic management, Truecaller round robin only; WebEngage hides batching;
    the account created matches what the form showed."""
    tenant = await make_tenant(api)
    subscription = f"/v1/organizations/{tenant['enterprise_id']}/app-subscriptions/template_lookup"
    assert (await api.call("PUT", subscription))[0] == 201  # an app needs its subscription
    page = console.page
    await console.login()
    await page.get_by_role("link", name="Create access account").click()
    await expect(page.get_by_label("Traffic type")).to_be_visible()
    await page.get_by_label("Conversational: two-way messaging").check()
    await expect(page.get_by_label("Traffic type")).to_be_hidden()
    await page.get_by_label("Enterprise").select_option(tenant["enterprise_id"])
    await page.get_by_label("Business group", exact=True).select_option(tenant["business_group_id"])
    await page.get_by_label("Account label").fill("Support chat")
    await console.at("channels").get_by_label("WhatsApp").check()
    await console.at("channels").get_by_label("Truecaller").check()
    await page.get_by_role("button", name="Next").click()

    whatsapp = console.at("channel_settings.whatsapp")
    await whatsapp.get_by_label("Only an allowlist").check()
    await whatsapp.get_by_label("Allowlist, one per line").fill("+919800000001")
    await whatsapp.get_by_label("Traffic management").check()
    strategies = whatsapp.get_by_label("Strategy").locator("option")
    await expect(strategies).to_have_text(["Round robin", "Capacity based"])
    await whatsapp.get_by_label("Strategy").select_option("capacity_based")
    truecaller = console.at("channel_settings.truecaller")
    await truecaller.get_by_label("Traffic management").check()
    await expect(truecaller.get_by_label("Strategy").locator("option")).to_have_text(
        ["Round robin"]
    )
    await expect(console.at("channel_settings.rcs")).to_be_hidden()

    hook = console.at("webhooks.status")
    await hook.get_by_label("Send status events to a webhook").check()
    await hook.get_by_label("Webhook URL").fill("nats://bus.example.com:4222/support.status")
    await hook.get_by_label("Typing (conversational only)").check()
    await expect(hook.get_by_label("Batch events into one delivery")).to_be_visible()
    await hook.get_by_label("Payload format").select_option("webengage")
    await expect(hook.get_by_label("Batch events into one delivery")).to_be_hidden()
    inbound = console.at("webhooks.user_initiated")
    await expect(inbound).to_be_visible()
    await inbound.get_by_label("Send user-initiated messages to a webhook").check()
    await inbound.get_by_label("Webhook URL").fill("https://hooks.example.com/inbound")
    formats = inbound.get_by_label("Payload format").locator("option")
    await expect(formats).to_have_text(["Native", "CleverTap"])
    await expect(hook.get_by_label("Payload format").locator("option")).to_have_text(
        ["Native", "CleverTap", "MoEngage", "WebEngage"]
    )
    await inbound.get_by_label("Payload format").select_option("clevertap")
    await inbound.get_by_label("Add metadata pairs to every event").check()
    await inbound.get_by_label("Key").fill("team")
    await inbound.get_by_label("Value").fill("support")
    await console.at("apps").get_by_label("Template lookup").check()
    await console.shot("conversational-step2")
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Create access account").click()
    await expect(page.get_by_role("textbox", name="API key")).to_have_value(_re_prefix("pk_"))

    status, listed = await api.call("GET", f"/v1/accounts?enterprise_id={tenant['enterprise_id']}")
    assert status == 200
    [account] = listed["items"]
    assert account["communication_type"] == "conversational"
    assert account["traffic_type"] is None
    assert account["channels"] == ["whatsapp", "truecaller"]
    settings = account["channel_settings"]
    assert settings["whatsapp"]["wabas"] == {"mode": "allowlist", "allowlist": ["+919800000001"]}
    assert settings["whatsapp"]["traffic_management"] == {
        "enabled": True,
        "strategy": "capacity_based",
    }
    assert settings["truecaller"]["traffic_management"] == {
        "enabled": True,
        "strategy": "round_robin",
    }
    status_hook = account["webhooks"]["status"]
    assert status_hook["payload_format"] == "webengage"
    assert status_hook["events"] == ["typing"]
    assert status_hook["batch"]["enabled"] is False
    inbound_hook = account["webhooks"]["user_initiated"]
    assert inbound_hook["url"] == "https://hooks.example.com/inbound"
    assert inbound_hook["payload_format"] == "clevertap"
    assert inbound_hook["metadata"] == {"enabled": True, "pairs": {"team": "support"}}
    assert account["apps"]["template_lookup"] is True


async def test_account_list_pages_and_searches_the_loaded_page(api: Api, console: Console) -> None:
    """The list pages with limit/cursor (next, previous), and search filters the loaded page by
    label or id."""
    tenant = await make_tenant(api)
    for n in range(12):
        body = seed_for(tenant)
        body["label"] = f"Account {n:02d}"
        status, _ = await api.call("POST", "/v1/accounts", body)
        assert status == 201
    page = console.page
    await console.login()
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(12)
    await page.get_by_label("Page size").select_option("10")
    await expect(rows).to_have_count(10)
    await expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    await page.get_by_role("button", name="Next page").click()
    await expect(rows).to_have_count(2)
    await expect(page.get_by_text("Page 2")).to_be_visible()
    await expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    await console.shot("page-2")
    await page.get_by_role("button", name="Previous page").click()
    await expect(rows).to_have_count(10)
    first_id = await rows.first.locator("code").inner_text()
    await page.get_by_label("Search this page").fill(first_id)
    await expect(rows).to_have_count(1)
    await page.get_by_label("Search this page").fill("no such account")
    await expect(page.get_by_text("No account on this page matches.")).to_be_visible()


async def test_editing_an_account_stored_with_a_refused_inbound_format(
    api: Api, console: Console, database_url: str
) -> None:
    """An account stored with a MoEngage user-initiated webhook (before the rule) shows that
    format as no longer offered; saving a change names the field with the server's reason, and
    saving again with CleverTap chosen is accepted."""
    tenant = await make_tenant(api)
    body = seed_for(tenant)
    body.pop("traffic_type")
    body["communication_type"] = "conversational"
    body["webhooks"]["user_initiated"] = {"url": "https://hooks.example.com/in"}
    status, created = await api.call("POST", "/v1/accounts", body)
    assert status == 201, created
    account_id = created["account"]["id"]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE account_svc.accounts SET config = jsonb_set(config,"
            " '{webhooks,user_initiated,payload_format}', '\"moengage\"') WHERE id = $1",
            account_id,
        )
    finally:
        await conn.close()
    page = console.page
    await console.login()
    await page.goto(f"{console.base}/console#/accounts/{account_id}/edit")
    await page.get_by_label("Account label").fill("OTP alerts EU")
    await page.get_by_role("button", name="Next").click()
    fmt = console.at("webhooks.user_initiated").get_by_label("Payload format")
    await expect(fmt.locator("option:checked")).to_have_text("moengage (no longer offered)")
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Save changes").click()
    error = console.at("webhooks.user_initiated.payload_format").locator(".field-error")
    await expect(error).to_contain_text("no shape for user-initiated (inbound) messages")
    await console.shot("refused-inbound-format")
    await fmt.select_option("clevertap")
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator(".notice-ok")).to_contain_text("Saved")
    status, account = await api.call("GET", f"/v1/accounts/{account_id}")
    assert status == 200, account
    assert account["webhooks"]["user_initiated"]["payload_format"] == "clevertap"
    assert account["label"] == "OTP alerts EU"
