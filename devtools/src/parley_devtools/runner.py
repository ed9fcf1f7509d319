"""`parley-run` (what `make run` calls): the whole platform in the foreground until Ctrl-C.

Starts an embedded NATS server and PostgreSQL unless `NATS_URL` / `DATABASE_URL` are set, ensures
the master key, then, in `order`, prepares and starts every service registered in the
`parley.services` entry-point group, waits for its `/readyz`, and prints the URLs (and the
bootstrap admin's password when the runner generated it). On SIGINT/SIGTERM/SIGHUP, on failure
and at exit it stops the services (SIGTERM to each process group, SIGKILL after 10 s or at a
second Ctrl-C), then NATS, then PostgreSQL, and kills any descendant left. Exit 0 after a
requested stop, 1 on failure. One runner per data dir (`<data>/runner.lock`, which also lists the
process groups it started so the next runner kills them if this one was SIGKILLed).

The platform itself is `parley_devtools.platform.Platform` (the launcher chaos, the benchmarks
and the end-to-end tests use too) with this run's choices: the data dir, the services' default
ports, the user's environment passed through, output echoed; services are what registers in the
`parley.services` entry points (`parley_devtools.services`). Programs resolve in the venv's bin
dir, then PATH. A prepare step's stdout line `{"bootstrap_admin": {"created": ..., "username":
...}}` reports the bootstrap admin.

Environment: the contract's section 1 (`NATS_URL`, `PARLEY_NATS_PORT`, `DATABASE_URL`,
`PARLEY_DATA_DIR`, `PARLEY_MASTER_KEY`, port variables, `ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD`,
`WEBHOOK_ALLOW_PRIVATE_TARGETS` defaulted to `true`), and for tests and partial runs:
`PARLEY_SERVICES_EXTRA` (path of a JSON file with one spec or a list, run besides the discovered
ones) and `PARLEY_SERVICES_ONLY` (comma-separated names: run only these).
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psutil  # type: ignore[import-untyped]

from parley_devtools.platform import Options, Platform
from parley_devtools.processes import LaunchError, StopRequests, kill_all, say

BANNER_TITLE = "Parley is running"
RunnerError = LaunchError  # why the platform cannot run; `main` prints it and exits 1


def data_dir(env: Mapping[str, str]) -> Path:
    """`PARLEY_DATA_DIR`, or `.parley` in the current directory (the repo under `make run`)."""
    raw = env.get("PARLEY_DATA_DIR")
    return Path(raw).expanduser().resolve() if raw else Path.cwd() / ".parley"


def _check_key(value: str, where: str) -> str:
    with contextlib.suppress(binascii.Error, ValueError):
        if len(base64.b64decode(value, validate=True)) == 32:
            return value
    raise RunnerError(f"the master key in {where} is not 32 bytes in standard base64")


def load_master_key(env: Mapping[str, str], data: Path) -> str:
    """`PARLEY_MASTER_KEY`, else `<data>/master.key`, else a new key written there (mode 0600)."""
    if env.get("PARLEY_MASTER_KEY"):
        return _check_key(env["PARLEY_MASTER_KEY"], "PARLEY_MASTER_KEY")
    path = data / "master.key"
    if path.exists():
        return _check_key(path.read_text().strip(), str(path))
    key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    say(f"parley-run: generated a master key in {path}")
    return key


def redact_url(url: str) -> str:
    """The URL without its password (in the authority or a `password` query parameter)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}@{host}" if parts.username else host
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="/")))


def parse_bootstrap(lines: Sequence[str]) -> dict[str, Any] | None:
    """The `bootstrap_admin` object of the last stdout line that carries one."""
    for line in reversed(lines):
        if "bootstrap_admin" not in line:
            continue
        with contextlib.suppress(ValueError):
            payload = json.loads(line)
            if isinstance(payload, dict) and isinstance(payload.get("bootstrap_admin"), dict):
                return dict(payload["bootstrap_admin"])
    return None


