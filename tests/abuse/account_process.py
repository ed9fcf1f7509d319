"""account-svc as a real child process for the abuse tests: started on the embedded NATS and
PostgreSQL, its memory measured (psutil, and the kernel's exact peak), stopped by pid."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
from parley_devtools.embedded import LOOPBACK, free_port, stop_process

READY_S = 60.0
ADMIN_PASSWORD = "abuse-bootstrap-password-1"


def child_env(**values: str) -> dict[str, str]:
    """This environment without proxies or Parley settings of its own, plus `values`."""
    prefixes = ("ACCOUNT_", "ROUTING_", "WEBHOOK_", "PARLEY_")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy")
        and not k.startswith(prefixes)
        and k not in ("NATS_URL", "DATABASE_URL")
    }
    env["NO_PROXY"] = env["no_proxy"] = f"{LOOPBACK},localhost"
    env.update(values)
    return env


@dataclass
class Child:
    """A service running as a child process, with its base URL and log file."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None

    def rss(self) -> int:
        """Its resident memory now, in bytes (psutil)."""
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def peak_rss(self) -> int:
        """The most resident memory it ever had, in bytes (the kernel's VmHWM): a peak that no
        sampling can miss."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc: not Linux?")

    def tail(self, lines: int = 40) -> str:
        """The end of its log, for a failure message."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


StartAccount = Callable[..., Awaitable[Child]]


async def start_account_svc(
    database_url: str, nats_url: str, folder: Path, **settings: str
) -> Child:
    """`account-svc serve` as a child process with extra `ACCOUNT_...` settings, once ready."""
    port = free_port()
    env = child_env(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        PARLEY_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        ACCOUNT_HTTP_HOST=LOOPBACK,
        ACCOUNT_HTTP_PORT=str(port),
        ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD,
        ACCOUNT_LOG_JSON="true",
        **settings,
    )
    log = folder / f"account-svc-{port}.log"
    with log.open("wb") as out:
        # Popen returns at once; the wait for readiness is asynchronous.
        proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "account_svc", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    child = Child(proc, f"http://{LOOPBACK}:{port}", log)
    try:
        await _until_ready(child)
    except BaseException:
        stop_process(proc)
        raise
    return child


async def _until_ready(child: Child) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_S
    async with aiohttp.ClientSession() as session:
        while True:
            assert child.alive(), f"account-svc exited {child.proc.returncode}\n{child.tail()}"
            assert loop.time() < deadline, f"account-svc not ready\n{child.tail()}"
            try:
                async with session.get(child.base + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
