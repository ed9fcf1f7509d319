"""docs/integrators.md's nats-py examples run, unchanged, against the running platform with
authentication on: subscribe, send over NATS, replay from the durable consumer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest
from parley_devtools.platform import Platform
from parley_devtools.waiting import eventually, eventually_sync

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"
RUN_S = 60.0


def examples() -> dict[str, str]:
    """The doc's python blocks, by the name on their first line (`# example: <name>`)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    found = {}
    for block in blocks:
        first = block.splitlines()[0]
        assert first.startswith("# example: "), first
        found[first.removeprefix("# example: ")] = block
    return found


async def _account(platform: Platform) -> tuple[str, str]:
    """A new account, once its NATS side is ready (its id and key connect)."""
    acc, key = await platform.admin.create_account(traffic_type="otp")

    async def connects() -> bool:
        try:
            nc = await nats.connect(
                platform.nats_url, user=acc, password=key, allow_reconnect=False
            )
        except nats.errors.Error:
            return False
        await nc.close()
        return True

    await eventually(connects, RUN_S, "the new account to connect", 0.05)
    return acc, key


def _start(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _line(proc: subprocess.Popen[str], wanted: str) -> str:
    """Read the process's output until a line starting with `wanted` (or fail)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + RUN_S
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if line.startswith(wanted):
            return line.strip()
    raise AssertionError(f"no line {wanted!r}; output: {''.join(seen)}")


@pytest.mark.timeout(180)
def test_the_nats_py_examples_work(platform: Platform) -> None:
    """subscribe sees the message the send example sent reach its final status; replay reads
    and acks it from the durable consumer, leaving nothing pending."""
    found = examples()
    assert set(found) == {"subscribe", "send", "replay"}
    acc, key = asyncio.run(_account(platform))
    env = {
        **os.environ,
        "NATS_URL": platform.nats_url,
        "PARLEY_ACCOUNT_ID": acc,
        "PARLEY_API_KEY": key,
    }
    subscriber = _start(found["subscribe"], env)
    try:
        _line(subscriber, "subscribed")
        runs: list[subprocess.CompletedProcess[str]] = []

        def sent_ok() -> bool:  # the first connect may come before Parley applied the account
            runs.append(
                subprocess.run(
                    [sys.executable, "-c", found["send"]],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=RUN_S,
                    check=False,
                )
            )
            return runs[-1].returncode == 0

        with contextlib.suppress(AssertionError):
            eventually_sync(sent_ok, RUN_S, "the send example", 0.2)
        sent = runs[-1]
        assert sent.returncode == 0, sent.stdout + sent.stderr
        status, message_id = sent.stdout.split()
        assert status == "202", sent.stdout
        assert message_id.startswith("msg_"), sent.stdout
        final = _line(subscriber, f"status {message_id} delivered")
        assert final.endswith("delivered")
        assert subscriber.wait(timeout=RUN_S) == 0
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait()
    replay = subprocess.run(
        [sys.executable, "-c", found["replay"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_S,
        check=False,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert f"STATUS parley.message.delivered {message_id}" in replay.stdout, replay.stdout
    assert "STATUS pending 0" in replay.stdout, replay.stdout
