"""Login under attack: concurrent guesses, a spent hashing budget, one address trying too often,
and old hashes, against account-svc in-process on the real embedded PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
from account_svc.adapters.passwords import PARAMETERS
from account_testkit import ADMIN_PASSWORD, ADMIN_USER
from argon2 import PasswordHasher, extract_parameters
from login_kit import attempt, passwords_of, serving, verifications

WRONG = "wrong-password-1"


async def test_thirty_concurrent_wrong_guesses_check_at_most_five_passwords(
    database_url: str, nats_url: str
) -> None:
    """30 wrong guesses at once: five are checked (401), the rest answer 429 unchecked, and the
    right password then answers exactly like a wrong one (no oracle, CONTRACT 8)."""
    async with serving(
        database_url, nats_url, password_hash_queue=64, password_hash_wait_seconds=60
    ) as api:
        before = verifications()
        answers = await asyncio.gather(*(attempt(api, ADMIN_USER, WRONG) for _ in range(30)))
        statuses = sorted(status for status, _, _ in answers)
        assert statuses.count(401) <= 5, statuses
        assert statuses == [401] * 5 + [429] * 25, statuses
        assert verifications() - before == 5
        locked = [body for status, body, _ in answers if status == 429]
        right = await attempt(api, ADMIN_USER, ADMIN_PASSWORD)
        wrong = await attempt(api, ADMIN_USER, WRONG)
        assert right[0] == wrong[0] == 429
        assert right[1] == wrong[1] == locked[0]
        assert right[1]["type"] == "too_many_attempts"
        assert set(right[2]) - {"Date"} == set(wrong[2]) - {"Date"}
        assert 1 <= int(right[2]["Retry-After"]) <= 15 * 60
        assert verifications() - before == 5  # neither was checked


async def test_a_spent_hashing_budget_answers_503_overloaded_and_counts_nothing(
    database_url: str, nats_url: str
) -> None:
    """With the hashing budget held and no room to wait, login and the console's session
    answer 503 `overloaded` with Retry-After, without counting a failure; once free, the right
    password logs in."""
    async with serving(
        database_url, nats_url, password_hash_queue=0, password_hash_wait_seconds=0
    ) as api:
        budget = passwords_of(api).budget
        held = await budget.acquire(budget.total)
        for _ in range(6):
            status, body, headers = await attempt(api, ADMIN_USER, WRONG)
            assert status == 503, body
            assert body["type"] == "overloaded"
            assert int(headers["Retry-After"]) >= 1
        async with api.session.post(
            api.base + "/console/session", json={"username": ADMIN_USER, "password": WRONG}
        ) as resp:
            assert resp.status == 503
            assert (await resp.json())["type"] == "overloaded"
            assert "Retry-After" in resp.headers
        budget.release(held)
        status, body, _ = await attempt(api, ADMIN_USER, ADMIN_PASSWORD)
        assert status == 200, body  # six refusals were no failures: no lockout


async def test_one_client_address_is_rate_limited_behind_trusted_proxies(
    database_url: str, nats_url: str
) -> None:
    """Behind a trusted proxy each forwarded client has its own budget of attempts; past it the
    answer is 429 `rate_limited` with Retry-After. Every X-Forwarded-For line counts: a client
    cannot hide behind a first line of its own."""
    async with serving(
        database_url,
        nats_url,
        login_rate_per_minute=1,
        login_rate_burst=2,
        trusted_proxies="127.0.0.1/32",
    ) as api:
        for _ in range(2):
            status, _, _ = await attempt(api, "someone", WRONG, ["198.51.100.9"])
            assert status == 401
        status, body, headers = await attempt(api, "someone", WRONG, ["198.51.100.9"])
        assert status == 429, body
        assert body["type"] == "rate_limited"
        assert "address" in body["detail"]
        assert 1 <= int(headers["Retry-After"]) <= 60
        status, body, _ = await attempt(api, "someone", WRONG, ["6.6.6.6", "198.51.100.9"])
        assert status == 429, body
        status, _, _ = await attempt(api, "someone", WRONG, ["198.51.100.10"])
        assert status == 401


async def test_without_trusted_proxies_a_forwarded_address_is_ignored(
    database_url: str, nats_url: str
) -> None:
    """From an untrusted peer, X-Forwarded-For changes nothing: every attempt counts against
    the peer itself."""
    async with serving(database_url, nats_url, login_rate_per_minute=1, login_rate_burst=2) as api:
        for forwarded in (["198.51.100.1"], ["198.51.100.2"]):
            status, _, _ = await attempt(api, "someone", WRONG, forwarded)
            assert status == 401
        status, body, _ = await attempt(api, "someone", WRONG, ["198.51.100.3"])
        assert status == 429, body


async def test_a_hash_made_with_old_parameters_is_replaced_at_login(
    database_url: str, nats_url: str
) -> None:
    """A user whose hash has argon2-cffi's former defaults (64 MiB) logs in, and the stored hash
    then has today's parameters and still verifies."""
    async with serving(database_url, nats_url) as api:
        old = PasswordHasher().hash(ADMIN_PASSWORD)
        conn = await asyncpg.connect(database_url, server_settings={"search_path": "account_svc"})
        try:
            await conn.execute(
                "UPDATE users SET password_hash = $1 WHERE username = $2", old, ADMIN_USER
            )
            status, body, _ = await attempt(api, ADMIN_USER, ADMIN_PASSWORD)
            assert status == 200, body
            stored = await conn.fetchval(
                "SELECT password_hash FROM users WHERE username = $1", ADMIN_USER
            )
        finally:
            await conn.close()
        assert stored != old
        assert extract_parameters(stored) == PARAMETERS
        status, body, _ = await attempt(api, ADMIN_USER, ADMIN_PASSWORD)
        assert status == 200, body


async def test_an_unknown_username_costs_one_verification_like_a_known_one(
    database_url: str, nats_url: str
) -> None:
    """A wrong password for a known user and any password for an unknown one each run exactly
    one argon2 verification, against hashes with the same parameters."""
    async with serving(database_url, nats_url) as api:
        before = verifications()
        status, _, _ = await attempt(api, ADMIN_USER, WRONG)
        assert status == 401
        assert verifications() - before == 1
        status, _, _ = await attempt(api, "nobody-by-that-name", WRONG)
        assert status == 401
        assert verifications() - before == 2
        conn = await asyncpg.connect(database_url, server_settings={"search_path": "account_svc"})
        try:
            stored = await conn.fetchval(
                "SELECT password_hash FROM users WHERE username = $1", ADMIN_USER
            )
        finally:
            await conn.close()
        dummy = passwords_of(api).dummy_hash
        assert extract_parameters(stored) == extract_parameters(dummy) == PARAMETERS
