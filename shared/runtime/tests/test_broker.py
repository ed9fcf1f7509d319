"""FastStream's broker for a service connects as the service does: its creds from the
environment, its inbox prefix, and nothing without credentials."""

from __future__ import annotations

import nats
import pytest
from faststream.nats import NatsBroker
from parley_devtools.nats_auth import AuthNatsServer
from parley_runtime.broker import raw_body, service_broker, start
from parley_shared import subjects


def answering(broker: NatsBroker) -> None:
    """A webhook-svc API subscriber that echoes the request's bytes, in its queue group."""

    async def echo(body: bytes) -> bytes:
        return b"echo:" + body

    broker.subscriber(
        subjects.WEBHOOK_DEAD_LETTERS_QUERY, queue=subjects.QUEUE_WEBHOOK_API, decoder=raw_body
    )(echo)


async def test_a_service_broker_answers_with_the_services_creds(
    nats_auth: AuthNatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With NATS_CREDS naming webhook-svc's creds the broker connects, subscribes to its API
    subject and answers account-svc's request as raw bytes (not re-encoded JSON)."""
    monkeypatch.setenv("NATS_CREDS", str(nats_auth.files.creds("webhook-svc")))
    broker = service_broker(nats_auth.url, "webhook-svc")
    answering(broker)
    await start(broker)
    asker = await nats.connect(
        nats_auth.url,
        user_credentials=str(nats_auth.files.creds("account-svc")),
        inbox_prefix="_INBOX.account-svc",
    )
    try:
        assert broker.connection.is_connected
        assert broker.connection._inbox_prefix == b"_INBOX.webhook-svc"
        reply = await asker.request(subjects.WEBHOOK_DEAD_LETTERS_QUERY, b'{"a": 1}', timeout=5)
        assert reply.data == b'echo:{"a": 1}'
    finally:
        await asker.close()
        await broker.stop()


async def test_a_service_broker_without_credentials_is_refused(
    nats_auth: AuthNatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no credentials in the environment the server refuses the broker's connection."""
    monkeypatch.delenv("NATS_CREDS", raising=False)
    monkeypatch.delenv("NATS_USER", raising=False)
    broker = service_broker(nats_auth.url, "webhook-svc", max_reconnect_attempts=0)
    answering(broker)
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await start(broker)
    await broker.stop()
