"""`when_jetstream_ready`: a JetStream still starting is waited for (boundedly); nothing else."""

from __future__ import annotations

import asyncio

import pytest
from nats.errors import NoRespondersError
from nats.js.errors import BadRequestError, ServiceUnavailableError
from parley_shared.streams import when_jetstream_ready

NOT_ENABLED = {"code": 503, "err_code": 10039, "description": "JetStream not enabled for account"}
NO_PEERS = {"code": 400, "err_code": 10005, "description": "no suitable peers for placement"}


class Starting:
    """Answers like a server whose JetStream comes up after `failures` calls."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "info"


async def test_a_jetstream_still_starting_is_waited_for() -> None:
    call = Starting([ServiceUnavailableError(**NOT_ENABLED), NoRespondersError()])
    assert await when_jetstream_ready(call, ready_within=5) == "info"
    assert call.calls == 3


async def test_a_cluster_that_has_not_heard_from_its_peers_yet_is_waited_for() -> None:
    call = Starting([BadRequestError(**NO_PEERS), BadRequestError(**NO_PEERS)])
    assert await when_jetstream_ready(call, ready_within=5) == "info"
    assert call.calls == 3


async def test_peers_still_missing_after_the_bound_is_raised() -> None:
    call = Starting([BadRequestError(**NO_PEERS) for _ in range(1000)])
    with pytest.raises(BadRequestError):
        await when_jetstream_ready(call, ready_within=0.3)
    assert call.calls >= 2


async def test_still_unavailable_after_the_bound_is_raised() -> None:
    call = Starting([ServiceUnavailableError(**NOT_ENABLED) for _ in range(1000)])
    started = asyncio.get_running_loop().time()
    with pytest.raises(ServiceUnavailableError):
        await when_jetstream_ready(call, ready_within=0.3)
    assert 0.3 <= asyncio.get_running_loop().time() - started < 3
    assert call.calls >= 2


async def test_any_other_error_is_raised_at_once() -> None:
    call = Starting([BadRequestError(code=400, err_code=10058, description="stream name in use")])
    with pytest.raises(BadRequestError):
        await when_jetstream_ready(call, ready_within=5)
    assert call.calls == 1
