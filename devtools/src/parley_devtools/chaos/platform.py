"""The whole platform on loopback for chaos runs and the end-to-end benchmark.

Embedded nats-server (one node, or a 3-node cluster of local processes with R3 streams),
embedded PostgreSQL, and the three services started with their real commands as child
processes, each of which can be SIGKILLed and restarted. Helpers speak account-svc's public
API as the bootstrap admin.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from parley_shared.sealing import generate_master_key

from parley_devtools.embedded import (
    LOOPBACK,
    NatsServer,
    Postgres,
    free_port,
    stop_process,
    wait_ready,
)
from parley_devtools.nats_auth import AuthNatsServer, prepare

ADMIN_PASSWORD = secrets.token_urlsafe(18)
ROUTES = {"routes": [{"name": "sms-1", "channel": "sms", "capacity_per_s": 1_000_000}]}
SERVICES = ("account-svc", "routing-svc", "webhook-svc")
VENV_BIN = Path(sys.executable).parent


@dataclass
class Service:
    """One long-running service: its command, port variable and process."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        """Base URL of its HTTP listener."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        """Start the command (venv bin first on PATH), appending to its log."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / self.argv[0]), *self.argv[1:]],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL the process and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM then SIGKILL."""
        if self.proc is not None:
            stop_process(self.proc)


@dataclass
class Options:
    """How to run the platform."""

    cluster: bool = False
    retry_schedule: str = "1,2,4"
    extra_env: dict[str, str] = field(default_factory=dict)
    routes: dict[str, Any] | None = None  # routing-svc's routes file (default: one sandbox route)


