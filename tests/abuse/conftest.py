"""Fixtures of the abuse tests (`tests/abuse/`), shared by their modules: only what more than
one needs. Services run as real child processes on the embedded NATS and PostgreSQL of
parley_devtools' pytest plugin."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from account_process import StartAccount, start_account_svc
from parley_devtools.processes import Child


@pytest.fixture
async def account_svc(
    database_url: str, nats_url: str, tmp_path: Path
) -> AsyncIterator[StartAccount]:
    """Starts account-svc child processes (`await account_svc(ACCOUNT_X="...")`), each ready
    when returned; every one is stopped (by pid) after the test."""
    children: list[Child] = []

    async def start(**settings: str) -> Child:
        child = await start_account_svc(database_url, nats_url, tmp_path, **settings)
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()
