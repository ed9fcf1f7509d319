"""Helpers of the end-to-end tests: the platform as real processes, a webhook receiver, and an
independent implementation of the contract's envelope (CONTRACT 6) and signatures (CONTRACT 7).

The crypto here deliberately does not import `parley_shared`: it is written from the contract
with hashlib, hmac, base64 and cryptography's AESGCM, so a bug shared by the services and the
shared library cannot hide itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from parley_devtools.embedded import LOOPBACK, NatsServer, free_port, stop_process
from parley_devtools.nats_auth import AuthFiles, AuthNatsServer, prepare

VENV_BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "e2e-bootstrap-password-1"
READY_S = 60.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# ---------------------------------------------------------------------------------------------
# Independent crypto (CONTRACT 6 and 7)

_KEY_BYTES = {"A128GCM": 16, "A256GCM": 32}
_ALG_OF = {"aes-128": "A128GCM", "aes-256": "A256GCM"}
_KEYS: dict[tuple[str, str, int], bytes] = {}


@dataclass(frozen=True)
class EnvelopeKey:
    """One key version as the account answer shows it plus the passphrase the test chose."""

    passphrase: str
    salt_b64: str
    algorithm: str
    version_code: str

    @property
    def alg(self) -> str:
        """The envelope `alg` of this key's algorithm."""
        return _ALG_OF[self.algorithm]

    def key(self) -> bytes:
        """PBKDF2-HMAC-SHA256(passphrase, salt, 600000, 16|32), derived once."""
        length = _KEY_BYTES[self.alg]
        cache_key = (self.passphrase, self.salt_b64, length)
        if cache_key not in _KEYS:
            salt = base64.b64decode(self.salt_b64, validate=True)
            _KEYS[cache_key] = hashlib.pbkdf2_hmac(
                "sha256", self.passphrase.encode("utf-8"), salt, 600_000, dklen=length
            )
        return _KEYS[cache_key]

    def seal(self, plaintext: bytes) -> dict[str, Any]:
        """The envelope of `plaintext`, with a fresh random IV."""
        iv = os.urandom(12)
        aad = f"{self.alg}.{self.version_code}".encode()
        ct = AESGCM(self.key()).encrypt(iv, plaintext, aad)
        return {
            "v": 1,
            "alg": self.alg,
            "kid": self.version_code,
            "salt": self.salt_b64,
            "iv": base64.b64encode(iv).decode(),
            "ct": base64.b64encode(ct).decode(),
        }

    def open(self, envelope: Any) -> bytes:
        """The plaintext of an envelope sealed with this key; asserts its header fields."""
        assert isinstance(envelope, dict), f"not an envelope: {envelope!r}"
        assert set(envelope) == {"v", "alg", "kid", "salt", "iv", "ct"}, envelope
        assert envelope["v"] == 1, envelope
        assert envelope["alg"] == self.alg, envelope
        assert envelope["kid"] == self.version_code, envelope
        assert envelope["salt"] == self.salt_b64, envelope
        iv = base64.b64decode(envelope["iv"], validate=True)
        assert len(iv) == 12, envelope
        aad = f"{envelope['alg']}.{envelope['kid']}".encode()
        ct = base64.b64decode(envelope["ct"], validate=True)
        return AESGCM(self.key()).decrypt(iv, ct, aad)


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> None:
    """Assert a Standard Webhooks `webhook-signature` over `id.timestamp.body` with `secret`."""
    assert secret.startswith("whsec_"), secret
    key = base64.b64decode(secret[len("whsec_") :], validate=True)
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert stamp.isdigit(), stamp
    assert abs(int(stamp) - time.time()) < 300, stamp
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    offered = headers["webhook-signature"].split(" ")
    assert any(hmac.compare_digest(expected, sig) for sig in offered), (
        f"no signature verifies: {offered}"
    )


# ---------------------------------------------------------------------------------------------
# The platform as processes


def child_env(**values: str) -> dict[str, str]:
    """The test's environment without proxies or Parley settings of its own, plus `values`."""
    prefixes = ("ACCOUNT_", "ROUTING_", "WEBHOOK_", "PARLEY_")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy")
        and not k.startswith(prefixes)
        and k not in ("NATS_URL", "DATABASE_URL")
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["NO_PROXY"] = env["no_proxy"] = f"{LOOPBACK},localhost"
    env.update(values)
    return env


