"""Fixtures for the console's tests: account-svc in-process (the parent conftest's `api`) and a
real headless Chromium (Debian's, `PARLEY_CHROMIUM`) driven by Playwright's async API on the
test's own event loop, so the server keeps answering while the browser waits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from account_testkit import Api
from console.console_kit import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, Console, open_console
from playwright.async_api import Browser, async_playwright


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for one test."""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=WAIT_MS * 3
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def console(
    api: Api, browser: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[Console]:
    """The console at 1280x800 against the in-process account-svc; no script errors allowed."""
    tab, context = await open_console(browser, api, request.node.name)
    yield tab
    await context.close()
    assert tab.errors == [], tab.errors
