"""The operator views in real headless Chromium against the whole platform in-process
(account-svc, routing-svc with the sandbox and an SMPP route, webhook-svc, a receiver):
Traffic, Routes, Message trace and Dead letters. Each saves its screenshot for the README
under docs/console/."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from account_testkit import make_tenant
from console.console_kit import PHONE, Console
from parley_devtools.smsc import Smsc
from parley_devtools.waiting import eventually
from playwright.async_api import expect
from stack_kit import NUMBER, Stack, account_settings, stack

__all__ = ["account_settings", "stack"]
PASSWORD_ENV = "PARLEY_TEST_CONSOLE_SMSC_PASSWORD"
CHART_MS = 20_000  # the traffic page refreshes every 5 s


@pytest.fixture
def routing_overrides(
    smsc: Smsc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """routing-svc with an SMPP route at the simulator beside sandbox routes for every channel."""
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    smpp = {"host": smsc.host, "port": smsc.port, "system_id": "parley"}
    routes = [
        {"name": "sms-1", "channel": "sms", "capacity_per_s": 500},
        {"name": "rcs-reliance-jio", "channel": "rcs", "capacity_per_s": 200,
         "agent_provider": "reliance-jio"},
        {"name": "rcs-vodafone-idea", "channel": "rcs", "capacity_per_s": 200,
         "agent_provider": "vodafone-idea"},
        {"name": "wa-1", "channel": "whatsapp", "capacity_per_s": 100},
        {"name": "sms-smsc", "channel": "sms", "capacity_per_s": 50, "provider": "smpp",
         "smpp": {**smpp, "password_env": PASSWORD_ENV, "binds": 2}},
    ]  # fmt: skip
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"routes": routes}), "utf-8")
    return {"routes_file": path}


async def canvas(console: Console, chart: str) -> str:
    """The chart's pixels, as a data URL."""
    data: str = await console.page.locator(f"#{chart} canvas").evaluate("c => c.toDataURL()")
    return data


async def total(console: Console, chart: str) -> int:
    """The sum of what the chart draws (its figure's `data-total`)."""
    value = await console.page.locator(f"#{chart}").get_attribute("data-total")
    return int(value or 0)


async def test_the_traffic_chart_is_drawn_and_moves_when_traffic_flows(
    stack: Stack, console: Console
) -> None:
    """The traffic page draws both charts; messages sent while it is open move the status and
    channel charts without a reload, the numbers are in tables too, and on a phone's width
    nothing sticks out sideways."""
    tenant = await make_tenant(stack.api)
    _, key = await stack.account(tenant, label="Shop OTP")
    await stack.recipient(NUMBER, outcomes={"rcs": "delivery_failed"})
    await stack.send(key, channel="sms")
    await console.login()
    await console.page.goto(console.base + "/console/traffic")
    page = console.page
    await expect(page.get_by_role("heading", name="Traffic", level=1)).to_be_visible()
    await expect(page.locator("#chart-status canvas")).to_be_visible()
    await expect(page.locator("#chart-channels canvas")).to_be_visible()
    before = await canvas(console, "chart-status")

    async def first_counted() -> bool:
        return await total(console, "chart-status") >= 2  # sent + delivered

    await eventually(first_counted, CHART_MS / 1000, "the message sent before the page opened")
    before, drawn = await canvas(console, "chart-status"), await total(console, "chart-status")
    channels = await total(console, "chart-channels")
    for _ in range(4):
        await stack.send(key, channel="rcs")
    await stack.send(key, channel="sms")

    async def moved() -> bool:
        return await total(console, "chart-status") >= drawn + 5 * 2 + 4 * 2

    await eventually(moved, CHART_MS / 1000, "the chart to take the new messages")
    assert await canvas(console, "chart-status") != before
    assert await total(console, "chart-channels") == channels + 4 * 2 + 1
    stats = page.locator(".stats")
    await expect(stats).to_contain_text("Messages finished")
    await expect(stats.locator(".stat", has_text="Fallback rate")).to_contain_text("66.7 %")
    await page.get_by_text("Messages per minute by status: the numbers per minute").click()
    numbers = page.get_by_role("table", name="Messages per minute by status")
    await expect(numbers.get_by_role("columnheader", name="Fell back")).to_be_visible()
    routes = page.get_by_role("table", name="Delivery rate per route")
    await expect(routes.get_by_role("row", name="sms-1")).to_contain_text("100.0 %")
    await expect(page.get_by_role("table", name="Queue depth of each stream")).to_contain_text(
        "webhook-svc-status"
    )
    await console.docs_shot("traffic")
    await page.set_viewport_size(PHONE)

    async def fits() -> bool:  # the charts redraw at the new width
        widths = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        return bool(widths[0] <= widths[1])

    await eventually(fits, 5, "the page to fit a phone's width")


