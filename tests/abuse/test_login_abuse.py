"""Login abuse against a real account-svc process: a flood of logins for random usernames from
many addresses, and concurrent guesses at one username (issue 14, "Login")."""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import threading
from collections import Counter
from typing import Any

import aiohttp
from account_process import ADMIN_PASSWORD, Child, StartAccount

MIB = 1024 * 1024
CONTAINER_LIMIT = 256 * MIB  # deploy/: the account-svc container's memory limit
BUDGET = 64 * MIB  # ACCOUNT_PASSWORD_HASH_MEMORY_MIB's default
# What the process may grow by beyond the hashing budget during the flood: 200 open requests
# and their buffers, the hashing threads' stacks, allocator slack.
GROWTH_SLACK = 48 * MIB
FLOOD = 200
FLOOD_S = 120.0
TRUST_LOOPBACK = {"ACCOUNT_TRUSTED_PROXIES": "127.0.0.1/32"}
_VERIFY = re.compile(r'^parley_account_password_hashes_total\{kind="verify"\} (\S+)$', re.M)


def some_address(rng: random.Random) -> str:
    """A random address of 198.18.0.0/15 (benchmarking), as a proxy would forward it."""
    return f"198.{rng.randint(18, 19)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


async def login(
    session: aiohttp.ClientSession, child: Child, username: str, password: str, address: str
) -> tuple[int, Any, dict[str, str]]:
    """One login forwarded for `address`: status, JSON body and headers."""
    async with session.post(
        child.base + "/v1/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    ) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)


async def verifications(session: aiohttp.ClientSession, child: Child) -> float:
    """How many argon2 verifications the process has run (its /metrics)."""
    async with session.get(child.base + "/metrics") as resp:
        found = _VERIFY.search(await resp.text())
    return float(found.group(1)) if found else 0.0


class RssSampler(threading.Thread):
    """Samples a process's RSS with psutil while a load runs (reported next to the kernel's
    exact peak)."""

    def __init__(self, child: Child) -> None:
        super().__init__(daemon=True)
        self.child = child
        self.most = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.005):
            if self.child.alive():
                self.most = max(self.most, self.child.rss())


async def test_a_login_flood_leaves_account_svc_alive_and_within_its_memory(
    account_svc: StartAccount,
) -> None:
    """200 concurrent logins for random usernames from random addresses (behind a trusted
    proxy, so the per-address limit cannot help): every answer is 401, 429 or 503 (503
    `overloaded` with Retry-After), the process's peak RSS stays under the 256 MiB container
    limit and within the hashing budget (+ slack) of where it started, and it still logs in."""
    child = await account_svc(**TRUST_LOOPBACK)
    rng = random.Random(14)
    timeout = aiohttp.ClientTimeout(total=FLOOD_S)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=timeout
    ) as session:
        status, body, _ = await login(session, child, "admin", ADMIN_PASSWORD, some_address(rng))
        assert status == 200, body  # warmed up: every code path has run once
        before = child.rss()
        sampler = RssSampler(child)
        sampler.start()
        try:
            async with asyncio.timeout(FLOOD_S):
                answers = await asyncio.gather(
                    *(
                        login(
                            session,
                            child,
                            "user-" + secrets.token_hex(6),
                            secrets.token_urlsafe(12),
                            some_address(rng),
                        )
                        for _ in range(FLOOD)
                    )
                )
        finally:
            sampler.done.set()
            sampler.join()
        assert child.alive(), child.tail()
        peak = child.peak_rss()
        statuses = Counter(status for status, _, _ in answers)
        print(  # the figures for the report (pytest -s)
            f"\nflood of {FLOOD}: {dict(statuses)}; RSS before {before / MIB:.0f} MiB, "
            f"sampled max {sampler.most / MIB:.0f} MiB, kernel peak (VmHWM) {peak / MIB:.0f} MiB"
        )
        assert set(statuses) <= {401, 429, 503}, statuses
        for status, body, headers in answers:
            if status == 503:
                assert body["type"] == "overloaded", body
                assert int(headers["Retry-After"]) >= 1
        assert peak < CONTAINER_LIMIT, f"peak RSS {peak / MIB:.0f} MiB"
        assert peak - before <= BUDGET + GROWTH_SLACK, (
            f"grew {(peak - before) / MIB:.0f} MiB during the flood"
        )
        async with session.get(child.base + "/healthz") as resp:
            assert resp.status == 200
        status, body, _ = await login(session, child, "admin", ADMIN_PASSWORD, "198.51.100.1")
        assert status == 200, body


async def test_concurrent_guesses_get_five_checks_and_no_oracle(
    account_svc: StartAccount,
) -> None:
    """30 concurrent wrong guesses at one username from 30 addresses: at most five passwords
    are checked (401), the others answer 429 unchecked, and then the right password answers
    exactly like a wrong one (no oracle)."""
    child = await account_svc(
        **TRUST_LOOPBACK,
        # Room for every guess to wait its turn, so none answers 503 and the count is exact.
        ACCOUNT_PASSWORD_HASH_QUEUE="64",
        ACCOUNT_PASSWORD_HASH_WAIT_SECONDS="60",
    )
    rng = random.Random(8)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        checked_before = await verifications(session, child)
        async with asyncio.timeout(FLOOD_S):
            answers = await asyncio.gather(
                *(
                    login(session, child, "admin", f"wrong-guess-{i}", some_address(rng))
                    for i in range(30)
                )
            )
        statuses = sorted(status for status, _, _ in answers)
        assert statuses.count(401) <= 5, statuses
        assert statuses == [401] * 5 + [429] * 25, statuses
        assert await verifications(session, child) - checked_before == 5
        right = await login(session, child, "admin", ADMIN_PASSWORD, some_address(rng))
        wrong = await login(session, child, "admin", "wrong-guess-x", some_address(rng))
        assert right[0] == wrong[0] == 429
        assert right[1] == wrong[1], (right[1], wrong[1])
        assert right[1]["type"] == "too_many_attempts"
        assert set(right[2]) - {"Date"} == set(wrong[2]) - {"Date"}
        assert abs(int(right[2]["Retry-After"]) - int(wrong[2]["Retry-After"])) <= 1
        assert await verifications(session, child) - checked_before == 5
        assert child.alive(), child.tail()