def become_subreaper() -> None:
    """On Linux, adopt orphaned descendants (the daemonized postmaster too) so none escapes."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


class DataDirLock:
    """The runner's exclusive hold on a data dir, listing the process groups it started."""

    def __init__(self, data: Path) -> None:
        self.file = (data / "runner.lock").open("a+", encoding="ascii")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunnerError(f"another parley-run is using {data}") from None
        self.file.seek(0)
        for line in self.file.read().split("\n"):  # left by a runner that was SIGKILLed
            with contextlib.suppress(ValueError, psutil.Error, ProcessLookupError):
                pid, started = line.split()
                if psutil.Process(int(pid)).create_time() == float(started):
                    say(f"parley-run: killing process group {pid} left by an earlier run")
                    os.killpg(int(pid), signal.SIGKILL)
        self.file.truncate(0)

    def record(self, pid: int) -> None:
        """Remember a process group (leader `pid`) until the next run."""
        with contextlib.suppress(psutil.Error):
            self.file.write(f"{pid} {psutil.Process(pid).create_time()}\n")
            self.file.flush()


class Runner:
    """One `parley-run`: the data dir's lock, the platform, the banner; stopped exactly once."""

    def __init__(self) -> None:
        self.requests = StopRequests()
        self.lock: DataDirLock | None = None
        self.platform: Platform | None = None
        self.stopped = False

    def start(self, env: Mapping[str, str]) -> list[str]:
        """The platform as this run wants it; the banner's lines."""
        data = data_dir(env)
        data.mkdir(parents=True, exist_ok=True)
        self.lock = DataDirLock(data)
        key = load_master_key(env, data)
        password = env.get("ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
        options = Options(
            nats_url=env.get("NATS_URL") or None,
            database_url=env.get("DATABASE_URL") or None,
            settings={},
            data_dir=data,
            master_key=key,
            admin_password=password,
            env=env,
            default_ports=True,
            echo=True,
        )
        self.platform = platform = Platform(options, self.requests, self.lock.record)
        platform.start()
        if self.requests.stop:
            return []
        return self.banner(platform, generated=not env.get("ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD"))

    def banner(self, platform: Platform, generated: bool) -> list[str]:
        """What runs where, and the bootstrap admin's password when this run made both."""
        lines: list[str] = []
        for spec in platform.specs:
            root = platform.url(spec.name)
            lines.append(f"  {spec.name:<11} {root}")
            lines += [f"      {label:<16} {root}{path}" for label, path in spec.urls.items()]
        data = platform.root
        embedded = bool(platform.nodes)
        nats_note = f"embedded, log {data / 'nats.log'}" if embedded else "from NATS_URL"
        lines.append(f"  NATS        {redact_url(platform.nats_url)}  ({nats_note})")
        if platform.auth is not None and embedded:
            where = data / "nats" / "operator.json"
            secret = platform.auth.operator_password()
            lines.append(f"  NATS operator  user operator  password {secret}  ({where})")
        db_note = "embedded" if platform.pg is not None else "from DATABASE_URL"
        lines.append(f"  PostgreSQL  {redact_url(platform.database_url)}  ({db_note})")
        lines.append(f"  data dir    {data}")
        info: dict[str, Any] = {}
        for output in platform.prepared.values():  # account-svc's bootstrap reports the admin
            info = parse_bootstrap(output) or info
        if info.get("created") is True and generated:
            password = platform.admin_password
            admin = f"username {info.get('username')}  password {password}  (shown once)"
            lines.append(f"  admin       {admin}")
        return lines

    def watch(self) -> None:
        """Until a stop is asked; a service or server that exits meanwhile is a failure."""
        assert self.platform is not None
        while not self.requests.wait(0.5):
            self.platform.check()

    def stop(self) -> None:
        """Stop the platform and kill whatever of ours is left; idempotent."""
        if self.stopped:
            return
        self.stopped = True
        if self.platform is not None:
            self.platform.stop()
        if left := kill_all(psutil.Process().children(recursive=True)):
            say(f"parley-run: killed leftover processes {', '.join(left)}")
        if self.lock is not None:
            self.lock.file.truncate(0)
        say("parley-run: stopped")


def run(env: Mapping[str, str] | None = None) -> int:
    """Run the platform until a signal; 0 after a requested stop, 1 on failure."""
    runner = Runner()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, runner.requests.handle)
    atexit.register(runner.stop)
    become_subreaper()
    try:
        banner = runner.start(dict(os.environ) if env is None else env)
        if not runner.requests.stop:
            line = "=" * 72
            say("\n".join([line, f"  {BANNER_TITLE}  (Ctrl-C to stop)", *banner, line]))
            runner.watch()
        return 0
    except (RunnerError, OSError, subprocess.SubprocessError) as exc:
        say(f"parley-run: error: {exc}", sys.stderr)
        return 1
    finally:
        runner.stop()


def main() -> None:
    """Console script `parley-run`."""
    sys.exit(run())


if __name__ == "__main__":
    main()
