"""The promotional window over HTTP: set on create, changed and removed by merge patch, and a
traffic type change that would leave it behind refused naming it."""

from __future__ import annotations

from account_testkit import Api, make_tenant, seed_for

WINDOW = {"start": "09:00", "end": "21:00", "timezone": "Asia/Kolkata"}


async def test_window_lifecycle_by_merge_patch(api: Api) -> None:
    """Created with a window, it is answered; a patch moving the end changes it; switching to
    OTP with the window kept is 422 on promotional_window; with `null` it goes."""
    body = seed_for(await make_tenant(api))
    body.update(traffic_type="promotional", promotional_window=WINDOW)
    status, made = await api.call("POST", "/v1/accounts", body)
    assert status == 201, made
    account_id = made["account"]["id"]
    assert made["account"]["promotional_window"] == WINDOW
    path = f"/v1/accounts/{account_id}"
    status, patched = await api.call("PATCH", path, {"promotional_window": {"end": "20:30"}})
    assert status == 200, patched
    assert patched["promotional_window"] == {**WINDOW, "end": "20:30"}
    status, problem = await api.call("PATCH", path, {"traffic_type": "otp"})
    assert status == 422, problem
    assert [e["loc"] for e in problem["errors"]] == [["promotional_window"]]
    status, patched = await api.call(
        "PATCH", path, {"traffic_type": "otp", "promotional_window": None}
    )
    assert status == 200, patched
    assert "promotional_window" not in patched
    assert patched["traffic_type"] == "otp"


async def test_a_bad_time_zone_is_named(api: Api) -> None:
    """An unknown time zone answers 422 at promotional_window.timezone; nothing is stored."""
    body = seed_for(await make_tenant(api))
    body.update(traffic_type="promotional", promotional_window={**WINDOW, "timezone": "Nowhere"})
    status, problem = await api.call("POST", "/v1/accounts", body)
    assert status == 422, problem
    assert [e["loc"] for e in problem["errors"]] == [["promotional_window", "timezone"]]
