"""How long each operator view takes to show its data in Chromium, against a running platform
(`make run`): a measuring instrument, not a test (nothing here asserts a time).

    .venv/bin/python services/account-svc/tests/console/page_timing.py \\
        --password <the admin password make run printed> [--base http://127.0.0.1:8080] \\
        [--routing http://127.0.0.1:8081] [--rounds 10]

It logs in, creates one enterprise and account and sends a few messages (one with a
`client_ref`, RCS falling back to SMS on the sandbox), then loads each view `rounds` times in a
fresh tab and reports the time from navigation start until the view shows its data (the
`parley-screen-shown` performance mark app.js sets when a screen's render has finished: Traffic
with both charts drawn, Routes with its table, Message trace with the timeline of that message,
Dead letters with its account list). The first round is a warm-up (the traffic feed's
first replay) and is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import uuid
from typing import Any

import aiohttp
from playwright.async_api import async_playwright

CHROMIUM = os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium")
MARK = "parley-screen-shown"  # app.js marks it once a screen has rendered its data
MARKED = f"performance.getEntriesByName('{MARK}').length > 0"
READY = {
    "traffic": "#chart-status canvas, #chart-channels canvas, #traffic-updated:not(:empty)",
    "routes": "table",
    "trace": "ol.timeline li.tl-delivered",
    "dead-letters": "select[name=account] option",
}


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with session.request(method, url, **kw) as resp:
        body = await resp.json(content_type=None)
        assert resp.status < 300, (url, resp.status, body)
        return body


async def prepare(base: str, routing: str, user: str, password: str) -> str:
    """An enterprise, an account (RCS -> SMS), five messages; the client_ref of one of them."""
    async with aiohttp.ClientSession() as s:
        token = (
            await _json(
                s, "POST", f"{base}/v1/auth/login", json={"username": user, "password": password}
            )
        )["token"]
        auth = {"Authorization": f"Bearer {token}"}
        ent = await _json(
            s,
            "POST",
            f"{base}/v1/organizations",
            headers=auth,
            json={"name": f"Timing {uuid.uuid4().hex[:6]}", "kind": "enterprise"},
        )
        group = await _json(
            s,
            "POST",
            f"{base}/v1/business-groups",
            headers=auth,
            json={"name": "Timing", "enterprise_id": ent["id"]},
        )
        fallback = {
            "enabled": True,
            "channel": "sms",
            "dr_ttl_seconds": 20,
            "events": ["delivery_failed", "dr_ttl_expired"],
        }
        account = {
            "label": "Page timing",
            "enterprise_id": ent["id"],
            "business_group_id": group["id"],
            "communication_type": "outgoing",
            "traffic_type": "otp",
            "channels": ["rcs", "sms"],
            "channel_settings": {"rcs": {"fallback": fallback}},
            "webhooks": {"status": None, "user_initiated": None},
        }
        created = await _json(s, "POST", f"{base}/v1/accounts", headers=auth, json=account)
        key = {"Authorization": f"Bearer {created['api_key']}"}
        number = "+919800012345"
        await _json(
            s,
            "PUT",
            f"{routing}/v1/sandbox/recipients/{number}",
            json={"outcomes": {"rcs": "delivery_failed"}},
        )
        ref = f"timing-{uuid.uuid4().hex[:8]}"
        for attempt in range(50):  # the new key works within a second
            async with s.post(
                f"{routing}/v1/messages",
                headers=key,
                json={
                    "to": number,
                    "channel": "rcs",
                    "content": {"text": "hi"},
                    "client_ref": ref,
                },
            ) as resp:
                if resp.status == 202:
                    break
            await asyncio.sleep(0.1 * (attempt + 1))
        for _ in range(4):
            await _json(
                s,
                "POST",
                f"{routing}/v1/messages",
                headers=key,
                json={"to": number, "channel": "sms", "content": {"text": "hi"}},
            )
        await asyncio.sleep(1.0)  # let the fallback and the reports land
        return ref


async def measure(base: str, user: str, password: str, ref: str, rounds: int) -> None:
    """Load each view `rounds` + 1 times; print the median and worst of the counted rounds."""
    paths = {
        "traffic": "/console/traffic",
        "routes": "/console/routes",
        "trace": f"/console#/trace/{ref}",
        "dead-letters": "/console/dead-letters",
    }
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        # bypass_csp: Playwright polls with eval, which the console's CSP (rightly) refuses
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, bypass_csp=True
        )
        page = await context.new_page()
        await page.goto(base + "/console")
        await page.get_by_label("Username").fill(user)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("heading", name="Access accounts").wait_for()
        await page.close()
        times: dict[str, list[float]] = {view: [] for view in paths}
        for round_no in range(rounds + 1):
            for view, path in paths.items():
                tab = await context.new_page()  # assets are `no-cache`: fetched every time
                await tab.goto(base + path)
                await tab.wait_for_selector(READY[view], state="attached", timeout=15_000)
                await tab.wait_for_function(MARKED)
                took = await tab.evaluate(f"performance.getEntriesByName('{MARK}')[0].startTime")
                if round_no:
                    times[view].append(float(took))
                await tab.close()
        await browser.close()
    for view, values in times.items():
        print(
            f"{view:13} median {statistics.median(values):6.1f} ms   worst {max(values):6.1f} ms"
            f"   ({len(values)} loads)"
        )


def main() -> None:
    """Parse the arguments, prepare the data, measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--routing", default="http://127.0.0.1:8081")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    ref = asyncio.run(prepare(args.base, args.routing, args.user, args.password))
    asyncio.run(measure(args.base, args.user, args.password, ref, args.rounds))


if __name__ == "__main__":
    main()
