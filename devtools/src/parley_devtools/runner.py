"""`parley-run` (what `make run` calls): the whole platform in the foreground until Ctrl-C.

Starts an embedded NATS server and PostgreSQL unless `NATS_URL` / `DATABASE_URL` are set, ensures
the master key, then, in `order`, prepares and starts every service registered in the
`parley.services` entry-point group, waits for its `/readyz`, and prints the URLs (and the
bootstrap admin's password when the runner generated it). On SIGINT/SIGTERM/SIGHUP, on failure
and at exit it stops the services (SIGTERM to each process group, SIGKILL after 10 s or at a
second Ctrl-C), then NATS, then PostgreSQL, and kills any descendant left. Exit 0 after a
requested stop, 1 on failure. One runner per data dir (`<data>/runner.lock`, which also lists the
process groups it started so the next runner kills them if this one was SIGKILLed).

A service registers a plain dict (entry-point name = `name`; no import of this package needed)::

    SERVICE = {"name": "account-svc", "order": 10, "port_env": "ACCOUNT_HTTP_PORT",
               "default_port": 8080, "prepare": ["account-svc", "bootstrap"],  # or None
               "command": ["account-svc", "serve"], "urls": {"console": "/console"}}

Programs resolve in the venv's bin dir, then PATH. A prepare step's stdout line
`{"bootstrap_admin": {"created": ..., "username": ...}}` reports the bootstrap admin.

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
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psutil  # type: ignore[import-untyped]

from parley_devtools.embedded import LOOPBACK, NatsServer, Postgres, free_port, port_is_free
from parley_devtools.nats_auth import AuthFiles, AuthNatsServer, prepare, write_operator_json

ENTRY_POINT_GROUP = "parley.services"
READY_TIMEOUT = 60.0
STOP_GRACE = 10.0
BANNER_TITLE = "Parley is running"
_PRINT_LOCK = threading.Lock()
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RunnerError(Exception):
    """Why the platform cannot run; `main` prints it, stops everything and exits 1."""


class ServiceSpecError(RunnerError):
    """A service spec (entry point or `PARLEY_SERVICES_EXTRA`) is malformed or clashes."""


def say(text: str, stream: IO[str] | None = None) -> None:
    """Print one line at once (children's output is echoed from threads)."""
    with _PRINT_LOCK:
        print(text, file=stream or sys.stdout, flush=True)


def _argv(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and value and all(isinstance(a, str) and a for a in value):
        return tuple(value)
    return None


def _int(value: object, low: int = -(2**63), high: int = 2**63) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _urls(value: object) -> bool:
    items = value.items() if isinstance(value, dict) else [(None, None)]
    return all(isinstance(k, str) and isinstance(v, str) and v.startswith("/") for k, v in items)


_NAME, _ENV_VAR = re.compile(r"[a-z0-9][a-z0-9._-]*"), re.compile(r"[A-Z_][A-Z0-9_]*")
_REQUIRED = ("name", "order", "port_env", "default_port", "command")
_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "name": (lambda v: isinstance(v, str) and bool(_NAME.fullmatch(v)), "like 'account-svc'"),
    "order": (_int, "an integer"),
    "port_env": (lambda v: isinstance(v, str) and bool(_ENV_VAR.fullmatch(v)), "an env var name"),
    "default_port": (lambda v: _int(v, 1, 65535), "a TCP port number"),
    "command": (lambda v: _argv(v) is not None, "a non-empty list of strings"),
    "prepare": (lambda v: v is None or _argv(v) is not None, "null or a list of strings"),
    "urls": (lambda v: v is None or _urls(v), "a dict of label -> '/path'"),
}


@dataclass(frozen=True)
class ServiceSpec:
    """One service as it registers itself: how to prepare, start and reach it."""

    name: str
    order: int
    port_env: str
    default_port: int
    command: tuple[str, ...]
    prepare: tuple[str, ...] | None = None
    urls: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: object, source: str) -> ServiceSpec:
        """Validate a registered dict; a `ServiceSpecError` names the field at fault."""
        where = f"service spec from {source}"
        if not isinstance(raw, dict):
            raise ServiceSpecError(f"{where}: must be a dict, got {type(raw).__name__}")
        unknown, missing = sorted(set(raw) - set(_RULES)), sorted(set(_REQUIRED) - set(raw))
        if unknown or missing:
            raise ServiceSpecError(f"{where}: unknown keys {unknown}, missing keys {missing}")
        for key, (ok, wanted) in _RULES.items():
            if key in raw and not ok(raw[key]):
                raise ServiceSpecError(f"{where}: {key!r} must be {wanted}, got {raw[key]!r}")
        return cls(
            name=raw["name"],
            order=raw["order"],
            port_env=raw["port_env"],
            default_port=raw["default_port"],
            command=_argv(raw["command"]) or (),
            prepare=_argv(raw.get("prepare")),
            urls=dict(raw.get("urls") or {}),
        )


