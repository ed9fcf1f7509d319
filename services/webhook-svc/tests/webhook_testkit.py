"""Helpers for webhook-svc tests: account config events published the way account-svc
publishes them, status and inbound events per CONTRACT 4, a scripted receiver, polling, and
an independent check of signatures and envelopes (hashlib/hmac/AESGCM, not parley_shared)."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from parley_shared import subjects
from parley_shared.events import (
    ACCOUNT_CONFIG_DELETED,
    ACCOUNT_CONFIG_UPDATED,
    AccountConfigData,
    AccountSecrets,
    CloudEvent,
    InboundData,
    SealedKeyVersion,
    SealedSecret,
    StatusData,
    dumps,
    new_event_id,
    source_for,
)
from parley_shared.ids import new_id
from parley_shared.sealing import (
    SIGNING_SECRET_FIELD,
    MasterKey,
    generate_webhook_secret,
    webhook_passphrase_field,
    webhook_url_field,
)
from parley_shared.timefmt import now_ts
from webhook_svc.settings import Settings

PASSPHRASE = "correct horse battery staple"

TYPES = {
    "sent": "parley.message.sent",
    "delivered": "parley.message.delivered",
    "read": "parley.message.read",
    "failed": "parley.message.failed",
    "fallback": "parley.message.fallback",
    "typing": "parley.message.typing",
    "clicked": "parley.message.clicked",
}


def make_settings(nats_url: str, master_key: str, **overrides: Any) -> Settings:
    """Settings for an in-process webhook-svc on loopback, with short test timings."""
    values: dict[str, Any] = {
        "NATS_URL": nats_url,
        "PARLEY_MASTER_KEY": master_key,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "allow_private_targets": True,
        "retry_schedule": "0.2,0.4,0.6",
        "batch_linger_ms": 20,
        "ack_wait_s": 3.0,
        "shutdown_grace_s": 1.0,
    }
    values.update(overrides)
    return Settings(**values)


def status_hook(url: str, **overrides: Any) -> dict[str, Any]:
    """A normalized status webhook block (as account-svc stores and shows it)."""
    hook: dict[str, Any] = {
        "url": url,
        "events": ["delivery_status", "sent", "read"],
        "payload_format": "native",
        "intermediate_delivery_notification": False,
        "metadata": {"enabled": False, "pairs": {}},
        "retries": 3,
        "batch": {"enabled": False, "max_events": 1},
        "encryption": {"enabled": False},
    }
    hook.update(overrides)
    return hook


def inbound_hook(url: str, **overrides: Any) -> dict[str, Any]:
    """A normalized user_initiated webhook block."""
    hook: dict[str, Any] = {
        "url": url,
        "payload_format": "native",
        "retries": 3,
        "metadata": {"enabled": False, "pairs": {}},
        "encryption": {"enabled": False},
    }
    hook.update(overrides)
    return hook


@dataclass
class Account:
    """One account as a test configures it; `config_event` renders its ACCOUNTS event."""

    master: MasterKey
    account_id: str = field(default_factory=lambda: new_id("acc"))
    version: int = 1
    status_webhook: dict[str, Any] | None = None
    inbound_webhook: dict[str, Any] | None = None
    signing_secrets: list[str] = field(default_factory=lambda: [generate_webhook_secret()])
    salts: dict[str, str] = field(default_factory=dict)
    deleted: bool = False
    data_protection: str = "store"
    traffic_type: str = "otp"

    def _account(self) -> dict[str, Any]:
        webhooks: dict[str, Any] = {"status": None, "user_initiated": None}
        for kind, hook in (
            ("status", self.status_webhook),
            ("user_initiated", self.inbound_webhook),
        ):
            if hook is not None:
                shown = copy.deepcopy(hook)
                if "@" in shown["url"]:
                    scheme, _, rest = shown["url"].partition("://")
                    userinfo, _, host = rest.partition("@")
                    shown["url"] = f"{scheme}://{userinfo.split(':')[0]}:***@{host}"
                if shown["encryption"].get("enabled"):
                    shown["encryption"]["passphrase_set"] = True
                    shown["encryption"]["salt"] = self.salts[kind]
                webhooks[kind] = shown
        return {
            "id": self.account_id,
            "label": "test",
            "enterprise_id": "ent_test",
            "business_group_id": "bg_test",
            "communication_type": "conversational" if self.inbound_webhook else "outgoing",
            "traffic_type": None if self.inbound_webhook else self.traffic_type,
            "channels": ["rcs", "sms", "whatsapp", "truecaller"],
            "security": {"data_protection": self.data_protection},
            "webhooks": webhooks,
            "version": self.version,
            "status": "active",
            "created_at": now_ts(),
            "updated_at": now_ts(),
        }

    def _secrets(self) -> AccountSecrets:
        aid = self.account_id
        secrets = AccountSecrets(
            api_key_hash="h",
            webhook_signing_secrets=[
                SealedSecret(value=self.master.seal_field(s, aid, SIGNING_SECRET_FIELD))
                for s in self.signing_secrets
            ],
        )
        for kind, hook in (
            ("status", self.status_webhook),
            ("user_initiated", self.inbound_webhook),
        ):
            if hook is None:
                continue
            block = hook["encryption"]
            if block.get("enabled"):
                salt = self.salts.setdefault(kind, base64.b64encode(os.urandom(16)).decode())
                secrets.webhook_encryption[kind] = SealedKeyVersion(
                    version_code=block["version_code"],
                    algorithm=block["algorithm"],
                    salt=salt,
                    passphrase=self.master.seal_field(
                        PASSPHRASE, aid, webhook_passphrase_field(kind)
                    ),
                )
            if "@" in hook["url"]:
                secrets.webhook_urls[kind] = self.master.seal_field(
                    hook["url"], aid, webhook_url_field(kind)
                )
        return secrets

    def config_event(self) -> tuple[str, bytes]:
        """(event id, JSON) of this account's config event at its current version."""
        secrets = None if self.deleted else self._secrets()
        data = AccountConfigData(
            account_id=self.account_id,
            version=self.version,
            status="deleted" if self.deleted else "active",
            enterprise_id="ent_test",
            account=None if self.deleted else self._account(),
            secrets=secrets,
        )
        event_id = new_event_id()
        event = CloudEvent[AccountConfigData](
            id=event_id,
            type=ACCOUNT_CONFIG_DELETED if self.deleted else ACCOUNT_CONFIG_UPDATED,
            source=source_for(self.account_id),
            subject=self.account_id,
            data=data,
        )
        return event_id, dumps(event)

    async def publish(self, js: Any) -> None:
        """Publish the config event on ACCOUNTS (with `Nats-Msg-Id`, as the outbox relay does)."""
        event_id, payload = self.config_event()
        await js.publish(
            subjects.account_config(self.account_id),
            payload,
            headers={subjects.HEADER_MSG_ID: event_id},
        )


