"""Child processes of the harness: one way to start, watch, kill and stop a service command.

Every launcher (`parley-run`, `Platform` for chaos, benchmarks and end-to-end tests, the deploy
smoke test, the tests that need a service as a real process) starts its commands as a `Child`:
in a session of its own (so a signal to the group reaches whatever it forks), its output in a
log file or echoed line by line with a label, stopped by pid with SIGTERM, a grace period, then
SIGKILL for the group and any descendant that left it. Readiness is `/readyz` answering 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import psutil  # type: ignore[import-untyped]

from parley_devtools.embedded import LOOPBACK
from parley_devtools.waiting import PATIENCE_S, eventually_sync

VENV_BIN = Path(sys.executable).parent
STOP_GRACE = 10.0
PARLEY_PREFIXES = ("ACCOUNT_", "ROUTING_", "WEBHOOK_", "PARLEY_")
_PRINT_LOCK = threading.Lock()
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def say(text: str, stream: IO[str] | None = None) -> None:
    """Print one line at once (children's output is echoed from threads)."""
    with _PRINT_LOCK:
        print(text, file=stream or sys.stdout, flush=True)


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without proxies, Parley settings or server URLs of its own,
    the venv's bin first on PATH, plus `values`: what a harness gives the services it starts,
    so that nothing of the developer's shell leaks into a test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy")
        and not k.startswith(PARLEY_PREFIXES)
        and k not in ("NATS_URL", "DATABASE_URL")
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["NO_PROXY"] = env["no_proxy"] = f"{LOOPBACK},localhost"
    env.update(values)
    return env


class LaunchError(Exception):
    """A command cannot be started, failed, or never became ready."""


def resolve_command(argv: Sequence[str]) -> list[str]:
    """The argv with its program found in the venv's bin dir first, then on PATH."""
    program = argv[0]
    local = VENV_BIN / program
    found = (
        program if os.sep in program else str(local) if local.exists() else shutil.which(program)
    )
    if not found or not Path(found).exists():
        raise LaunchError(f"command not found: {program} (is the service installed in the venv?)")
    return [found, *argv[1:]]


def http_ok(url: str) -> bool:
    """Whether GET `url` answers 200 (proxies bypassed: it is on loopback)."""
    try:
        with _NO_PROXY.open(url, timeout=2) as resp:
            return int(resp.status) == 200
    except (OSError, http.client.HTTPException):
        return False


def alive(proc: Any) -> bool:
    """Whether a psutil process still runs (a zombie counts as gone)."""
    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_all(procs: Sequence[Any]) -> list[str]:
    """SIGKILL those still alive and reap them; return the pid of each one killed."""
    running = [p for p in procs if alive(p)]
    for proc in running:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=3)
    return [str(p.pid) for p in running]


def _never() -> bool:
    return False


class StopRequests:
    """Stop requests, counted by a signal handler (which must take no lock: Event.set does).
    A platform no signal reaches is never asked to stop."""

    def __init__(self) -> None:
        """No request yet."""
        self.count = 0

    def handle(self, signum: int, frame: object) -> None:
        """The first signal asks for a stop, the next ones force it."""
        self.count += 1

    @property
    def stop(self) -> bool:
        """Whether a stop was asked."""
        return self.count > 0

    @property
    def forced(self) -> bool:
        """Whether a stop was asked again (no more grace)."""
        return self.count > 1

    def wait(self, seconds: float) -> bool:
        """Nap up to `seconds`; whether a stop was asked."""
        deadline = time.monotonic() + seconds
        while not self.stop and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.stop


