"""The console's screens for issue 15 in real headless Chromium: an enterprise's registered
senders and app subscriptions ("Senders and apps"), and a promotional account's window in the
account form."""

from __future__ import annotations

import re

from account_testkit import Api, make_tenant
from console.console_kit import Console
from playwright.async_api import expect


async def test_register_and_deregister_senders_and_manage_apps(api: Api, console: Console) -> None:
    """A super admin registers an SMS sender with its header registration (a bad one shows
    the server's 422 at its field), deregisters it, subscribes the enterprise to an app and
    withdraws it; the API agrees at each step."""
    tenant = await make_tenant(api)
    ent = tenant["enterprise_id"]
    page = console.page
    await console.login()
    await page.get_by_role("link", name="Senders and apps").click()
    await expect(page.get_by_role("heading", name="Senders and apps", level=1)).to_be_visible()
    await page.get_by_label("Enterprise").select_option(ent)
    await expect(page.locator(f'[data-enterprise="{ent}"][aria-busy="false"]')).to_be_visible()
    form = page.locator("form", has=page.get_by_role("heading", name="Register a sender"))
    await form.get_by_label("Sender", exact=True).fill("S!")
    await form.get_by_role("button", name="Register sender").click()
    await expect(console.at("value").locator(".field-error")).to_contain_text("3 to 15")
    await form.get_by_label("Sender", exact=True).fill("SHOPCO")
    await form.get_by_label("Header registration").fill("1105169000000012")
    await form.get_by_role("button", name="Register sender").click()
    senders = page.get_by_role("table", name="Registered senders")
    await expect(senders).to_contain_text("SHOPCO")
    await expect(senders).to_contain_text("1105169000000012")
    _, listed = await api.call("GET", f"/v1/senders?enterprise_id={ent}")
    assert [s["value"] for s in listed["items"]] == ["SHOPCO"]
    await console.shot("senders")
    await page.get_by_role("button", name="Deregister SHOPCO").click()
    await expect(page.get_by_role("status", name="Last change")).to_contain_text(
        "Deregistered SHOPCO"
    )
    assert (await api.call("GET", f"/v1/senders?enterprise_id={ent}"))[1]["items"] == []

    await page.get_by_role("button", name="Subscribe to URL shortener").click()
    await expect(page.get_by_role("status", name="Last change")).to_contain_text(
        "Subscribed to URL shortener"
    )
    _, subs = await api.call("GET", f"/v1/organizations/{ent}/app-subscriptions")
    assert [s["app"] for s in subs["items"]] == ["url_shortener"]
    await page.get_by_role("button", name="Withdraw URL shortener").click()
    await expect(page.get_by_role("status", name="Last change")).to_contain_text(
        "switched off in 0 accounts"
    )
    await console.shot("apps")


async def test_a_promotional_window_is_set_in_the_account_form(api: Api, console: Console) -> None:
    """The window shows only for promotional traffic and once switched on; an empty window is
    the server's 422 at its field; the account created carries the window."""
    tenant = await make_tenant(api)
    page = console.page
    await console.login()
    await page.get_by_role("link", name="Create access account").click()
    await page.get_by_label("Enterprise").select_option(tenant["enterprise_id"])
    await page.get_by_label("Business group", exact=True).select_option(tenant["business_group_id"])
    await page.get_by_label("Account label").fill("Offers")
    window = console.at("promotional_window")
    await page.get_by_label("Traffic type").select_option("otp")
    await expect(window).to_be_hidden()
    await page.get_by_label("Traffic type").select_option("promotional")
    await expect(window).to_be_visible()
    await window.get_by_label("Accept promotional sends only in a window").check()
    await window.get_by_label("From").fill("09:00")
    await window.get_by_label("Until").fill("09:00")
    await window.get_by_label("Time zone").fill("Asia/Kolkata")
    await console.at("channels").get_by_label("SMS").check()
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Create access account").click()
    error = console.at("promotional_window.end").locator(".field-error")
    await expect(error).to_contain_text("end must differ from start")
    await window.get_by_label("Until").fill("21:30")
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Create access account").click()
    await expect(page.get_by_role("textbox", name="API key")).to_have_value(re.compile("^pk_"))
    _, listed = await api.call("GET", f"/v1/accounts?enterprise_id={tenant['enterprise_id']}")
    [account] = listed["items"]
    assert account["promotional_window"] == {
        "start": "09:00",
        "end": "21:30",
        "timezone": "Asia/Kolkata",
    }