def _readyz(base: str) -> bool:
    try:
        with _NO_PROXY.open(base + "/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@dataclass
class Platform:
    """account-svc, routing-svc and webhook-svc as child processes on loopback, on an embedded
    nats-server with authentication on (each service its own creds, account-svc the auth
    callout; CONTRACT section 10) and a database of the session's embedded PostgreSQL; logs
    under `root`."""

    root: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)  # more for every service (OTEL_*, ...)
    nats: NatsServer | None = None
    auth: AuthFiles | None = None
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    @property
    def account(self) -> str:
        """account-svc's base URL."""
        return f"http://{LOOPBACK}:{self.ports['account']}"

    @property
    def routing(self) -> str:
        """routing-svc's base URL."""
        return f"http://{LOOPBACK}:{self.ports['routing']}"

    @property
    def nats_url(self) -> str:
        """The embedded NATS server's URL."""
        assert self.nats is not None
        return self.nats.url

    def start(self) -> Platform:
        """Start NATS, bootstrap account-svc, start the three services and wait until ready."""
        self.auth = prepare(self.root / "nats-auth")
        self.nats = AuthNatsServer(
            self.auth, store_dir=self.root / "nats", log_file=self.root / "nats.log"
        )
        self.nats.start()
        self.ports = {"account": free_port(), "routing": free_port(), "webhook": free_port()}
        common = {
            "NATS_URL": self.nats.url,
            "PARLEY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            **self.env,
        }
        account_env = child_env(
            **common,
            **self.auth.service_env("account-svc"),
            DATABASE_URL=self.database_url,
            ACCOUNT_HTTP_HOST=LOOPBACK,
            ACCOUNT_HTTP_PORT=str(self.ports["account"]),
            ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD,
            ACCOUNT_OUTBOX_POLL_SECONDS="0.2",
        )
        result = subprocess.run(
            ["account-svc", "bootstrap"],
            env=account_env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        (self.root / "account-bootstrap.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, f"bootstrap failed:\n{result.stdout}\n{result.stderr}"
        plan = [
            ("account", ["account-svc", "serve"], account_env),
            (
                "routing",
                ["routing-svc", "serve"],
                child_env(
                    **common,
                    **self.auth.service_env("routing-svc"),
                    ROUTING_HTTP_HOST=LOOPBACK,
                    ROUTING_HTTP_PORT=str(self.ports["routing"]),
                    ROUTING_PROVIDER="sandbox",
                ),
            ),
            (
                "webhook",
                ["webhook-svc", "all"],
                child_env(
                    **common,
                    **self.auth.service_env("webhook-svc"),
                    WEBHOOK_HTTP_HOST=LOOPBACK,
                    WEBHOOK_HTTP_PORT=str(self.ports["webhook"]),
                    WEBHOOK_RETRY_SCHEDULE="1,1,1",
                    WEBHOOK_BATCH_LINGER_MS="200",
                ),
            ),
        ]
        for label, argv, env in plan:
            log = self.root / f"{label}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            self.procs.append((label, proc, log))
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until every service answers /readyz 200 (fail if one exits or READY_S passes)."""
        deadline = time.monotonic() + READY_S
        for label, proc, _log in self.procs:
            base = f"http://{LOOPBACK}:{self.ports[label]}"
            while not _readyz(base):
                assert proc.poll() is None, f"{label} exited {proc.returncode}\n{self.tails()}"
                assert time.monotonic() < deadline, f"{label} not ready\n{self.tails()}"
                time.sleep(0.1)

    def tails(self, lines: int = 30) -> str:
        """The last lines of every log, for a failure message."""
        out = []
        for log in sorted(self.root.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        """Stop every process this object started (by pid), then NATS."""
        for _label, proc, _log in reversed(self.procs):
            stop_process(proc)
        if self.nats is not None:
            self.nats.stop(remove_store=True)


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Answer:
    """A status, the raw body and its JSON (None when empty or not JSON)."""

    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body) if self.body else None


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
    *,
    raw: bytes | None = None,
) -> Answer:
    """One request with a JSON body (or `raw` bytes as application/json) and a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with session.request(method, url, data=data, headers=headers) as resp:
        return Answer(
            resp.status, await resp.read(), {k.lower(): v for k, v in resp.headers.items()}
        )


async def until(
    probe: Callable[[], Awaitable[Any]], what: str, wait_s: float = 20.0, step: float = 0.1
) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what` after `wait_s`."""
    deadline = time.monotonic() + wait_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(step)
    raise AssertionError(f"timed out after {wait_s}s waiting for {what} (last: {last!r})")


# ---------------------------------------------------------------------------------------------
# Webhook receiver


@dataclass
class Delivery:
    """One POST the receiver got: its path, headers (lower-case), raw body and our answer."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    at: float


@dataclass
class Receiver:
    """A local aiohttp webhook receiver; answers 204, or `fail_first[path]` times 503 first."""

    fail_first: dict[str, int] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    base: str = ""
    _runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        path = request.path
        status = 204
        if self.fail_first.get(path, 0) > 0:
            self.fail_first[path] -= 1
            status = 503
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.deliveries.append(Delivery(path, headers, body, status, time.monotonic()))
        return web.Response(status=status)

    async def start(self) -> Receiver:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/{name}", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, LOOPBACK, port).start()
        self.base = f"http://{LOOPBACK}:{port}"
        return self

    async def stop(self) -> None:
        """Close the listener."""
        if self._runner is not None:
            await self._runner.cleanup()

    def accepted(self, path: str) -> list[Delivery]:
        """Deliveries to `path` that were answered 2xx."""
        return [d for d in self.deliveries if d.path == path and d.answered < 300]


async def create_sms_account(session: aiohttp.ClientSession, base: str) -> tuple[str, str]:
    """A fresh enterprise, group and SMS account as the bootstrap admin: (id, API key)."""

    async def post(path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with session.post(base + path, json=body, headers=headers) as resp:
            assert resp.status < 300, (path, resp.status, await resp.text())
            return await resp.json()

    token = (await post("/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD}))[
        "token"
    ]
    ent = await post("/v1/organizations", {"name": "E", "kind": "enterprise"}, token)
    group = await post("/v1/business-groups", {"name": "G", "enterprise_id": ent["id"]}, token)
    body = {
        "label": "nats",
        "communication_type": "outgoing",
        "traffic_type": "otp",
        "channels": ["sms"],
        "enterprise_id": ent["id"],
        "business_group_id": group["id"],
    }
    made = await post("/v1/accounts", body, token)
    return str(made["account"]["id"]), str(made["api_key"])