def discover_services(env: Mapping[str, str]) -> list[ServiceSpec]:
    """Registered specs plus `PARLEY_SERVICES_EXTRA`, filtered by `PARLEY_SERVICES_ONLY`, sorted."""
    only = {n.strip() for n in env.get("PARLEY_SERVICES_ONLY", "").split(",") if n.strip()}
    specs: list[ServiceSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if only and ep.name not in only:
            continue
        source = f"entry point {ep.name} = {ep.value}"
        try:
            raw = ep.load()
        except Exception as exc:
            raise ServiceSpecError(f"{source} failed to load: {exc!r}") from exc
        spec = ServiceSpec.from_dict(raw, source)
        if spec.name != ep.name:
            raise ServiceSpecError(f"{source}: its name {spec.name!r} must be {ep.name!r}")
        specs.append(spec)
    if extra := env.get("PARLEY_SERVICES_EXTRA"):
        try:
            loaded = json.loads(Path(extra).read_text())
        except (OSError, ValueError) as exc:
            raise ServiceSpecError(f"PARLEY_SERVICES_EXTRA={extra}: {exc}") from exc
        for raw in loaded if isinstance(loaded, list) else [loaded]:
            spec = ServiceSpec.from_dict(raw, extra)
            if not only or spec.name in only:
                specs.append(spec)
    names = [s.name for s in specs]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ServiceSpecError(f"services registered twice: {', '.join(dupes)}")
    if unknown := sorted(only - set(names)):
        raise ServiceSpecError(f"PARLEY_SERVICES_ONLY names unknown services: {', '.join(unknown)}")
    return sorted(specs, key=lambda s: (s.order, s.name))


def resolve_command(argv: Sequence[str]) -> list[str]:
    """The argv with its program found in the venv's bin dir first, then on PATH."""
    program = argv[0]
    local = Path(sys.executable).parent / program
    found = (
        program if os.sep in program else str(local) if local.exists() else shutil.which(program)
    )
    if not found or not Path(found).exists():
        raise RunnerError(f"command not found: {program} (is the service installed in the venv?)")
    return [found, *argv[1:]]


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


def _port(raw: str, what: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise RunnerError(f"{what} must be a TCP port number, got {raw!r}")
    return int(raw)


def pick_port(wanted: int, what: str) -> int:
    """`wanted` if it is free, else a free port (and say so)."""
    if port_is_free(wanted):
        return wanted
    port = free_port()
    say(f"parley-run: port {wanted} for {what} is taken; using {port} instead")
    return port


def service_port(spec: ServiceSpec, env: Mapping[str, str]) -> int:
    """The user's port for the service, else its default, else a free port if that is taken."""
    if raw := env.get(spec.port_env):
        return _port(raw, spec.port_env)
    return pick_port(spec.default_port, f"{spec.name} ({spec.port_env})")


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


def http_ok(url: str) -> bool:
    """Whether GET `url` answers 200 (proxies bypassed: it is on loopback)."""
    try:
        with _NO_PROXY.open(url, timeout=2) as resp:
            return int(resp.status) == 200
    except (OSError, http.client.HTTPException):
        return False


def _alive(proc: Any) -> bool:
    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_all(procs: Sequence[Any]) -> list[str]:
    """SIGKILL those still alive and reap them; return `name(pid)` of each one killed."""
    alive = [p for p in procs if _alive(p)]
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=3)
    return [str(p.pid) for p in alive]


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


class Requests:
    """Stop requests counted by the signal handler, which must take no lock (Event.set does)."""

    def __init__(self) -> None:
        self.count = 0

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The first signal asks for a stop, the next ones force it."""
        self.count += 1

    @property
    def stop(self) -> bool:
        """Whether a stop was asked."""
        return self.count > 0

    def wait(self, seconds: float, force: bool = False) -> bool:
        """Nap up to `seconds`; whether a stop (or, with `force`, a forced stop) was asked."""
        needed, deadline = (2 if force else 1), time.monotonic() + seconds
        while self.count < needed and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.count >= needed


class Child:
    """A child in its own session; its output is echoed line by line, prefixed with its label."""

    def __init__(
        self, label: str, argv: Sequence[str], env: Mapping[str, str], collect: bool = False
    ) -> None:
        self.label, self.collect = label, collect
        self.stdout_lines: list[str] = []  # kept only when `collect` (a prepare step)
        self.proc = subprocess.Popen(
            resolve_command(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._pumps = [
            threading.Thread(target=self._pump, args=(pipe, stream), daemon=True)
            for pipe, stream in ((self.proc.stdout, sys.stdout), (self.proc.stderr, sys.stderr))
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, pipe: IO[bytes], stream: IO[str]) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if self.collect and stream is sys.stdout:
                self.stdout_lines.append(line)
            say(f"{self.label} | {line}", stream)
        pipe.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, requests: Requests) -> None:
        """SIGTERM the group, wait up to STOP_GRACE (less if forced), SIGKILL the group."""
        family: list[Any] = []
        with contextlib.suppress(psutil.NoSuchProcess):
            family = psutil.Process(self.proc.pid).children(recursive=True)
        if self.proc.poll() is None:
            say(f"parley-run: stopping {self.label}")
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while self.proc.poll() is None and time.monotonic() < deadline:
                if requests.wait(0.05, force=True):
                    break
            if self.proc.poll() is None:
                say(f"parley-run: killing {self.label}")
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        kill_all(family)  # members that left the group
        for pump in self._pumps:
            pump.join(timeout=2)


def _attempt(what: str, stop: Callable[[], object]) -> None:
    say(f"parley-run: stopping {what}")
    try:
        stop()
    except Exception as exc:  # noqa: BLE001 - the shutdown goes on whatever fails
        say(f"parley-run: stopping {what} failed: {exc!r}", sys.stderr)


@dataclass
class Platform:
    """What `parley-run` started, stopped exactly once: services in reverse, NATS, PostgreSQL."""

    requests: Requests = field(default_factory=Requests)
    lock: DataDirLock | None = None
    nats: NatsServer | None = None
    nats_auth: AuthFiles | None = None
    pg: Postgres | None = None
    postmaster: Any = None
    children: list[Child] = field(default_factory=list)
    stopped: bool = False

    def start_nats(self, data: Path, env: Mapping[str, str]) -> str:
        """The embedded NATS server on `PARLEY_NATS_PORT` (or a free port), logging to a file,
        with authentication on (CONTRACT section 10): its trust chain and each service's creds
        generated once into `<data>/nats/auth`, the operator credential into
        `<data>/nats/operator.json`."""
        port = pick_port(_port(env.get("PARLEY_NATS_PORT") or "4222", "PARLEY_NATS_PORT"), "NATS")
        self.nats_auth = files = prepare(data / "nats" / "auth")
        self.nats = AuthNatsServer(
            files, store_dir=data / "nats", port=port, log_file=data / "nats.log"
        )
        self.nats.start()
        write_operator_json(
            data / "nats" / "operator.json", self.nats.url, files.operator_password()
        )
        if self.lock and self.nats.proc:
            self.lock.record(self.nats.proc.pid)
        return self.nats.url

    def start_postgres(self, data: Path) -> str:
        """The embedded PostgreSQL in `<data>/pg`, forgetting handles of runners that died."""
        handles = data / "pg" / ".handle_pids.json"
        with contextlib.suppress(OSError, ValueError):
            pids = json.loads(handles.read_text())
            handles.write_text(json.dumps([p for p in pids if psutil.pid_exists(p)]))
        self.pg = Postgres(data_dir=data / "pg")
        self.pg.start()
        self.postmaster = psutil.Process(self.pg.pid) if self.pg.pid else None
        return self.pg.url

    def spawn(
        self, label: str, argv: Sequence[str], env: Mapping[str, str], collect: bool
    ) -> Child:
        """Start a child in its own process group, recorded for stop() and the next run."""
        child = Child(label, argv, env, collect)
        self.children.append(child)
        if self.lock:
            self.lock.record(child.proc.pid)
        return child

    def prepare(self, spec: ServiceSpec, env: Mapping[str, str]) -> list[str]:
        """Run the prepare step to completion (or until a stop is asked); return its stdout."""
        argv = spec.prepare or ()
        say(f"parley-run: preparing {spec.name}: {' '.join(argv)}")
        child = self.spawn(spec.name, argv, env, collect=True)
        while child.proc.poll() is None and not self.requests.wait(0.1):
            pass
        if self.requests.stop:
            return []
        child.stop(self.requests)
        self.children.remove(child)
        if child.proc.returncode != 0:
            raise RunnerError(f"{spec.name}: {' '.join(argv)} exited with {child.proc.returncode}")
        return child.stdout_lines

    def wait_ready(self, child: Child, port: int) -> None:
        """Poll `/readyz` until 200; fail if the child exits or READY_TIMEOUT passes."""
        url = f"http://{LOOPBACK}:{port}/readyz"
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.requests.stop:
            if (code := child.proc.poll()) is not None:
                raise RunnerError(f"{child.label} exited with code {code} before it was ready")
            if http_ok(url):
                return
            if time.monotonic() > deadline:
                raise RunnerError(f"{child.label} not ready within {READY_TIMEOUT:.0f} s ({url})")
            self.requests.wait(0.2)

    def start(self, env: Mapping[str, str]) -> list[str]:
        """Servers, then each service in order: prepare, start, wait until ready; the banner."""
        data = data_dir(env)
        data.mkdir(parents=True, exist_ok=True)
        self.lock = DataDirLock(data)
        key = load_master_key(env, data)
        specs = discover_services(env)
        nats_url = env.get("NATS_URL") or self.start_nats(data, env)
        db_url = env.get("DATABASE_URL") or self.start_postgres(data)
        password = env.get("ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
        generated = not env.get("ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD")
        base = {**env, "NATS_URL": nats_url, "DATABASE_URL": db_url, "PARLEY_MASTER_KEY": key}
        base |= {"PARLEY_DATA_DIR": str(data), "ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD": password}
        base.setdefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        banner: list[str] = []
        admin = ""
        for spec in specs:
            port = service_port(spec, env)
            child_env = {**base, spec.port_env: str(port)}
            if self.nats_auth is not None:  # the embedded server: the service's own creds
                child_env |= self.nats_auth.service_env(spec.name)
            if spec.prepare and not self.requests.stop:
                info = parse_bootstrap(self.prepare(spec, child_env)) or {}
                if info.get("created") is True and generated:
                    admin = f"username {info.get('username')}  password {password}  (shown once)"
            if self.requests.stop:
                return []
            self.wait_ready(self.spawn(spec.name, spec.command, child_env, collect=False), port)
            root = f"http://{LOOPBACK}:{port}"
            banner.append(f"  {spec.name:<11} {root}")
            banner += [f"      {label:<16} {root}{path}" for label, path in spec.urls.items()]
        nats_note = "from NATS_URL" if self.nats is None else f"embedded, log {data / 'nats.log'}"
        banner.append(f"  NATS        {redact_url(nats_url)}  ({nats_note})")
        if self.nats_auth is not None:
            where = data / "nats" / "operator.json"
            secret = self.nats_auth.operator_password()
            banner.append(f"  NATS operator  user operator  password {secret}  ({where})")
        db_note = "from DATABASE_URL" if self.pg is None else "embedded"
        banner.append(f"  PostgreSQL  {redact_url(db_url)}  ({db_note})")
        banner.append(f"  data dir    {data}")
        return banner + ([f"  admin       {admin}"] if admin else [])

    def watch(self) -> None:
        """Until a stop is asked; a service or server that exits meanwhile is a failure."""
        while not self.requests.wait(0.5):
            for child in self.children:
                if (code := child.proc.poll()) is not None:
                    raise RunnerError(f"{child.label} exited with code {code}")
            if self.nats and self.nats.proc and self.nats.proc.poll() is not None:
                raise RunnerError(f"NATS exited with code {self.nats.proc.returncode}")
            if self.postmaster is not None and not _alive(self.postmaster):
                raise RunnerError("PostgreSQL exited")

    def stop(self) -> None:
        """Stop everything in reverse order and kill whatever of ours is left; idempotent."""
        if self.stopped:
            return
        self.stopped = True
        for child in reversed(self.children):
            child.stop(self.requests)
            say(f"parley-run: {child.label} exited with code {child.proc.returncode}")
        if self.nats is not None:
            _attempt("NATS", self.nats.stop)
        if self.pg is not None:
            if self.postmaster is not None:  # reap a dead postmaster: pg_ctl waits on a zombie
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.postmaster.pid, os.WNOHANG)
            _attempt("PostgreSQL", self.pg.stop)
            kill_all([self.postmaster] if self.postmaster is not None else [])
        if left := kill_all(psutil.Process().children(recursive=True)):
            say(f"parley-run: killed leftover processes {', '.join(left)}")
        if self.lock is not None:
            self.lock.file.truncate(0)
        say("parley-run: stopped")


def run(env: Mapping[str, str] | None = None) -> int:
    """Run the platform until a signal; 0 after a requested stop, 1 on failure."""
    platform = Platform()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, platform.requests.handle)
    atexit.register(platform.stop)
    become_subreaper()
    try:
        banner = platform.start(dict(os.environ) if env is None else env)
        if not platform.requests.stop:
            line = "=" * 72
            say("\n".join([line, f"  {BANNER_TITLE}  (Ctrl-C to stop)", *banner, line]))
            platform.watch()
        return 0
    except (RunnerError, OSError, subprocess.SubprocessError) as exc:
        say(f"parley-run: error: {exc}", sys.stderr)
        return 1
    finally:
        platform.stop()


def main() -> None:
    """Console script `parley-run`."""
    sys.exit(run())


if __name__ == "__main__":
    main()
