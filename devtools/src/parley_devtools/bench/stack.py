"""A benchmark stack: embedded NATS and PostgreSQL plus services as real child processes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from parley_shared.sealing import generate_master_key

from parley_devtools.embedded import NatsServer, Postgres, free_port, stop_process, wait_ready
from parley_devtools.nats_auth import AuthFiles, AuthNatsServer, prepare

ADMIN_PASSWORD = secrets.token_urlsafe(18)


class Stack:
    """NATS, PostgreSQL and account-svc on loopback, stopped on exit.

    With `auth`, NATS runs with Parley's authentication (each service gets its own creds and
    account-svc runs the auth callout), as `make run` and deploy/ do.
    """

    def __init__(self, auth: bool = False) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="parley-bench-"))
        self.auth: AuthFiles | None = prepare(self.tmp / "nats-auth") if auth else None
        self.nats: NatsServer = (
            AuthNatsServer(self.auth, store_dir=self.tmp / "nats")
            if self.auth
            else NatsServer(store_dir=self.tmp / "nats")
        )
        self.pg = Postgres(data_dir=self.tmp / "pg")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.master_key = generate_master_key()
        self.account_port = free_port()

    @property
    def account_url(self) -> str:
        """Base URL of account-svc."""
        return f"http://127.0.0.1:{self.account_port}"

    def env(self) -> dict[str, str]:
        """The environment every service gets."""
        return {
            **os.environ,
            "NATS_URL": self.nats.url,
            "DATABASE_URL": self.pg.url,
            "PARLEY_MASTER_KEY": self.master_key,
            "ACCOUNT_HTTP_HOST": "127.0.0.1",
            "ACCOUNT_HTTP_PORT": str(self.account_port),
            "ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ACCOUNT_LOG_LEVEL": "WARNING",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        }

    def observer_options(self) -> dict[str, Any]:
        """`nats.connect` options of the benchmark's own observer (none without auth)."""
        return self.auth.observer("bench") if self.auth else {}

    def start_service(self, *argv: str) -> subprocess.Popen[bytes]:
        """Start a service command from this venv."""
        exe = str(Path(sys.executable).parent / argv[0])
        log = (self.tmp / f"{argv[0]}.log").open("ab")
        env = self.env() | (self.auth.service_env(argv[0]) if self.auth else {})
        proc = subprocess.Popen([exe, *argv[1:]], env=env, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    async def wait_ready(self, base: str, wait_s: float = 60.0) -> None:
        """Wait for /readyz = 200."""
        await wait_ready(base, None, wait_s)

    def __enter__(self) -> Stack:
        self.nats.start()
        self.pg.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.nats.stop(remove_store=True)
        self.pg.stop(remove_data=True)