async def test_routes_show_each_routes_state_binds_and_last_error(
    stack: Stack, console: Console, smsc: Smsc
) -> None:
    """Every route is listed with provider and capacity; the SMPP route shows its binds up,
    then down with the error once the SMSC is gone, without a reload."""
    await console.login()
    await console.page.goto(console.base + "/console/routes")
    page = console.page
    table = page.get_by_role("table", name="Routes and their connection state")
    smpp = table.get_by_role("row", name="sms-smsc")
    await expect(smpp).to_contain_text("SMPP 3.4")
    await expect(smpp).to_contain_text("2 of 2 up", timeout=15_000)
    await expect(table.get_by_role("row", name="wa-1")).to_contain_text("100/s")
    await expect(table.get_by_role("row", name="sms-1")).to_contain_text("Up")
    await expect(page.locator("#routes-replicas")).to_contain_text("1 routing-svc replica")
    await smsc.stop()
    await expect(smpp).to_contain_text("Down", timeout=15_000)
    await expect(smpp).to_contain_text("0 of 2 up")
    await expect(smpp.locator("code", has_text="connect")).not_to_have_count(0, timeout=15_000)
    await console.docs_shot("routes")


async def test_find_a_message_shows_its_fallback_chain_and_webhooks(
    stack: Stack, console: Console
) -> None:
    """A message sent in the test is found by its client_ref: its chain RCS -> SMS, its
    attempts, and a timeline of its events with their webhook deliveries."""
    tenant = await make_tenant(stack.api)
    _, key = await stack.account(tenant, label="Shop OTP")
    await stack.recipient(NUMBER, outcomes={"rcs": "delivery_failed"})
    client_ref = f"order-{uuid.uuid4().hex[:8]}"
    message_id = await stack.send(key, channel="rcs", client_ref=client_ref)

    async def delivered() -> bool:
        return len(set(stack.receiver.event_ids("/hook"))) == 4

    await eventually(delivered, 15, "four events delivered to the receiver")
    await console.login()
    page = console.page
    await page.get_by_role("link", name="Message trace").click()
    await expect(page.get_by_label("Find a message")).to_have_value("")
    await expect(page.get_by_label("Find a message")).to_be_focused()
    await page.get_by_label("Find a message").fill(client_ref)
    await page.get_by_role("button", name="Find").click()
    chain = page.get_by_role("list", name="Fallback chain")
    await expect(chain.get_by_role("listitem")).to_have_count(2)
    await expect(chain.get_by_role("listitem").nth(0)).to_contain_text("RCS via rcs-")
    await expect(chain.get_by_role("listitem").nth(0)).to_contain_text("fell back to SMS")
    await expect(chain.get_by_role("listitem").nth(1)).to_contain_text("SMS via sms-1: delivered")
    await expect(page.get_by_text(message_id).first).to_be_visible()
    await expect(page.get_by_text("not traced (tracing was off)")).to_be_visible()  # no OTLP
    attempts = page.get_by_role("table", name="Attempts, oldest first")
    await expect(attempts.get_by_role("row")).to_have_count(3)
    timeline = page.get_by_role("list", name="Timeline")
    await expect(timeline.locator(".tl-item")).to_have_count(5)  # accepted + four events
    await expect(timeline.locator(".hook .tag-delivered")).to_have_count(4)
    assert page.url.endswith(f"#/trace/{client_ref}")
    await console.docs_shot("trace")
    await page.get_by_label("Find a message").fill(message_id)
    await page.get_by_role("button", name="Find").click()
    await expect(page).to_have_url(f"{console.base}/console#/trace/{message_id}")
    await expect(chain.get_by_role("listitem")).to_have_count(2)


async def test_replaying_dead_letters_from_the_page_delivers_them(
    stack: Stack, console: Console
) -> None:
    """Four dead letters: one replayed from its row, two as a selection, the last with
    "Replay all"; each outcome shows "Delivered" and the receiver got every event."""
    tenant = await make_tenant(stack.api)
    account_id, key = await stack.account(
        tenant, path="/dl", label="Receipts", webhook={"retries": 0}
    )
    stack.receiver.script("/dl", [500, 500, 500, 500])
    for _ in range(2):
        await stack.send(key, channel="sms")

    async def dead() -> bool:
        status, body = await stack.api.call("GET", f"/v1/accounts/{account_id}/dead-letters")
        return status == 200 and len(body["items"]) == 4

    await eventually(dead, 15, "four dead letters")
    await console.login()
    page = console.page
    await page.get_by_role("link", name="Dead letters").click()
    await page.get_by_label("Account").select_option(account_id)
    letters = page.get_by_role("table", name="Dead letters, newest first")
    await expect(letters.get_by_role("row")).to_have_count(5)
    await expect(letters).to_contain_text("HTTP 500")
    rows = letters.get_by_role("row")
    first = (await rows.nth(1).locator("code").inner_text()).strip()
    await rows.nth(1).get_by_role("button", name=f"Replay {first}").click()
    outcome = letters.get_by_role("row", name=first).locator(".outcome")
    await expect(outcome).to_contain_text("Delivered")
    ids = [(await rows.nth(i).locator("code").inner_text()).strip() for i in (2, 3)]
    for letter in ids:
        await page.get_by_role("checkbox", name=f"Select {letter}").check()
    await page.get_by_role("button", name="Replay selected (2)").click()
    for letter in ids:
        await expect(letters.get_by_role("row", name=letter).locator(".outcome")).to_contain_text(
            "Delivered"
        )
    await console.docs_shot("dead-letters")
    await page.get_by_role("button", name="Replay all").click()
    await expect(letters.locator(".outcome", has_text="Delivered")).to_have_count(4)
    replayed = stack.receiver.on("/dl")[4:]  # after the four refused first tries
    assert len({event["id"] for request in replayed for event in request.events()}) == 4
