"""account-svc as a real child process for the abuse tests (`parley_devtools.processes.Child`):
started on the embedded NATS and PostgreSQL with chosen settings, its memory measured (psutil,
and the kernel's exact peak), stopped by pid."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from parley_devtools.embedded import LOOPBACK, free_port
from parley_devtools.processes import Child, clean_env
from parley_shared.sealing import generate_master_key

ADMIN_PASSWORD = "abuse-bootstrap-password-1"

StartAccount = Callable[..., Awaitable[Child]]


async def start_account_svc(
    database_url: str, nats_url: str, folder: Path, **settings: str
) -> Child:
    """`account-svc serve` as a child process with extra `ACCOUNT_...` settings, once ready."""
    port = free_port()
    env = clean_env(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        PARLEY_MASTER_KEY=generate_master_key(),
        ACCOUNT_HTTP_HOST=LOOPBACK,
        ACCOUNT_HTTP_PORT=str(port),
        ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD,
        ACCOUNT_LOG_JSON="true",
        **settings,
    )
    argv = [sys.executable, "-m", "account_svc", "serve"]
    child = Child("account-svc", argv, env, log=folder / f"account-svc-{port}.log", port=port)
    try:
        return await child.started()
    except BaseException:
        child.stop()
        raise
