"""The one platform launcher: embedded NATS (one node or a 3-node cluster) and PostgreSQL, and the
registered services (`parley_devtools.services`) as child processes, each killable and
restartable, stopped by pid.

Everyone who runs the platform runs it through `Platform`: `parley-run` (`make run`: the repo's
`.parley` data dir, the services' default ports, output echoed, the user's environment passed
through), and `make chaos`, `make bench` and the end-to-end tests (a temporary data dir, free
loopback ports, a log file per process, a clean environment). NATS runs with Parley's
authentication (operator mode, account-svc's auth callout; CONTRACT section 10) unless a
benchmark measures without it; each service gets its own creds.

Layout of the data dir: `nats/` (store; `nats/auth/` the trust chain and creds,
`nats/operator.json` the operator credential), `nats.log`, `pg/`, `routes.json`, and
`<service>.log` for each service when its output is not echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from parley_shared.sealing import generate_master_key

from parley_devtools.admin import Admin
from parley_devtools.embedded import LOOPBACK, NatsServer, Postgres, free_port
from parley_devtools.nats_auth import AuthFiles, AuthNatsServer, prepare, write_operator_json
from parley_devtools.processes import (
    Child,
    Children,
    LaunchError,
    StopRequests,
    alive,
    clean_env,
    kill_all,
    say,
)
from parley_devtools.services import (
    ServiceSpec,
    discover_services,
    pick_port,
    port_number,
    service_port,
)
from parley_devtools.waiting import eventually_sync

READY_S = 120.0
LOOPBACK_HOSTS = {
    "ACCOUNT_HTTP_HOST": LOOPBACK,
    "ROUTING_HTTP_HOST": LOOPBACK,
    "WEBHOOK_HTTP_HOST": LOOPBACK,
}
QUICK = {"ACCOUNT_OUTBOX_POLL_SECONDS": "0.2"}
"""Settings that make config changes reach the bus quickly, for runs that wait on them."""


@dataclass
class Options:
    """How to run the platform; the defaults are a test run's."""

    services: Sequence[str] | None = None  # names to run; None: every registered service
    cluster: bool = False  # three nats-server nodes on loopback, streams with 3 replicas
    auth: bool = True  # NATS authentication on
    postgres: bool = True  # an embedded PostgreSQL (unless `database_url` names a database)
    nats_url: str | None = None  # a NATS server to use instead of an embedded one
    database_url: str | None = None  # a database to use instead of the embedded server
    settings: Mapping[str, str] = field(default_factory=lambda: {**LOOPBACK_HOSTS, **QUICK})
    routes: dict[str, Any] | None = None  # routing-svc's routes file
    data_dir: Path | None = None  # None: a fresh temporary directory, removed by `stop`
    master_key: str | None = None  # None: a fresh one
    admin_password: str | None = None  # None: a fresh one
    env: Mapping[str, str] | None = None  # the services' base environment; None: `clean_env()`
    default_ports: bool = False  # each service's port variable or default port, not a free one
    echo: bool = False  # echo the children's output (prefixed) instead of logging to files


