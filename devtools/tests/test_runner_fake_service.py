"""`parley-run` end to end with a fake service and the embedded NATS and PostgreSQL.

The fake service (fake_service.py) is added through PARLEY_SERVICES_EXTRA, and
PARLEY_SERVICES_ONLY keeps the real services out. After the banner every descendant of the
runner is recorded (the runner adopts orphans, so the daemonized postmaster is among them);
after the runner exits none of them, nor any process naming the test's data dir, may be alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from parley_devtools.embedded import free_port
from parley_devtools.processes import STOP_GRACE
from parley_devtools.runner import BANNER_TITLE

FAKE = Path(__file__).with_name("fake_service.py")
RUNNER = Path(sys.executable).parent / "parley-run"
STARTUP_DEADLINE = 90.0
EXIT_DEADLINE = 30.0
CLEARED = (
    "NATS_URL",
    "DATABASE_URL",
    "PARLEY_MASTER_KEY",
    "PARLEY_SERVICES_ONLY",
    "PARLEY_SERVICES_EXTRA",
    "ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD",
    "WEBHOOK_ALLOW_PRIVATE_TARGETS",
)


def alive(proc: Any) -> bool:
    """Whether a psutil process still runs (a zombie counts as gone)."""
    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it holds, failing the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        threading.Event().wait(0.05)


@dataclass
class Run:
    """A running `parley-run` and everything needed to judge it."""

    proc: subprocess.Popen[str]
    data: Path
    report_path: Path
    nats_port: int
    http_port: int
    lines: list[str] = field(default_factory=list)
    started: list[Any] = field(default_factory=list)

    @property
    def output(self) -> str:
        """Everything the runner printed so far."""
        return "\n".join(self.lines)

    def read(self) -> None:
        """Collect the runner's output lines (in a thread)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_text(self, text: str, timeout: float = STARTUP_DEADLINE) -> None:
        """Wait until the runner printed `text`, failing early if it exits."""
        wait_until(lambda: text in self.output or self.proc.poll() is not None, timeout, repr(text))
        assert text in self.output, f"runner exited {self.proc.returncode}:\n{self.output}"

    def wait_exit(self, timeout: float = EXIT_DEADLINE) -> int:
        """The runner's exit code; fails with its output if it is still running after `timeout`."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"runner still running after {timeout}s:\n{self.output}")

    def report(self) -> dict[str, Any]:
        """What the fake service wrote about itself."""
        return dict(json.loads(self.report_path.read_text()))

    def descendants(self) -> list[Any]:
        """Every process below the runner right now."""
        return list(psutil.Process(self.proc.pid).children(recursive=True))

    def naming_data_dir(self) -> list[Any]:
        """Processes anywhere whose command line mentions this run's data dir."""
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            if any(str(self.data) in part for part in proc.info["cmdline"] or []) and alive(proc):
                found.append(proc)
        return found


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """Start `parley-run` with a fake service; whatever happens, nothing outlives the test."""
    runs: list[Run] = []

    def start(command: str = "serve", env: dict[str, str] | None = None) -> Run:
        http_port, nats_port = free_port(), free_port()
        spec = {
            "name": "fake-svc",
            "order": 1,
            "port_env": "FAKE_HTTP_PORT",
            "default_port": http_port,
            "prepare": ["python", str(FAKE), "prepare"],
            "command": ["python", str(FAKE), command],
            "urls": {"health": "/healthz"},
        }
        specs, report = tmp_path / f"specs{len(runs)}.json", tmp_path / f"report{len(runs)}.json"
        specs.write_text(json.dumps([spec]))
        full_env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        full_env |= {
            "PARLEY_DATA_DIR": str(tmp_path / "data"),
            "PARLEY_NATS_PORT": str(nats_port),
            "PARLEY_SERVICES_EXTRA": str(specs),
            "PARLEY_SERVICES_ONLY": "fake-svc",
            "FAKE_REPORT": str(report),
            **(env or {}),
        }
        proc = subprocess.Popen(
            [str(RUNNER)],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        run = Run(proc, tmp_path / "data", report, nats_port, http_port)
        threading.Thread(target=run.read, daemon=True).start()
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            run.started += run.descendants()
            run.proc.kill()
            run.wait_exit()
        for proc in [p for p in run.started if alive(p)] + run.naming_data_dir():
            proc.kill()


def http_status(url: str) -> int:
    """The status of GET `url`, bypassing any proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as resp:
        return int(resp.status)


def started_processes(
    run: Run, servers: tuple[str, ...] = ("nats-server", "postgres")
) -> list[Any]:
    """Everything below the runner, checked to hold `servers`, the service and its child."""
    wait_until(run.report_path.exists, 10, "the fake service's report")
    report = run.report()
    procs = run.started = run.descendants()
    names = {p.name() for p in procs}
    pids = {p.pid for p in procs}
    assert set(servers) <= names
    assert {report["pid"], report["grandchild_pid"]} <= pids
    return procs


def assert_nothing_left(run: Run, started: list[Any]) -> None:
    """None of the recorded processes, and no process naming the data dir, is alive."""
    survivors = [p for p in started if alive(p)] + run.naming_data_dir()
    assert not survivors, f"left running: {survivors}\n{run.output}"


def stop_and_check(
    run: Run, sig: signal.Signals, servers: tuple[str, ...] = ("nats-server", "postgres")
) -> None:
    """Send `sig` once, expect exit 0 within the deadline and nothing left running."""
    started = started_processes(run, servers)
    run.proc.send_signal(sig)
    run.wait_exit()
    assert run.proc.returncode == 0, run.output
    assert_nothing_left(run, started)


def test_sigterm_stops_everything_it_started(start_runner: Callable[..., Run]) -> None:
    """Under SIGTERM the runner stops the service group, NATS and PostgreSQL and exits 0."""
    run = start_runner()
    run.wait_for_text(BANNER_TITLE)
    assert http_status(f"http://127.0.0.1:{run.http_port}/readyz") == 200
    env = run.report()["env"]
    key = (run.data / "master.key").read_text().strip()
    assert env["NATS_URL"] == f"nats://127.0.0.1:{run.nats_port}"
    assert env["DATABASE_URL"].startswith("postgresql://")
    assert env["PARLEY_MASTER_KEY"] == key
    assert env["PARLEY_DATA_DIR"] == str(run.data)
    assert env["WEBHOOK_ALLOW_PRIVATE_TARGETS"] == "true"
    assert "fake-svc | fake service listening" in run.output
    assert f"password {env['ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD']}" in run.output
    assert key not in run.output
    stop_and_check(run, signal.SIGTERM)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
def test_sigint_stops_everything_it_started(
    start_runner: Callable[..., Run], sig: signal.Signals
) -> None:
    """Ctrl-C (or a closed terminal) stops everything; a password the user gave is not printed."""
    run = start_runner(env={"ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD": "given-by-the-user"})
    run.wait_for_text(BANNER_TITLE)
    assert run.report()["env"]["ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD"] == "given-by-the-user"
    assert "given-by-the-user" not in run.output
    assert "admin " not in run.output
    stop_and_check(run, sig)


def test_second_signal_kills_a_service_that_ignores_sigterm(
    start_runner: Callable[..., Run],
) -> None:
    """A second Ctrl-C SIGKILLs a group that ignores SIGTERM without waiting out the grace."""
    run = start_runner(env={"FAKE_IGNORE_SIGTERM": "1"})
    run.wait_for_text(BANNER_TITLE)
    started = started_processes(run)
    run.proc.send_signal(signal.SIGINT)
    run.wait_for_text("stopping fake-svc", timeout=10)
    forced_at = time.monotonic()
    run.proc.send_signal(signal.SIGINT)
    run.wait_exit()
    assert time.monotonic() - forced_at < STOP_GRACE
    assert run.proc.returncode == 0, run.output
    assert "killing fake-svc" in run.output
    assert_nothing_left(run, started)


def test_service_dying_before_ready_fails_the_run(start_runner: Callable[..., Run]) -> None:
    """A service that exits before /readyz answers makes the runner say so and exit 1."""
    run = start_runner(
        command="crash",
        env={"NATS_URL": "nats://127.0.0.1:1", "DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"},
    )
    run.wait_exit()
    run.wait_for_text("parley-run: stopped", timeout=5)
    assert run.proc.returncode == 1
    assert "fake-svc exited with code 3 before it was ready" in run.output
    assert "stopping NATS" not in run.output
    assert not run.naming_data_dir()


def test_a_second_runner_on_the_same_data_dir_is_refused(
    start_runner: Callable[..., Run],
) -> None:
    """While one runner holds a data dir another one exits 1 without touching it."""
    outside = {"NATS_URL": "nats://127.0.0.1:1", "DATABASE_URL": "postgresql://u@127.0.0.1:1/x"}
    first = start_runner(env=outside)
    first.wait_for_text(BANNER_TITLE)
    second = start_runner(env=outside)
    second.wait_exit()
    assert second.proc.returncode == 1
    assert "another parley-run is using" in second.output
    assert http_status(f"http://127.0.0.1:{first.http_port}/readyz") == 200
    stop_and_check(first, signal.SIGTERM, servers=())


def test_next_run_kills_what_a_sigkilled_runner_left(start_runner: Callable[..., Run]) -> None:
    """After the runner itself is SIGKILLed, the next run on its data dir cleans up after it."""
    crashed = start_runner()
    crashed.wait_for_text(BANNER_TITLE)
    orphans = started_processes(crashed)
    crashed.proc.kill()
    crashed.wait_exit()
    assert all(alive(p) for p in orphans)
    successor = start_runner()
    successor.wait_for_text(BANNER_TITLE)
    assert "left by an earlier run" in successor.output
    leftovers = [p for p in orphans if alive(p) and p.name() != "postgres"]
    assert not leftovers, "the earlier run's NATS and service should be gone"
    stop_and_check(successor, signal.SIGTERM, servers=("nats-server",))  # postgres: adopted
    assert not [p for p in orphans if alive(p)], successor.output
