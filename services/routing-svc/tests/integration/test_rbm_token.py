"""RBM access tokens against the fake Google token endpoint: the signed JWT-bearer grant,
reuse until shortly before expiry, one fetch for many concurrent callers, one after a 401."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from parley_devtools.fakes.rbm_api import RbmApi
from routing_svc.adapters.providers.rbm_token import ServiceAccountTokens, TokenUnavailable


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the token source."""
    async with aiohttp.ClientSession() as client:
        yield client


async def test_concurrent_callers_share_one_fetch_until_renewal(
    rbm_api: RbmApi, session: aiohttp.ClientSession
) -> None:
    """Twenty concurrent callers cause one fetch; past 90% of the lifetime, one more."""
    rbm_api.token_lifetime_s = 100
    clock = Clock()
    tokens = ServiceAccountTokens(rbm_api.service_account(), lambda: session, monotonic=clock)
    first = await asyncio.gather(*(tokens.token() for _ in range(20)))
    assert len(set(first)) == 1
    assert (rbm_api.token_requests, rbm_api.token_refusals) == (1, 0)
    clock.now += 89
    assert await tokens.token() == first[0]
    clock.now += 2  # 91 s of 100: renewed before expiry
    second = await asyncio.gather(*(tokens.token() for _ in range(20)))
    assert len(set(second)) == 1
    assert second[0] != first[0]
    assert rbm_api.token_requests == 2


async def test_refresh_after_401_fetches_once_for_every_holder_of_the_stale_token(
    rbm_api: RbmApi, session: aiohttp.ClientSession
) -> None:
    """Ten callers refreshing the same stale token cause one fetch and all get the new token."""
    tokens = ServiceAccountTokens(rbm_api.service_account(), lambda: session)
    stale = await tokens.token()
    fresh = await asyncio.gather(*(tokens.refresh(stale) for _ in range(10)))
    assert len(set(fresh)) == 1
    assert fresh[0] != stale
    assert rbm_api.token_requests == 2


async def test_a_key_the_endpoint_does_not_know_is_refused(
    rbm_api: RbmApi, session: aiohttp.ClientSession
) -> None:
    """A grant signed by another key (or for another account) raises TokenUnavailable(refused)."""
    other = RbmApi()  # its own key pair; never started, only its key is used
    account = rbm_api.service_account() | {"private_key": other.service_account()["private_key"]}
    tokens = ServiceAccountTokens(account, lambda: session)
    with pytest.raises(TokenUnavailable) as refused:
        await tokens.token()
    assert refused.value.refused is True
    assert rbm_api.token_refusals == 1
    wrong = rbm_api.service_account() | {"client_email": "someone@else.iam.gserviceaccount.com"}
    with pytest.raises(TokenUnavailable):
        await ServiceAccountTokens(wrong, lambda: session).token()
    assert rbm_api.token_refusals == 2