class Platform:
    """NATS, PostgreSQL and the services, started by `start` and stopped (once) by `stop`."""

    def __init__(
        self,
        options: Options | None = None,
        requests: StopRequests | None = None,
        on_spawn: Callable[[int], None] | None = None,
    ) -> None:
        """Nothing runs until `start`. `requests` lets a signal handler interrupt the start and
        force the stop; `on_spawn` hears the pid of every process group started."""
        self.options = options = options or Options()
        self._own_dir = options.data_dir is None
        self.root = Path(options.data_dir or tempfile.mkdtemp(prefix="parley-platform-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.master_key = options.master_key or generate_master_key()
        self.admin_password = options.admin_password or secrets.token_urlsafe(18)
        self.requests = requests or StopRequests()
        self.on_spawn = on_spawn or (lambda pid: None)
        self.nodes: list[NatsServer] = []
        self.auth: AuthFiles | None = None
        self.pg: Postgres | None = None
        self.postmaster: Any = None
        self.nats_url = options.nats_url or ""
        self.database_url = options.database_url or ""
        self.children = Children(self.root, echo=options.echo)
        self.specs: list[ServiceSpec] = []
        self.services: dict[str, Child] = {}
        self.prepared: dict[str, list[str]] = {}  # each prepare step's output lines
        self.stopped = False
        self._admin: Admin | None = None
        self._observers: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ NATS
    @property
    def nats(self) -> NatsServer:
        """The embedded NATS server (the first node of a cluster)."""
        if not self.nodes:
            raise LaunchError("no embedded NATS server")
        return self.nodes[0]

    @property
    def nats_urls(self) -> list[str]:
        """Client URLs of every node (or the NATS server named by the options)."""
        return [n.url for n in self.nodes] if self.nodes else self.nats_url.split(",")

    def admin_options(self) -> dict[str, Any]:
        """`nats.connect` options of the streams admin (no options without authentication)."""
        return {"user_credentials": str(self.auth.creds("admin"))} if self.auth else {}

    def observer_options(self, name: str) -> dict[str, Any]:
        """`nats.connect` options of a tool's own user that may watch config events and read
        STATUS (no options without authentication)."""
        if self.auth is None:
            return {}
        if name not in self._observers:
            self._observers[name] = self.auth.observer(name)
        return self._observers[name]

    def start_nats(self) -> str:
        """The embedded NATS server (or cluster), logging to `nats.log`; its URL(s)."""
        store = self.root / "nats"
        if self.options.auth:
            self.auth = prepare(store / "auth")
        if self.options.cluster:
            self._start_cluster()
        else:
            port = free_port()
            if self.options.default_ports:
                raw = (self.options.env or {}).get("PARLEY_NATS_PORT") or "4222"
                port = pick_port(port_number(raw, "PARLEY_NATS_PORT"), "NATS")
            log = self.root / "nats.log"
            node = (
                AuthNatsServer(self.auth, store_dir=store, port=port, log_file=log)
                if self.auth
                else NatsServer(store_dir=store, port=port, log_file=log)
            )
            self.nodes = [node.start()]
        if self.auth:
            password = self.auth.operator_password()
            write_operator_json(store / "operator.json", self.nats.url, password)
        for node in self.nodes:
            if node.proc:
                self.on_spawn(node.proc.pid)
        return ",".join(self.nats_urls)

    def _start_cluster(self) -> None:
        routes = [free_port() for _ in range(3)]
        route_urls = ",".join(f"nats-route://{LOOPBACK}:{p}" for p in routes)
        for i, port in enumerate(routes):
            name = f"n{i + 1}"
            conf = (self.auth.directory if self.auth else self.root) / f"node-{name}.conf"
            text = ""
            if self.auth:  # beside auth.conf (includes are relative); its own JWT resolver dir
                resolver = self.root / f"nats-{name}" / "jwt"
                text = 'include "auth.conf"\n'
                text += f'resolver: {{ type: full, dir: "{resolver}", allow_delete: true }}\n'
            conf.write_text(text)
            args = ["-c", str(conf), "-n", name, "--cluster_name", "parley"]
            args += ["--cluster", f"nats://{LOOPBACK}:{port}", "--routes", route_urls]
            self.nodes.append(
                NatsServer(
                    store_dir=self.root / f"nats-{name}",
                    extra_args=args,
                    log_file=self.root / f"nats-{name}.log",
                )
            )
        for node in self.nodes:
            node.start()

    def create_streams(self, env: Mapping[str, str]) -> None:
        """`python -m parley_shared.streams` as the admin, retried while a cluster forms."""
        env = {**env, **({"NATS_CREDS": str(self.auth.creds("admin"))} if self.auth else {})}

        def created() -> bool:
            with contextlib.suppress(LaunchError):
                self.children.run("streams", [sys.executable, "-m", "parley_shared.streams"], env)
                return True
            return False

        eventually_sync(created, READY_S, "the streams", 1.0)

    # ------------------------------------------------------------------ PostgreSQL
    def start_postgres(self) -> str:
        """The embedded PostgreSQL in `pg/` (forgetting handles of runners that died); its URL."""
        handles = self.root / "pg" / ".handle_pids.json"
        with contextlib.suppress(OSError, ValueError):
            pids = json.loads(handles.read_text())
            handles.write_text(json.dumps([p for p in pids if psutil.pid_exists(p)]))
        self.pg = Postgres(data_dir=self.root / "pg").start()
        self.postmaster = psutil.Process(self.pg.pid) if self.pg.pid else None
        return self.pg.url

    # ------------------------------------------------------------------ services
    def env(self) -> dict[str, str]:
        """The environment every service gets (before its port and NATS creds)."""
        env = dict(self.options.env) if self.options.env is not None else clean_env()
        env |= {
            "NATS_URL": self.nats_url,
            "PARLEY_MASTER_KEY": self.master_key,
            "PARLEY_DATA_DIR": str(self.root),
            "ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        env.setdefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        if self.options.cluster:
            env["PARLEY_STREAM_REPLICAS"] = "3"
        if self.options.routes is not None:
            routes = self.root / "routes.json"
            routes.write_text(json.dumps(self.options.routes))
            env["ROUTING_ROUTES_FILE"] = str(routes)
        return env | dict(self.options.settings)

    def env_of(self, name: str, port: int | None = None, port_env: str = "") -> dict[str, str]:
        """The environment of service `name`: the common one, its port, its NATS creds."""
        env = self.env() | ({port_env: str(port)} if port_env and port else {})
        if self.auth is not None and not self.options.nats_url:
            env |= self.auth.service_env(name)
        return env

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port_env: str = "",
        port: int | None = None,
        label: str = "",
        collect: bool = False,
        **settings: str,
    ) -> Child:
        """Start a command of service `name` with its environment (plus `settings`) on `port`
        (a free one when it has a `port_env`), recorded for `stop`."""
        if port_env and port is None:
            port = free_port()
        env = self.env_of(name, port, port_env) | settings
        child = self.children.start(label or name, argv, env, port=port, collect=collect)
        self.on_spawn(child.pid)
        return child

    def prepare(self, spec: ServiceSpec, port: int) -> list[str]:
        """Run the service's prepare step to completion (or until a stop is asked); its output."""
        argv = spec.prepare or ()
        if self.options.echo:
            say(f"parley-run: preparing {spec.name}: {' '.join(argv)}")
        label = spec.name if self.options.echo else f"{spec.name}-prepare"
        child = self.spawn(
            spec.name, argv, port_env=spec.port_env, port=port, label=label, collect=True
        )
        while child.alive() and not self.requests.wait(0.1):
            pass
        if self.requests.stop:
            return []
        child.stop()
        self.children.started.remove(child)
        if child.returncode != 0:
            raise LaunchError(
                f"{spec.name}: {' '.join(argv)} exited with {child.returncode}\n{child.tail()}"
            )
        if child.log is None:
            return child.stdout_lines
        return child.log.read_text(errors="replace").splitlines()

    def start(self) -> Platform:
        """NATS, PostgreSQL, each service's prepare step (in order), every service, then wait
        until each answers /readyz (a LaunchError names the one that does not)."""
        self.specs = discover_services(self.options.env or {}, self.options.services)
        if not self.nats_url:
            self.nats_url = self.start_nats()
        if not self.database_url and self.options.postgres:
            self.database_url = self.start_postgres()
        if self.options.cluster:
            self.create_streams(self.env())
        wanted = self.options.env or {}
        ports = {
            s.name: service_port(s, wanted) if self.options.default_ports else free_port()
            for s in self.specs
        }
        for spec in self.specs:
            if spec.prepare and not self.requests.stop:
                self.prepared[spec.name] = self.prepare(spec, ports[spec.name])
            if self.requests.stop:
                return self
            self.services[spec.name] = self.spawn(
                spec.name, spec.command, port_env=spec.port_env, port=ports[spec.name]
            )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until every service answers /readyz 200 (or a stop is asked); a LaunchError names the
        one that exits or is not ready in time."""
        for child in self.services.values():
            child.wait_ready_sync(READY_S, lambda: self.requests.stop)

    async def started(self) -> Platform:
        """`start` from an event loop."""
        return await asyncio.to_thread(self.start)

    def url(self, name: str) -> str:
        """Base URL of a service's HTTP listener."""
        return self.services[name].base

    @property
    def account(self) -> str:
        """account-svc's base URL."""
        return self.url("account-svc")

    @property
    def routing(self) -> str:
        """routing-svc's base URL."""
        return self.url("routing-svc")

    @property
    def admin(self) -> Admin:
        """A client of account-svc's management API as the bootstrap admin."""
        if self._admin is None:
            self._admin = Admin(self.account, self.admin_password)
        return self._admin

    def kill_and_restart(self, name: str, down_s: float = 1.0) -> float:
        """SIGKILL a service, wait `down_s`, start it again; seconds until it is ready again."""
        child = self.services[name]
        began = time.monotonic()
        child.kill()
        time.sleep(down_s)
        child.start()
        self.on_spawn(child.pid)
        child.wait_ready_sync(READY_S)
        return time.monotonic() - began

    def restart(self, name: str) -> tuple[int | None, float]:
        """Stop a service as a deploy does (SIGTERM, then up to its grace before a SIGKILL),
        start it again; its exit code (negative: it had to be killed) and the seconds until it
        was ready again."""
        child = self.services[name]
        began = time.monotonic()
        child.stop()
        code = child.returncode
        child.start()
        self.on_spawn(child.pid)
        child.wait_ready_sync(READY_S)
        return code, time.monotonic() - began

    def pids(self) -> dict[str, int]:
        """The pid of every running service."""
        return {n: c.pid for n, c in self.services.items() if c.alive()}

    def tails(self, lines: int = 30) -> str:
        """The last lines of every log, for a failure message."""
        return self.children.tails(lines)

    def check(self) -> None:
        """A LaunchError if a service, NATS or PostgreSQL has exited."""
        for child in self.services.values():
            if not child.alive():
                raise LaunchError(f"{child.label} exited with code {child.returncode}")
        for node in self.nodes:
            if node.proc and node.proc.poll() is not None:
                raise LaunchError(f"NATS exited with code {node.proc.returncode}")
        if self.postmaster is not None and not alive(self.postmaster):
            raise LaunchError("PostgreSQL exited")

    # ------------------------------------------------------------------ stopping
    def _attempt(self, what: str, stop: Callable[[], object]) -> None:
        if self.options.echo:
            say(f"parley-run: stopping {what}")
        try:
            stop()
        except Exception as exc:  # noqa: BLE001 - the shutdown goes on whatever fails
            say(f"parley-run: stopping {what} failed: {exc!r}", sys.stderr)

    def stop(self) -> None:
        """Stop the services (the last started first), NATS, then PostgreSQL; remove a temporary
        data dir (kept with PARLEY_CHAOS_KEEP=1). Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        report = (lambda text: say(f"parley-run: {text}")) if self.options.echo else None
        for child in reversed(self.children.started):
            child.stop(forced=lambda: self.requests.forced, report=report)
            if report:
                report(f"{child.label} exited with code {child.returncode}")
        for node in self.nodes:
            self._attempt("NATS", functools.partial(node.stop, remove_store=False))
        if self.pg is not None:
            if self.postmaster is not None:  # reap a dead postmaster: pg_ctl waits on a zombie
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.postmaster.pid, os.WNOHANG)
            self._attempt("PostgreSQL", functools.partial(self.pg.stop, remove_data=False))
            kill_all([self.postmaster] if self.postmaster is not None else [])
        if self._own_dir and not os.environ.get("PARLEY_CHAOS_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
