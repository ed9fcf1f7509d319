"""`make run` starts the real platform, answers /readyz, and leaves nothing running on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import nats
import psutil
import pytest
from parley_devtools.embedded import free_port

REPO = Path(__file__).resolve().parents[1]
STARTUP_S = 120.0
EXIT_S = 40.0


def _alive(proc: Any) -> bool:
    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _login(port: int, password: str) -> int:
    body = json.dumps({"username": "admin", "password": password}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/auth/login",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def _nats_checks(operator: dict[str, str]) -> None:
    url = operator["url"]
    for options in ({}, {"user": operator["user"], "password": "wrong"}):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, **options)
    nc = await nats.connect(url, user=operator["user"], password=operator["password"])
    try:
        await nc.subscribe("parley.msg.>")
        await nc.flush()
    finally:
        await nc.close()


def _check_nats_is_closed(data: Path, output: str) -> None:
    """CONTRACT section 10: no anonymous NATS connection; the operator credential is written to
    <data>/nats/operator.json, printed in the banner, and connects."""
    operator = json.loads((data / "nats" / "operator.json").read_text())
    assert set(operator) == {"url", "user", "password"}
    assert f"password {operator['password']}" in output
    assert (data / "nats" / "operator.json").stat().st_mode & 0o077 == 0
    asyncio.run(_nats_checks(operator))


def test_make_run_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    """make run: readyz 200, the printed password logs in, NATS refuses anonymous connections,
    Ctrl-C leaves no process behind."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("NATS_URL", "DATABASE_URL", "PARLEY_MASTER_KEY", "ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD")
    }
    env.update(
        PARLEY_DATA_DIR=str(tmp_path / "data"),
        PARLEY_NATS_PORT=str(free_port()),
        ACCOUNT_HTTP_PORT=str(port),
    )
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    family: list[Any] = []
    try:
        deadline = time.monotonic() + STARTUP_S
        while _get(f"http://127.0.0.1:{port}/readyz") != 200 or not any(
            "Parley is running" in line for line in lines
        ):
            assert proc.poll() is None, "make run exited early:\n" + "".join(lines)
            assert time.monotonic() < deadline, "not ready in time:\n" + "".join(lines)
            time.sleep(0.2)
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}" in output
        match = re.search(r"password (\S+)  \(shown once\)", output)
        assert match, output
        assert _login(port, match.group(1)) == 200
        _check_nats_is_closed(tmp_path / "data", output)
        family = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(p.name() for p in family if _alive(p))
        assert "nats-server" in names
        assert "postgres" in names
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the whole group
        proc.wait(timeout=EXIT_S)
    finally:
        if proc.poll() is None:
            # Services run in sessions of their own: collect them before the group goes.
            leftovers = psutil.Process(proc.pid).children(recursive=True)
            os.killpg(proc.pid, signal.SIGKILL)
            for child in leftovers:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [f"{p.name()}({p.pid})" for p in family if _alive(p)]
    assert not left, f"left running: {left}"
    data = str(tmp_path / "data")
    strays = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if any(data in part for part in (p.info["cmdline"] or []))
    ]
    assert not strays, f"processes still using the data dir: {strays}"
