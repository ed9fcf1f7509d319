"""Helpers for webhook-svc tests: account config events published the way account-svc
publishes them (`parley_devtools.account_events`), status and inbound events per CONTRACT 4,
the service in-process or as worker processes, and an independent check of signatures and
envelopes (hashlib/hmac/AESGCM, not parley_shared). The webhook receiver, the webhook blocks and
waiting are devtools' own (`parley_devtools.receiver`, `.account_events`, `.waiting`)."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from parley_devtools.account_events import account_config, account_view, config_event
from parley_devtools.processes import Child, service_process
from parley_devtools.settings_check import known_settings
from parley_devtools.waiting import eventually
from parley_shared import subjects
from parley_shared.events import (
    AccountSecrets,
    CloudEvent,
    InboundData,
    SealedKeyVersion,
    SealedSecret,
    StatusData,
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
        "ack_wait_seconds": 3.0,
        "shutdown_grace_seconds": 1.0,
    }
    unknown = set(overrides) - known_settings(Settings)
    assert not unknown, f"not webhook-svc settings (extra='ignore' would drop them): {unknown}"
    values.update(overrides)
    return Settings(**values)


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
        config = account_config(
            "ent_test",
            ["rcs", "sms", "whatsapp", "truecaller"],
            label="test",
            business_group_id="bg_test",
            communication_type="conversational" if self.inbound_webhook else "outgoing",
            traffic_type=self.traffic_type,
            data_protection=self.data_protection,
            webhooks=webhooks,
        )
        return account_view(self.account_id, config, self.version)

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
        account = None if self.deleted else self._account()
        event = config_event(
            self.account_id,
            "ent_test",
            account,
            secrets,
            version=self.version,
            deleted=self.deleted,
        )
        return event.event_id, event.payload

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
        await eventually(lambda: service.ready()[0], what="webhook-svc ready")
        if "api" in roles:
            await eventually(self._api_answers, what="webhook-svc's API answering")
        return service

    async def _api_answers(self) -> bool:
        """Whether a dead-letter query gets an answer. Readiness follows a flush of the API's
        subscriptions, yet twice in CI (on 2.15.1, of ~1,700 tests each) the first request
        right after it found no responder; what failed then was the test, not the listing it
        checks. A readiness that never leads to an answer still fails, here."""
        import nats

        nc = await nats.connect(self.nats_url)
        try:
            body = orjson.dumps({"account_id": "acc_probe"})
            await nc.request(subjects.WEBHOOK_DEAD_LETTERS_QUERY, body, timeout=2)
            return True
        except nats.errors.NoRespondersError:
            return False
        finally:
            await nc.close()

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


def worker_process(
    nats_url: str, master_key: str, log_dir: Path, command: str = "worker", **env: str
) -> Child:
    """`webhook-svc <command>` as a real child process on its own HTTP port, with short test
    timings (`env` overrides them); not started (`await worker.started()`)."""
    settings = {
        "NATS_URL": nats_url,
        "PARLEY_MASTER_KEY": master_key,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_RETRY_SCHEDULE": "0.2,0.4,0.6",
        "WEBHOOK_ACK_WAIT_SECONDS": "2",
        "WEBHOOK_BATCH_LINGER_MS": "20",
        "WEBHOOK_LOG_LEVEL": "WARNING",
        **env,
    }
    return service_process(["webhook-svc", command], log_dir, "WEBHOOK_HTTP_PORT", **settings)


async def metric(child: Child, name: str) -> float:
    """The sum of one counter's samples on a process's /metrics."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(child.base + "/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + "{", name + " "))
    )
