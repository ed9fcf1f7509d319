"""JetStream KV buckets owned by routing-svc, created idempotently at start.

| bucket | key | value |
| --- | --- | --- |
| `ROUTING_MESSAGES` | `<message_id>` | the message log record and its in-flight state |
| `ROUTING_CONSENT` | `<enterprise_id>.<msisdn digits>` | a user's consent towards an enterprise |
| `ROUTING_LAST_SENDER` | `<channel>.<msisdn digits>` | the account that last sent to a user |
| `ROUTING_SHORT_LINKS` | `<code>` | a short link: its original URL and message |
| `ROUTING_HANDOVERS` | `a.`, `p.`, `u.`, `m.` keys | handed attempts, provider ids |
| `ROUTING_CAPACITY` | `<route>.<window>` | sends leased out of a capacity window |
| `ROUTING_CLIENT_REFS` | `<client_ref digest>.<account>.<message_id>` | a message sent with one |
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import APIError, BadRequestError

from routing_svc.adapters.jetstream import Ack, JetStreamPublisher

log = structlog.get_logger("routing_svc.kv")

MESSAGES = "ROUTING_MESSAGES"
CONSENT = "ROUTING_CONSENT"
LAST_SENDER = "ROUTING_LAST_SENDER"
SHORT_LINKS = "ROUTING_SHORT_LINKS"
HANDOVERS = "ROUTING_HANDOVERS"
CAPACITY = "ROUTING_CAPACITY"
CLIENT_REFS = "ROUTING_CLIENT_REFS"
CAPACITY_TTL_S = 60.0


@dataclass(frozen=True)
class BucketSpec:
    """One bucket's definition."""

    name: str
    description: str
    ttl_s: float | None = None


def bucket_specs(
    message_ttl_s: float,
    last_sender_ttl_s: float,
    short_link_ttl_s: float = 30 * 86400,
    handover_ttl_s: float = 3 * 86400,
) -> list[BucketSpec]:
    """The buckets routing-svc needs, as data."""
    return [
        BucketSpec(MESSAGES, "routing-svc message log and in-flight state", message_ttl_s),
        BucketSpec(CONSENT, "routing-svc consent per enterprise and msisdn"),
        BucketSpec(
            LAST_SENDER,
            "routing-svc: conversational account that last sent to a user",
            last_sender_ttl_s,
        ),
        BucketSpec(SHORT_LINKS, "routing-svc: short links of the URL Shortener", short_link_ttl_s),
        BucketSpec(
            HANDOVERS,
            "routing-svc: attempts handed to providers, provider ids, users' messages seen",
            handover_ttl_s,
        ),
        BucketSpec(CAPACITY, "routing-svc: route capacity leased per window", CAPACITY_TTL_S),
        BucketSpec(CLIENT_REFS, "routing-svc: message ids by (client_ref, account)", message_ttl_s),
    ]


async def ensure_bucket(js: Any, spec: BucketSpec, replicas: int) -> Any:
    """The bucket, created when missing (an existing one is used as it is)."""
    config = KeyValueConfig(
        bucket=spec.name,
        description=spec.description,
        history=1,
        ttl=spec.ttl_s,
        storage=StorageType.FILE,
        replicas=replicas,
        direct=True,
    )
    try:
        return await js.create_key_value(config)
    except BadRequestError:
        await _retune(js, spec)
        return await js.key_value(spec.name)


async def _retune(js: Any, spec: BucketSpec) -> None:
    """An existing bucket whose TTL is not the setting's gets the setting's (its stream's
    `max_age`): a retention setting takes effect on the next start, entries already stored
    included. Anything else that differs is left as it is (and logged)."""
    stream = f"KV_{spec.name}"
    info = await js.stream_info(stream)
    wanted = float(spec.ttl_s or 0)
    held = float(info.config.max_age or 0)
    if abs(held - wanted) > 0.001:
        info.config.max_age = wanted
        await js.update_stream(info.config)
        log.info("kv_bucket_ttl_changed", bucket=spec.name, ttl_s=wanted, was_s=held)
    else:
        log.warning("kv_bucket_config_differs", bucket=spec.name)


WRONG_LAST_SEQUENCE = frozenset({10071, 10164})
"""JetStream error codes of a failed compare-and-set."""


class KvWriter:
    """Writes to a bucket as pipelined JetStream publishes (nats-py's KV awaits each one)."""

    def __init__(self, publisher: JetStreamPublisher, bucket: str) -> None:
        self._publisher = publisher
        self._prefix = f"$KV.{bucket}."

    async def write(self, key: str, value: bytes, last: int | None = None) -> asyncio.Future[Ack]:
        """Publish `value` under `key` (only if its revision is `last`, 0: absent); the ack."""
        headers = None if last is None else {"Nats-Expected-Last-Subject-Sequence": str(last)}
        return await self._publisher.publish(self._prefix + key, value, headers)


def is_wrong_last(exc: BaseException) -> bool:
    """Whether a publish failed its compare-and-set."""
    return isinstance(exc, APIError) and exc.err_code in WRONG_LAST_SEQUENCE


def digits(msisdn: str) -> str:
    """The digits of an E.164 number (a KV key token)."""
    return msisdn.lstrip("+")
