"""Helpers for the console's browser tests: Chromium settings, a console tab with screenshot
and login helpers, and where screenshots go (tests/artifacts/console/, ignored by git; the
views shown in the README: docs/console/, committed)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from account_testkit import ADMIN_PASSWORD, ADMIN_USER, Api
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    ViewportSize,
    expect,
)

CHROMIUM = os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[4] / "tests" / "artifacts" / "console"
DOCS = Path(__file__).resolve().parents[4] / "docs" / "console"  # committed, shown in the README
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
WAIT_MS = 10_000

expect.set_options(timeout=WAIT_MS)


@dataclass
class Console:
    """A browser tab on the console, with helpers for the steps every test takes."""

    page: Page
    base: str
    name: str
    errors: list[str] = field(default_factory=list)
    shots: int = 0

    async def shot(self, step: str, *, full_page: bool = True) -> Path:
        """Save a screenshot of this step under tests/artifacts/console/."""
        self.shots += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{self.shots:02d}-{step}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    async def docs_shot(self, name: str) -> Path:
        """Save the screenshot of a view shown in the README (docs/console/<name>.png)."""
        DOCS.mkdir(parents=True, exist_ok=True)
        path = DOCS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    def at(self, loc: str) -> Locator:
        """The field or group whose errors the server names by `loc` (dotted)."""
        return self.page.locator(f'[data-loc="{loc}"]')

    async def open(self) -> None:
        """Open the console (it shows the login form when there is no session)."""
        await self.page.goto(self.base + "/console")

    async def login(self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
        """Log in through the form and wait for the accounts screen."""
        await self.open()
        await self.page.get_by_label("Username").fill(username)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Log in").click()
        heading = self.page.get_by_role("heading", name="Access accounts", level=1)
        await expect(heading).to_be_visible()

    async def no_horizontal_scroll(self) -> None:
        """The page fits the viewport's width (nothing sticks out sideways)."""
        widths = await self.page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert widths[0] <= widths[1], widths


async def open_console(
    browser: Browser, api: Api, name: str, viewport: ViewportSize = DESKTOP
) -> tuple[Console, BrowserContext]:
    """A new browser context (no cookies) with one tab, and its context to close."""
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    console = Console(page, api.base, re.sub(r"[^A-Za-z0-9_-]+", "_", name))
    page.on("pageerror", lambda exc: console.errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            console.errors.append(msg.text) if "Content Security Policy" in msg.text else None
        ),
    )
    return console, context
