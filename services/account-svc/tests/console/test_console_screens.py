"""The console's other screens in real headless Chromium: login errors, limits and lockout, the
directory (organizations, users, business groups; hidden from admins), the webhook delivery
log and dead letters, and the layout on a phone-width screen."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import nats
import orjson
from account_svc.adapters.http_binding import USE_CASES
from account_svc.domain.rate_limit import RateLimiter
from account_svc.sessions import LoginGuard, Sessions
from account_testkit import ADMIN_USER, Api, make_tenant, seed_for
from console.console_kit import PHONE, Console, open_console
from parley_shared import subjects
from playwright.async_api import Browser, expect

ATTEMPT = {
    "id": "dlv_1",
    "kind": "status",
    "event_ids": ["evt_1", "evt_2"],
    "url": "https://hooks.example.com/parley",
    "attempt": 2,
    "outcome": "failed",
    "status_code": 500,
    "error": "HTTP 500",
    "duration_ms": 12.5,
    "at": "2026-11-26T10:00:00.123Z",
}
DEAD = {
    "id": "dl_1",
    "kind": "status",
    "event_ids": ["evt_3"],
    "attempts": 4,
    "last_error": "HTTP 500",
    "failed_at": "2026-11-26T10:01:00.456Z",
}


@contextlib.asynccontextmanager
async def _webhook_svc(nats_url: str) -> AsyncIterator[list[str]]:
    """A stand-in for webhook-svc answering its three subjects; records replayed ids."""
    replayed: list[str] = []
    nc = await nats.connect(nats_url)

    async def answer(msg: Any) -> None:
        request = orjson.loads(msg.data)
        if msg.subject == subjects.WEBHOOK_DELIVERIES_QUERY:
            reply: dict[str, Any] = {"items": [ATTEMPT]}
        elif msg.subject == subjects.WEBHOOK_DEAD_LETTERS_QUERY:
            reply = {"items": [] if replayed else [DEAD]}
        else:
            replayed.append(request["dead_letter_id"])
            reply = {"status": 202}
        await msg.respond(orjson.dumps(reply))

    for subject in (
        subjects.WEBHOOK_DELIVERIES_QUERY,
        subjects.WEBHOOK_DEAD_LETTERS_QUERY,
        subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
    ):
        await nc.subscribe(subject, cb=answer)
    await nc.flush()
    yield replayed
    await nc.close()


async def test_login_shows_bad_credentials_and_lockout_then_keeps_the_token_from_script(
    api: Api, console: Console
) -> None:
    """Wrong passwords and a locked username are said plainly; after login the session cookie
    is HttpOnly and SameSite=Strict, and the page's script cannot read the token."""
    page = console.page
    await console.open()
    await page.get_by_label("Username").fill(ADMIN_USER)
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    await console.shot("bad-credentials")

    for _ in range(5):
        await api.call("POST", "/v1/auth/login", {"username": "ghost", "password": "x"}, token="")
    await page.get_by_label("Username").fill("ghost")
    await page.get_by_label("Password").fill("whatever-it-is")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("locked for 15 minutes")
    await console.shot("locked-out")

    await console.login()
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["parley_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert cookies["parley_csrf"]["httpOnly"] is False
    assert session["value"] not in await page.evaluate("() => document.cookie")
    await console.shot("logged-in")

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert "parley_session" not in {c["name"] for c in await page.context.cookies()}
    status, _ = await api.call("GET", "/v1/organizations", token=session["value"])
    assert status == 401


async def test_login_says_when_the_address_is_limited_or_the_server_is_busy(
    api: Api, console: Console
) -> None:
    """The per-address rate limit (429 `rate_limited`) and a full hashing budget (503
    `overloaded`) each get their own plain message, not the lockout's."""
    page = console.page
    await console.open()
    logins = api.app[USE_CASES][Sessions]  # type: ignore[attr-defined]
    generous = logins.guard
    logins.guard = LoginGuard(RateLimiter(per_minute=1, burst=1, clock=time.monotonic))
    for expected in ("Wrong username or password.", "Too many logins from your address"):
        await page.get_by_label("Username").fill("ghost")
        await page.get_by_label("Password").fill("whatever-it-is")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_contain_text(expected)
    await console.shot("rate-limited")

    logins.guard = generous
    budget = logins.passwords.budget
    budget.max_waiters = 0
    held = await budget.acquire(budget.total)
    try:
        await page.get_by_label("Password").fill("whatever-it-is")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_have_text(
            "The server is busy. Try again in a moment."
        )
        await console.shot("overloaded")
    finally:
        budget.release(held)


async def test_super_admin_manages_the_directory_and_admins_do_not_see_it(
    api: Api, browser: Browser, console: Console
) -> None:
    """A super admin creates an aggregator, an enterprise under it, an admin user and a
    business group; that admin sees no Organizations or Users screens."""
    page = console.page
    await console.login()
    await page.get_by_role("link", name="Organizations").click()
    form = page.locator("form")
    await form.get_by_label("Name").fill("Globex Aggregation")
    await form.get_by_label("Aggregator", exact=True).check()
    await form.get_by_role("button", name="Create organization").click()
    await expect(page.locator(".notice-ok")).to_contain_text("Created aggregator Globex")
    await form.get_by_label("Name").fill("Initech")
    await form.get_by_label("Under aggregator").select_option(label="Globex Aggregation")
    await form.get_by_role("button", name="Create organization").click()
    await expect(page.get_by_role("cell", name="Initech")).to_be_visible()
    await console.shot("organizations")

    await page.get_by_role("link", name="Users").click()
    form = page.locator("form")
    await form.get_by_label("Username").fill("x")
    await form.get_by_label("Password").fill("short")
    await form.get_by_role("button", name="Create user").click()
    await expect(page.locator('[data-loc="username"] .field-error')).to_contain_text("at least 3")
    await expect(page.locator('[data-loc="password"] .field-error')).to_contain_text("at least 10")
    await form.get_by_label("Username").fill("ops.admin")
    await form.get_by_label("Password").fill("ops-password-1")
    await form.get_by_label("Organization").select_option(label="Initech (enterprise)")
    await form.get_by_role("button", name="Create user").click()
    await expect(page.get_by_role("cell", name="ops.admin")).to_be_visible()
    await console.shot("users")

    await page.get_by_role("link", name="Business groups").click()
    await page.get_by_label("Enterprise").select_option(label="Initech")
    await page.locator("form").get_by_label("Name").fill("Payments")
    await page.get_by_role("button", name="Create business group").click()
    await expect(page.get_by_role("cell", name="Payments")).to_be_visible()
    await console.shot("business-groups")

    admin, context = await open_console(browser, api, "admin_view")
    await admin.login("ops.admin", "ops-password-1")
    nav = admin.page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Business groups")).to_be_visible()
    await expect(nav.get_by_role("link", name="Organizations")).to_have_count(0)
    await expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    await admin.page.goto(api.base + "/console#/users")
    await expect(admin.page.get_by_role("heading", name="Not available")).to_be_visible()
    await admin.shot("admin-has-no-users-screen")
    await context.close()
    assert admin.errors == []


async def test_delivery_log_says_when_webhook_svc_is_down_and_replays_dead_letters(
    api: Api, console: Console, nats_url: str
) -> None:
    """Without webhook-svc the log says so (503); with it, attempts and dead letters are listed
    and a dead letter is replayed."""
    tenant = await make_tenant(api)
    _, created = await api.call("POST", "/v1/accounts", seed_for(tenant))
    page = console.page
    await console.login()
    await page.goto(f"{api.base}/console#/accounts/{created['account']['id']}")
    log = page.get_by_role("region", name="Webhook deliveries")
    await expect(log).to_contain_text("webhook-svc, which is not running or not answering (503")
    await console.shot("webhook-svc-down")

    async with _webhook_svc(nats_url) as replayed:
        await page.get_by_role("button", name="Refresh deliveries").click()
        await expect(log.get_by_role("cell", name="HTTP 500")).to_be_visible()
        await page.get_by_role("button", name="Refresh dead letters").click()
        await page.get_by_role("button", name="Replay dl_1").click()
        await expect(page.get_by_text("Replay of dl_1 accepted")).to_be_visible()
        await expect(page.get_by_text("No dead letters.")).to_be_visible()
        assert replayed == ["dl_1"]
        await console.shot("delivery-log-and-replay")


async def test_phone_width_layout_fits_the_screen(api: Api, browser: Browser) -> None:
    """At 390x844 the list, the account and every step of the form fit without sideways
    scrolling."""
    tenant = await make_tenant(api)
    _, created = await api.call("POST", "/v1/accounts", seed_for(tenant))
    phone, context = await open_console(browser, api, "phone", PHONE)
    page = phone.page
    await phone.login()
    await expect(page.get_by_role("link", name="OTP alerts")).to_be_visible()
    await phone.no_horizontal_scroll()
    await phone.shot("accounts")
    await page.get_by_role("link", name="OTP alerts").click()
    await expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    await phone.no_horizontal_scroll()
    await phone.shot("account")
    await page.get_by_role("link", name="Edit", exact=True).click()
    for step in ("step1", "step2", "step3"):
        await expect(page.get_by_role("heading", name=f"Step {step[-1]} of 3")).to_be_visible()
        await phone.no_horizontal_scroll()
        await phone.shot(f"edit-{step}")
        if step != "step3":
            await page.get_by_role("button", name="Next").click()
    await context.close()
    assert phone.errors == []
    assert created["account"]["label"] == "OTP alerts"