def status_event(
    account_id: str,
    kind: str = "delivered",
    channel: str = "sms",
    **data: Any,
) -> dict[str, Any]:
    """A status CloudEvent (CONTRACT 4) as a dict."""
    fields: dict[str, Any] = {
        "message_id": new_id("msg"),
        "account_id": account_id,
        "client_ref": "order-77",
        "channel": channel,
        "route": f"{channel}-1",
        "sender": "PARLEY",
        "recipient": "+919876543210",
        "status": {"fallback": "failed", "typing": None, "clicked": None}.get(kind, kind),
        "reason": "delivery_failed" if kind in ("failed", "fallback") else None,
        "attempt": 1,
        "final": kind in ("delivered", "failed"),
        "metadata": {"campaign": "c1"},
    }
    if kind == "fallback":
        fields["fallback_to"] = "sms"
    fields.update(data)
    event = CloudEvent[StatusData](
        id=new_event_id(),
        type=TYPES[kind],
        source=source_for(account_id),
        subject=fields["message_id"],
        data=StatusData(**fields),
    )
    out = event.model_dump(mode="json")
    out["data"] = event.data.to_wire()
    return out


def inbound_event(account_id: str, **data: Any) -> dict[str, Any]:
    """An inbound (user-initiated) CloudEvent as a dict."""
    fields: dict[str, Any] = {
        "inbound_id": new_id("inb"),
        "account_id": account_id,
        "channel": "whatsapp",
        "from": "+919876543210",
        "to": "+919800000001",
        "text": "hello",
        "received_at": now_ts(),
        "metadata": None,
    }
    fields.update(data)
    event = CloudEvent[InboundData](
        id=new_event_id(),
        type="parley.inbound.message",
        source=source_for(account_id),
        subject=fields["inbound_id"],
        data=InboundData.model_validate(fields),
    )
    return event.model_dump(mode="json", by_alias=True)