class Platform:
    """NATS (+ cluster), PostgreSQL and the three services; stopped by `close`."""

    def __init__(self, options: Options | None = None) -> None:
        """Nothing runs until `start`."""
        self.options = options or Options()
        self.tmp = Path(tempfile.mkdtemp(prefix="parley-chaos-"))
        self.nodes: list[NatsServer] = []
        self.pg = Postgres(data_dir=self.tmp / "pg")
        self.master_key = generate_master_key()
        self.services: dict[str, Service] = {}
        self.token = ""
        self.enterprise_of: dict[str, str] = {}
        # NATS with authentication on, as make run and deploy/ run it; the scenarios observe
        # with a user of their own (config events, STATUS through an ordered consumer).
        self.auth = prepare(self.tmp / "nats-auth")
        self.nats_options: dict[str, Any] = self.auth.observer("chaos")

    # ------------------------------------------------------------------ NATS
    def _start_nats(self) -> None:
        if not self.options.cluster:
            single: NatsServer = AuthNatsServer(
                self.auth, store_dir=self.tmp / "nats", log_file=self.tmp / "nats.log"
            )
            self.nodes = [single.start()]
            return
        routes = [free_port() for _ in range(3)]
        route_urls = ",".join(f"nats-route://{LOOPBACK}:{p}" for p in routes)
        for i, port in enumerate(routes):
            conf = self.auth.directory / f"node-{i + 1}.conf"  # its own JWT resolver dir
            resolver = self.tmp / f"nats-n{i + 1}" / "jwt"
            conf.write_text(
                f'include "auth.conf"\nresolver: {{ type: full, dir: "{resolver}", '
                "allow_delete: true }\n"
            )
            args = ["-c", str(conf), "-n", f"n{i + 1}", "--cluster_name", "parley-chaos"]
            args += ["--cluster", f"nats://{LOOPBACK}:{port}", "--routes", route_urls]
            member = NatsServer(
                store_dir=self.tmp / f"nats-n{i + 1}",
                extra_args=args,
                log_file=self.tmp / f"nats-n{i + 1}.log",
            )
            self.nodes.append(member)
        for node in self.nodes:
            node.start()

    @property
    def nats_urls(self) -> list[str]:
        """Client URLs of every node."""
        return [node.url for node in self.nodes]

    def _create_streams(self, env: dict[str, str]) -> None:
        """`python -m parley_shared.streams` (R3 on a cluster), retried while the cluster forms."""
        deadline = time.monotonic() + 60
        while True:
            result = subprocess.run(
                [sys.executable, "-m", "parley_shared.streams"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"streams not created: {result.stderr[-2000:]}")
            time.sleep(1)

    # ------------------------------------------------------------------ services
    def env(self, nats_url: str | None = None) -> dict[str, str]:
        """The environment of every service (no proxies, loopback only)."""
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.lower().endswith("_proxy")
            and not k.startswith(("ACCOUNT_", "ROUTING_", "WEBHOOK_", "PARLEY_"))
        }
        routes = self.tmp / "routes.json"
        routes.write_text(json.dumps(self.options.routes or ROUTES))
        base.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{base.get('PATH', '')}",
                "NO_PROXY": f"{LOOPBACK},localhost",
                "NATS_URL": nats_url or ",".join(self.nats_urls),
                "DATABASE_URL": self.pg.url,
                "PARLEY_MASTER_KEY": self.master_key,
                "PARLEY_STREAM_REPLICAS": "3" if self.options.cluster else "1",
                "ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "ACCOUNT_OUTBOX_POLL_SECONDS": "0.2",
                "ACCOUNT_LOG_LEVEL": "WARNING",
                "ROUTING_ROUTES_FILE": str(routes),
                "ROUTING_ACK_WAIT_SECONDS": "5",
                "ROUTING_LOG_LEVEL": "WARNING",
                "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
                "WEBHOOK_ACK_WAIT_S": "5",
                "WEBHOOK_RETRY_SCHEDULE": self.options.retry_schedule,
                "WEBHOOK_LOG_LEVEL": "WARNING",
                **self.options.extra_env,
            }
        )
        return base

    async def start(self) -> Platform:
        """Start NATS, PostgreSQL, the streams, account-svc bootstrap and the three services."""
        self._start_nats()
        self.pg.start()
        env = self.env()
        admin = {**env, "NATS_CREDS": str(self.auth.creds("admin"))}
        await asyncio.to_thread(self._create_streams, admin)
        result = await asyncio.to_thread(
            subprocess.run,
            [str(VENV_BIN / "account-svc"), "bootstrap"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"account-svc bootstrap failed: {result.stderr[-2000:]}")
        plan = {
            "account-svc": (["account-svc", "serve"], "ACCOUNT_HTTP_PORT", "ACCOUNT_HTTP_HOST"),
            "routing-svc": (["routing-svc", "serve"], "ROUTING_HTTP_PORT", "ROUTING_HTTP_HOST"),
            "webhook-svc": (["webhook-svc", "all"], "WEBHOOK_HTTP_PORT", "WEBHOOK_HTTP_HOST"),
        }
        for name, (argv, port_var, host_var) in plan.items():
            port = free_port()
            service_env = {**self.env(self.nats_url_for(name)), port_var: str(port)}
            service_env |= self.auth.service_env(name)
            service_env[host_var] = LOOPBACK
            self.services[name] = Service(name, argv, port, service_env, self.tmp / f"{name}.log")
            self.services[name].start()
        for service in self.services.values():
            await self.wait(service)
        await self.login()
        return self

    def nats_url_for(self, name: str) -> str:
        """NATS_URL of one service: every node, comma-separated."""
        return ",".join(self.nats_urls)

    async def wait(self, service: Service, wait_s: float = 90.0) -> None:
        """Wait until the service answers /readyz with 200."""
        try:
            await wait_ready(service.base, service.proc, wait_s)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{service.name} not ready: {exc}\n{self.tail(service)}") from exc

    def tail(self, service: Service, lines: int = 30) -> str:
        """The last lines of a service's log."""
        text = service.log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)

    async def kill_and_restart(self, name: str, down_s: float = 1.0) -> float:
        """SIGKILL a service, wait `down_s`, start it again; seconds until ready again."""
        service = self.services[name]
        began = time.monotonic()
        service.kill()
        await asyncio.sleep(down_s)
        service.start()
        await self.wait(service)
        return time.monotonic() - began

    def pids(self) -> dict[str, int]:
        """The pid of every running service."""
        return {n: s.proc.pid for n, s in self.services.items() if s.proc and s.proc.poll() is None}

    def close(self) -> None:
        """Stop every service, NATS node and PostgreSQL; remove the temporary directory."""
        for service in reversed(list(self.services.values())):
            service.stop()
        for node in self.nodes:
            node.stop(remove_store=False)
        self.pg.stop(remove_data=False)
        if not os.environ.get("PARLEY_CHAOS_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ account-svc API
    @property
    def account_base(self) -> str:
        """Base URL of account-svc."""
        return self.services["account-svc"].base

    @property
    def routing_base(self) -> str:
        """Base URL of routing-svc."""
        return self.services["routing-svc"].base

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request to account-svc as the admin; (status, JSON body or None)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, self.account_base + path, json=body, headers=headers) as resp,
        ):
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def login(self) -> None:
        """Log in as the bootstrap admin."""
        status, body = await self.call(
            "POST", "/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD}
        )
        if status != 200:
            raise RuntimeError(f"login: {status} {body}")
        self.token = body["token"]

    async def register_senders(self, enterprise_id: str, values: list[str]) -> None:
        """Register SMS sender ids the enterprise owns (account-svc's `/v1/senders`)."""
        for value in values:
            body = {"enterprise_id": enterprise_id, "channel": "sms", "value": value}
            status, made = await self.call("POST", "/v1/senders", body)
            if status not in (201, 409):
                raise RuntimeError(f"sender: {status} {made}")

    async def create_account(
        self, hook_url: str | None, allowlist: list[str] | None = None
    ) -> tuple[str, str]:
        """An enterprise, a group and an SMS account whose status webhook (delivery_status and
        sent, batched by 50, 3 retries) goes to `hook_url`; (account id, API key). The
        allowlist's senders are registered to the enterprise first; `enterprise_of` maps the
        account to its enterprise."""
        suffix = secrets.token_hex(4)
        status, ent = await self.call(
            "POST", "/v1/organizations", {"name": f"Chaos {suffix}", "kind": "enterprise"}
        )
        if status != 201:
            raise RuntimeError(f"organization: {status} {ent}")
        status, group = await self.call(
            "POST", "/v1/business-groups", {"name": f"G {suffix}", "enterprise_id": ent["id"]}
        )
        if status != 201:
            raise RuntimeError(f"business group: {status} {group}")
        senders: dict[str, Any] = {"mode": "all"}
        if allowlist:
            senders = {"mode": "allowlist", "allowlist": allowlist}
            await self.register_senders(ent["id"], allowlist)
        account: dict[str, Any] = {
            "label": f"chaos {suffix}",
            "enterprise_id": ent["id"],
            "business_group_id": group["id"],
            "communication_type": "outgoing",
            "traffic_type": "transactional",
            "channels": ["sms"],
            "channel_settings": {"sms": {"sender_ids": senders}},
            "webhooks": {"status": None},
        }
        if hook_url:
            account["webhooks"]["status"] = {
                "url": hook_url,
                "events": ["delivery_status", "sent"],
                "payload_format": "native",
                "retries": 3,
                "batch": {"enabled": True, "max_events": 50},
            }
        status, created = await self.call("POST", "/v1/accounts", account)
        if status != 201:
            raise RuntimeError(f"account: {status} {created}")
        self.enterprise_of[created["account"]["id"]] = ent["id"]
        return created["account"]["id"], created["api_key"]
