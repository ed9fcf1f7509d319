"""Tenancy and sessions over fake ports: scope decides what is created and seen; login's
limits run before any password is compared; only token hashes are stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from account_fakes import AGGREGATOR, ENTERPRISE, OTHER, PLATFORM, Attempts, Hasher, Memory, user
from account_svc.domain.rate_limit import RateLimiter
from account_svc.domain.requests import BusinessGroupIn, LoginIn, OrganizationIn, UserIn
from account_svc.domain.tokens import token_hash
from account_svc.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Overloaded,
    RateLimited,
    TooManyAttempts,
    Unauthorized,
)
from account_svc.sessions import LOCKOUT_FAILURES, LoginGuard, Sessions
from account_svc.tenancy import Tenancy
from parley_runtime.addresses import parse_networks


def tenancy(memory: Memory) -> Tenancy:
    """Tenancy over one in-memory store."""
    return Tenancy(memory, memory, Hasher())


async def test_an_aggregator_creates_enterprises_under_itself_only() -> None:
    """An aggregator super admin's enterprise goes under its aggregator; an aggregator it may
    not create (403), and nothing is written."""
    memory = Memory()
    made = await tenancy(memory).create_org(
        user(AGGREGATOR), OrganizationIn(name="Shop", kind="enterprise")
    )
    assert made["aggregator_id"] == AGGREGATOR.id
    with pytest.raises(Forbidden):
        await tenancy(memory).create_org(
            user(AGGREGATOR), OrganizationIn(name="Agg", kind="aggregator")
        )
    assert [w[0] for w in memory.journal] == ["insert_org"]


async def test_another_tenants_enterprise_is_not_found_and_nothing_is_written() -> None:
    """A business group in an enterprise out of scope answers 404 like a missing one."""
    memory = Memory()
    with pytest.raises(NotFound):
        await tenancy(memory).create_group(
            user(ENTERPRISE), BusinessGroupIn(name="G", enterprise_id=OTHER.id)
        )
    assert memory.journal == []
    assert await tenancy(memory).sees(user(AGGREGATOR), ENTERPRISE.id)
    assert not await tenancy(memory).sees(user(AGGREGATOR), OTHER.id)


async def test_users_are_created_with_a_hash_and_only_by_super_admins() -> None:
    """A super admin's new user is stored with its password hashed; an admin may neither
    create nor list users."""
    memory = Memory()
    body = UserIn(username="ana", password="long enough 1", role="admin", organization_id=None)
    made = await tenancy(memory).create_user(PLATFORM, body)
    assert "password_hash" not in made
    assert memory.users[made["id"]]["password_hash"] == "new:long enough 1"
    with pytest.raises(Forbidden):
        await tenancy(memory).list_users(user(None, "admin"))
    with pytest.raises(Conflict):
        await tenancy(memory).create_user(PLATFORM, body)


async def test_the_bootstrap_admin_is_created_only_while_no_user_exists() -> None:
    """The first call creates the platform super admin; the next finds users and does nothing."""
    memory = Memory()
    assert await tenancy(memory).ensure_bootstrap_admin("admin", "secret password")
    assert not await tenancy(memory).ensure_bootstrap_admin("admin", "another password")
    assert [u["role"] for u in memory.users.values()] == ["super_admin"]


def sessions(memory: Memory, attempts: Attempts, hasher: Hasher, burst: int = 100) -> Sessions:
    """Login with a rate limit of `burst` attempts per address, on a frozen clock."""
    limiter = RateLimiter(per_minute=1, burst=burst, clock=lambda: 0.0)
    guard = LoginGuard(limiter, parse_networks(""))
    return Sessions(memory, attempts, hasher, guard, timedelta(hours=1))


async def _with_user(memory: Memory, password_hash: str = "new:right password") -> None:
    memory.users["usr_1"] = {
        "id": "usr_1",
        "username": "Ana",
        "password_hash": password_hash,
        "role": "admin",
        "organization_id": ENTERPRISE.id,
    }


async def test_a_login_opens_a_session_stored_under_the_tokens_hash() -> None:
    """The answer carries the token; the store holds only its hash, which authenticates back
    to the user; logout forgets it."""
    memory, attempts = Memory(), Attempts()
    await _with_user(memory)
    use = sessions(memory, attempts, Hasher())
    answer = await use.login(LoginIn(username="ana", password="right password"), "203.0.113.9")
    token = answer["token"]
    assert token not in memory.sessions
    assert token_hash(token) in memory.sessions
    who = await use.authenticate(token)
    assert (who.user_id, who.org) == ("usr_1", ENTERPRISE)
    await use.logout(token)
    with pytest.raises(Unauthorized):
        await use.authenticate(token)


async def test_a_locked_username_is_refused_without_checking_its_password() -> None:
    """After the limit, even the right password answers 429 and is never compared."""
    memory, attempts, hasher = Memory(), Attempts(), Hasher()
    await _with_user(memory)
    use = sessions(memory, attempts, hasher)
    for _ in range(LOCKOUT_FAILURES):
        with pytest.raises(Unauthorized):
            await use.login(LoginIn(username="ana", password="wrong"), "203.0.113.9")
    with pytest.raises(TooManyAttempts) as locked:
        await use.login(LoginIn(username="ana", password="right password"), "203.0.113.9")
    assert hasher.checked == LOCKOUT_FAILURES
    assert int(locked.value.headers["Retry-After"]) > 0
    assert not memory.sessions


async def test_a_rate_limited_address_is_refused_before_anything_else() -> None:
    """Past the address's burst the answer is 429 `rate_limited`: no attempt counted, no
    password compared."""
    memory, attempts, hasher = Memory(), Attempts(), Hasher()
    await _with_user(memory)
    use = sessions(memory, attempts, hasher, burst=1)
    await use.login(LoginIn(username="ana", password="right password"), "203.0.113.9")
    with pytest.raises(RateLimited):
        await use.login(LoginIn(username="ana", password="right password"), "203.0.113.9")
    assert hasher.checked == 1
    assert attempts.counts == {}


async def test_a_hash_with_old_parameters_is_replaced_at_login() -> None:
    """A successful login with a hash made under other parameters stores a fresh one."""
    memory, attempts = Memory(), Attempts()
    await _with_user(memory, "old:right password")
    await sessions(memory, attempts, Hasher()).login(
        LoginIn(username="ana", password="right password"), None
    )
    assert attempts.replaced == [("usr_1", "new:right password")]


async def test_a_login_refused_for_lack_of_hashing_memory_is_not_counted() -> None:
    """With the hashing budget spent the answer is 503 `overloaded` and the lockout counts
    nothing: the attempt is reserved only once its memory is held."""
    memory, attempts, hasher = Memory(), Attempts(), Hasher()
    await _with_user(memory)
    hasher.overloaded = True
    use = sessions(memory, attempts, hasher)
    for _ in range(LOCKOUT_FAILURES + 1):
        with pytest.raises(Overloaded):
            await use.login(LoginIn(username="ana", password="right password"), "203.0.113.9")
    assert attempts.counts == {}
    hasher.overloaded = False
    answer = await use.login(LoginIn(username="ana", password="right password"), "203.0.113.9")
    assert answer["user"]["id"] == "usr_1"