async def publish_events(js: Any, events: list[dict[str, Any]], inbound: bool = False) -> None:
    """Publish events on STATUS (or INBOUND), acks awaited together, `Nats-Msg-Id` = event id."""
    futures = []
    for event in events:
        account_id = event["data"]["account_id"]
        subject = subjects.inbound(account_id) if inbound else subjects.status(account_id)
        futures.append(
            await js.publish_async(
                subject, orjson.dumps(event), headers={subjects.HEADER_MSG_ID: event["id"]}
            )
        )
    await asyncio.gather(*futures)


async def wait_until(
    check: Callable[[], bool | Awaitable[bool]], within: float = 10.0, what: str = "condition"
) -> None:
    """Poll `check` until it is true; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)

    def events(self) -> list[dict[str, Any]]:
        """The native events in the body (one, or a batch)."""
        data = self.json()
        return data if isinstance(data, list) else [data]


class Receiver:
    """A local aiohttp webhook receiver whose answers are scripted per path.

    `script(path, [200, 500, (429, {"Retry-After": "1"}), "hang"])` answers the next requests
    on `path` in that order, then 200; "hang" never answers (until the receiver stops).
    `delays[path]` makes each answer on `path` take that long; a request is recorded when
    it is answered, so a request cut off by a crash is not counted as received."""

    def __init__(self) -> None:
        """Not listening until `start`."""
        self.requests: list[Received] = []
        self.delays: dict[str, float] = {}
        self.in_flight = 0
        self._scripts: dict[str, list[Any]] = {}
        self._runner: web.AppRunner | None = None
        self._stop = asyncio.Event()
        self.port = 0

    def script(self, path: str, answers: list[Any]) -> None:
        """The next answers on `path`."""
        self._scripts.setdefault(path, []).extend(answers)

    def url(self, path: str = "/hook") -> str:
        """The URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        """Requests received on `path`."""
        return [r for r in self.requests if r.path == path]

    def event_ids(self, path: str) -> list[str]:
        """Ids of the native events received on `path`, duplicates included."""
        return [e["id"] for r in self.on(path) for e in r.events()]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.in_flight += 1
        try:
            delay = self.delays.get(request.path)
            if delay:
                await asyncio.sleep(delay)  # the receiver's own processing time
            return await self._answer(request.path, request.headers, body)
        finally:
            self.in_flight -= 1

    async def _answer(self, path: str, headers: Any, body: bytes) -> web.StreamResponse:
        script = self._scripts.get(path)
        answer: Any = script.pop(0) if script else 200
        self.requests.append(Received(path, dict(headers), body, time.time()))
        if answer == "hang":
            await self._stop.wait()
            return web.Response(status=503)
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return web.Response(status=status, headers=headers, text="ok")

    async def start(self) -> Receiver:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Release hanging requests and stop listening."""
        self._stop.set()
        if self._runner is not None:
            await self._runner.cleanup()


async def request(nc: Any, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    """One request/reply call, answered as JSON."""
    msg = await nc.request(subject, orjson.dumps(body), timeout=5)
    reply: dict[str, Any] = orjson.loads(msg.data)
    return reply


async def dead_letters(nc: Any, account_id: str) -> list[dict[str, Any]]:
    """The account's dead letters as the API lists them, newest first."""
    reply = await request(nc, subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account_id})
    items: list[dict[str, Any]] = reply["items"]
    return items


def sample(name: str, **labels: str) -> float:
    """The current value of one metric sample of this process (0 when not there yet)."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def log_lines(stream: Any, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of one event name from a log stream."""
    lines = [orjson.loads(x) for x in stream.getvalue().splitlines() if x.startswith("{")]
    return [line for line in lines if line.get("event") == event]