class Child:
    """One command as a child process in its own session, startable again after a kill.

    Its output goes to `log` (appended, so restarts keep the history), or, without a log, is
    echoed line by line prefixed with the label (parley-run); `collect` keeps the echoed stdout
    lines too (a prepare step's report). `port` is its HTTP port when it serves one.
    """

    def __init__(
        self,
        label: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        log: Path | None = None,
        port: int | None = None,
        collect: bool = False,
    ) -> None:
        """Nothing runs until `start`."""
        self.label, self.argv, self.env = label, list(argv), dict(env)
        self.log, self.port, self.collect = log, port, collect
        self.stdout_lines: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._pumps: list[threading.Thread] = []

    @property
    def base(self) -> str:
        """Base URL of its HTTP listener."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        """Its pid (it must have been started)."""
        assert self.proc is not None, f"{self.label} was never started"
        return self.proc.pid

    def start(self) -> Child:
        """Start the command (its program resolved in the venv first)."""
        argv = resolve_command(self.argv)
        if self.log is not None:
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    argv,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        else:
            self.proc = subprocess.Popen(
                argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            streams = ((self.proc.stdout, sys.stdout), (self.proc.stderr, sys.stderr))
            self._pumps = [
                threading.Thread(target=self._pump, args=pair, daemon=True) for pair in streams
            ]
            for pump in self._pumps:
                pump.start()
        self.starts += 1
        return self

    def _pump(self, pipe: IO[bytes], stream: IO[str]) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if self.collect and stream is sys.stdout:
                self.stdout_lines.append(line)
            say(f"{self.label} | {line}", stream)
        pipe.close()

    def alive(self) -> bool:
        """Whether it runs now."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Its exit code once it exited."""
        return None if self.proc is None else self.proc.poll()

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL its group and reap it: no cleanup of any kind (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.proc.wait()

    def stop(
        self,
        grace_s: float = STOP_GRACE,
        forced: Callable[[], bool] = _never,
        report: Callable[[str], None] | None = None,
    ) -> None:
        """SIGTERM the group, wait up to `grace_s` (less once `forced()`), SIGKILL the group and
        any descendant that left it; `report` hears "stopping" and "killing" as they happen."""
        if self.proc is None:
            return
        family: list[Any] = []
        with contextlib.suppress(psutil.NoSuchProcess):
            family = psutil.Process(self.proc.pid).children(recursive=True)
        if self.proc.poll() is None:
            if report:
                report(f"stopping {self.label}")
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while self.proc.poll() is None and time.monotonic() < deadline and not forced():
                time.sleep(0.05)
            if self.proc.poll() is None and report:
                report(f"killing {self.label}")
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        kill_all(family)
        for pump in self._pumps:
            pump.join(timeout=2)

    # ------------------------------------------------------------------ readiness
    def ready(self) -> bool:
        """Whether `/readyz` answers 200; a LaunchError (with its log's tail) once it exited."""
        if not self.alive():
            raise LaunchError(
                f"{self.label} exited with code {self.returncode} before it was ready\n"
                + self.tail()
            )
        return http_ok(self.base + "/readyz")

    def wait_ready_sync(
        self, within_s: float = PATIENCE_S * 2, interrupted: Callable[[], bool] = _never
    ) -> None:
        """Block until ready (or `interrupted()`); a LaunchError when it exits or time is up."""
        try:
            eventually_sync(
                lambda: interrupted() or self.ready(), within_s, f"{self.label} ready", 0.1
            )
        except AssertionError as exc:
            raise LaunchError(f"{exc} ({self.base}/readyz)\n{self.tail()}") from None

    async def wait_ready(self, within_s: float = PATIENCE_S * 2) -> None:
        """`wait_ready_sync` for an event loop (the probe runs in a thread)."""
        await asyncio.to_thread(self.wait_ready_sync, within_s)

    async def started(self, within_s: float = PATIENCE_S * 2) -> Child:
        """Start it and wait until it is ready."""
        self.start()
        await self.wait_ready(within_s)
        return self

    # ------------------------------------------------------------------ looking at it
    def tail(self, lines: int = 30) -> str:
        """The last lines of its log (nothing when its output is echoed)."""
        if self.log is None or not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.log.name}\n" + "\n".join(text)

    def rss(self) -> int:
        """Its resident memory now, in bytes."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def peak_rss(self) -> int:
        """The most resident memory it ever had, in bytes (the kernel's VmHWM): a peak that no
        sampling can miss."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise LaunchError("no VmHWM in /proc: not Linux?")


def service_process(
    argv: Sequence[str], log_dir: Path, port_env: str, label: str = "", **settings: str
) -> Child:
    """A service command on a free loopback port (`port_env`, and its `_HOST` twin set to
    loopback) with a clean environment plus `settings`, logging to
    `<log_dir>/<label>-<port>.log`; not started. For tests that need one service as a real
    process beside what they run themselves."""
    from parley_devtools.embedded import free_port

    port = free_port()
    host_env = port_env.removesuffix("_PORT") + "_HOST"
    env = clean_env(**{host_env: LOOPBACK, port_env: str(port)}, **settings)
    label = label or Path(argv[0]).name
    return Child(label, argv, env, log=Path(log_dir) / f"{label}-{port}.log", port=port)


class Children:
    """What one harness started, logged under `root`, stopped the last started first."""

    def __init__(self, root: Path, echo: bool = False) -> None:
        """Logs go to `root` (or, with `echo`, the children's output is echoed)."""
        self.root, self.echo = root, echo
        self.started: list[Child] = []

    def add(self, label: str, argv: Sequence[str], env: Mapping[str, str], **kw: Any) -> Child:
        """A child logging to `<root>/<label>.log` (`kw`: `port`, `collect`), not started yet."""
        log = None if self.echo else self.root / f"{label.replace(' ', '-').replace('/', '_')}.log"
        child = Child(label, argv, env, log=log, **kw)
        self.started.append(child)
        return child

    def start(self, label: str, argv: Sequence[str], env: Mapping[str, str], **kw: Any) -> Child:
        """`add`, then start it."""
        return self.add(label, argv, env, **kw).start()

    def run(
        self, label: str, argv: Sequence[str], env: Mapping[str, str], timeout: float = 120
    ) -> str:
        """Run a one-shot command to completion, logged; its stdout. A LaunchError unless it
        exits 0."""
        result = subprocess.run(
            resolve_command(argv),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        (self.root / f"{label}.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise LaunchError(
                f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def tails(self, lines: int = 30) -> str:
        """The last lines of every log under `root`, for a failure message."""
        out = []
        for log in sorted(self.root.rglob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        """Stop every child, the last started first."""
        for child in reversed(self.started):
            child.stop()


async def wait_all_ready(children: Sequence[Child], within_s: float = PATIENCE_S * 2) -> None:
    """Until every child is ready (they start in parallel; each must be ready in time)."""
    await asyncio.gather(*(c.wait_ready(within_s) for c in children))