class Terminations:
    """JetStream's MSG_TERMINATED advisories: proof that a consumer `term`ed a message."""

    SUBJECT = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>"

    def __init__(self) -> None:
        """Not listening until `start`."""
        self.seen: list[dict[str, Any]] = []

    async def start(self, nc: Any) -> Terminations:
        """Subscribe on `nc`."""

        async def collect(msg: Any) -> None:
            self.seen.append(orjson.loads(msg.data))

        await nc.subscribe(self.SUBJECT, cb=collect)
        await nc.flush()
        return self

    def of(self, stream: str, sequence: int) -> list[dict[str, Any]]:
        """The advisories for one message of one stream."""
        return [a for a in self.seen if a["stream"] == stream and a["stream_seq"] == sequence]


class ServiceRunner:
    """webhook-svc in-process, each on its own loopback port; `close` stops every one."""

    def __init__(self, nats_url: str, master_key: str) -> None:
        """Nothing runs until `start`."""
        self.nats_url = nats_url
        self.master_key = master_key
        self._servers: list[Any] = []

    async def start(self, roles: tuple[str, ...] = ("worker", "api"), **overrides: Any) -> Any:
        """Start one (settings overridable) and wait until it is ready; answers its Service."""
        from aiohttp.test_utils import TestServer
        from webhook_svc.bootstrap import SERVICE_KEY, create_app

        app = create_app(make_settings(self.nats_url, self.master_key, **overrides), roles)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        self._servers.append(server)
        service = app[SERVICE_KEY]
        await wait_until(lambda: service.ready()[0], 10, "webhook-svc ready")
        return service

    async def close(self) -> None:
        """Stop every service started."""
        for server in reversed(self._servers):
            await server.close()
        self._servers = []


# -- an independent implementation of Standard Webhooks and the envelope -------------------


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether any `v1,` signature in the headers is HMAC-SHA256(secret, id.ts.body)."""
    lower = {k.lower(): v for k, v in headers.items()}
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{lower['webhook-id']}.{lower['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [
        s.split(",", 1)[1] for s in lower["webhook-signature"].split(" ") if s.startswith("v1,")
    ]
    return any(hmac.compare_digest(expected, g) for g in given)


def open_envelope(passphrase: str, envelope: dict[str, Any]) -> bytes:
    """Decrypt a CONTRACT 6 envelope with PBKDF2 + AES-GCM directly."""
    length = {"A128GCM": 16, "A256GCM": 32}[envelope["alg"]]
    salt = base64.b64decode(envelope["salt"])
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, 600_000, dklen=length)
    aad = f"{envelope['alg']}.{envelope['kid']}".encode()
    ct = base64.b64decode(envelope["ct"])
    return AESGCM(key).decrypt(base64.b64decode(envelope["iv"]), ct, aad)


class WorkerProcess:
    """`webhook-svc <command>` as a real child process on its own HTTP port."""

    def __init__(self, nats_url: str, master_key: str, log_dir: Any, **env: str) -> None:
        """Describe the process; it starts with `start`."""
        from parley_devtools.embedded import free_port

        self.port = free_port()
        self.env = {
            **os.environ,
            "NATS_URL": nats_url,
            "PARLEY_MASTER_KEY": master_key,
            "WEBHOOK_HTTP_HOST": "127.0.0.1",
            "WEBHOOK_HTTP_PORT": str(self.port),
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_RETRY_SCHEDULE": "0.2,0.4,0.6",
            "WEBHOOK_ACK_WAIT_S": "2",
            "WEBHOOK_BATCH_LINGER_MS": "20",
            "WEBHOOK_LOG_LEVEL": "WARNING",
            **env,
        }
        self.log_path = log_dir / f"webhook-svc-{self.port}.log"
        self.proc: Any = None

    @property
    def base(self) -> str:
        """The base URL of its health and metrics endpoints."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, command: str = "worker") -> WorkerProcess:
        """Start it and wait for /readyz."""
        import subprocess
        import sys
        from pathlib import Path

        from parley_devtools.embedded import wait_ready

        exe = str(Path(sys.executable).parent / "webhook-svc")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - starting a child returns at once
            [exe, command], env=self.env, stdout=log, stderr=log
        )
        await wait_ready(self.base, self.proc, 30)
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        from parley_devtools.embedded import stop_process

        if self.proc is not None:
            stop_process(self.proc)

    async def metric(self, name: str) -> float:
        """The sum of one counter's samples on its /metrics."""
        import aiohttp

        async with aiohttp.ClientSession() as http, http.get(self.base + "/metrics") as resp:
            text = await resp.text()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith((name + "{", name + " "))
        )
