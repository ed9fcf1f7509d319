"""JetStream stream definitions, kept as data (`streams.json`), and their idempotent creation.

Keys starting with `_` are comments. `max_bytes` reserves that much of the server's
`max_file_store` (per replica) whether used or not, so the sum over the streams must fit it.

Every service calls `ensure_streams` at start; the deploy Job runs
`python -m parley_shared.streams` with the same definitions, so there is one source of truth.

Retention (`max_age`) is a setting per stream: `PARLEY_STREAM_RETENTION` is a JSON object of
stream name -> seconds overriding the definitions' defaults (`retention_overrides` checks it:
only streams that have a `max_age` take one, and WEBHOOK_RETRY, whose `max_age` only bounds
waiting retries, can only be raised). Every service must see the same value, as with
`PARLEY_STREAM_REPLICAS`: each updates the streams to the definitions it holds.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from importlib import resources
from typing import Any, TypeVar

T = TypeVar("T")

_DEFINITIONS = "streams.json"
RETENTION_ENV = "PARLEY_STREAM_RETENTION"
RAISE_ONLY = frozenset({"WEBHOOK_RETRY"})
"""Streams whose `max_age` is a safety bound rather than a retention: it can only be raised."""
MAX_RETENTION_S = 10 * 365 * 86400


class InvalidRetention(ValueError):
    """`PARLEY_STREAM_RETENTION` names a stream that takes no retention, or a bad duration; a
    service refuses to start rather than keep data longer (or shorter) than configured."""


def _raw_definitions() -> list[dict[str, Any]]:
    raw = json.loads(resources.files(__package__).joinpath(_DEFINITIONS).read_text("utf-8"))
    streams: list[dict[str, Any]] = raw["streams"]
    return streams


def default_retention() -> dict[str, float]:
    """Each stream's default `max_age` in seconds (the streams that have one)."""
    return {d["name"]: float(d["max_age"]) for d in _raw_definitions() if "max_age" in d}


def retention_overrides(value: Mapping[str, Any] | str | None) -> dict[str, float]:
    """`PARLEY_STREAM_RETENTION` checked: stream name -> seconds (InvalidRetention if not)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InvalidRetention(f"{RETENTION_ENV} is not a JSON object") from None
    if not isinstance(value, Mapping):
        raise InvalidRetention(f"{RETENTION_ENV} is not a JSON object")
    defaults = default_retention()
    out: dict[str, float] = {}
    for name, seconds in value.items():
        if name not in defaults:
            known = ", ".join(sorted(defaults))
            raise InvalidRetention(f"{RETENTION_ENV}: {name!r} takes no retention ({known})")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise InvalidRetention(f"{RETENTION_ENV}: {name} must be a number of seconds")
        if not 1 <= seconds <= MAX_RETENTION_S:
            raise InvalidRetention(f"{RETENTION_ENV}: {name} must be 1..{MAX_RETENTION_S} s")
        if name in RAISE_ONLY and seconds < defaults[name]:
            raise InvalidRetention(
                f"{RETENTION_ENV}: {name} bounds waiting retries; at least {defaults[name]:g} s"
            )
        out[str(name)] = float(seconds)
    return out


def load_definitions(
    replicas: int | None = None, retention: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """The stream definitions, with `num_replicas` from the argument or PARLEY_STREAM_REPLICAS
    and `max_age` overridden by `retention` (see `retention_overrides`)."""
    count = replicas if replicas is not None else int(os.environ.get("PARLEY_STREAM_REPLICAS", "1"))
    ages = dict(retention or {})
    out: list[dict[str, Any]] = []
    for definition in _raw_definitions():
        item = dict(definition)
        item["num_replicas"] = count
        if item["name"] in ages:
            item["max_age"] = ages[item["name"]]
        out.append(item)
    return out


def to_stream_config(definition: dict[str, Any]) -> Any:
    """A nats-py `StreamConfig` for one definition."""
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

    return StreamConfig(
        name=definition["name"],
        description=definition.get("description"),
        subjects=list(definition["subjects"]),
        retention=RetentionPolicy(definition.get("retention", "limits")),
        storage=StorageType(definition.get("storage", "file")),
        max_msgs_per_subject=int(definition.get("max_msgs_per_subject", -1)),
        max_msgs=int(definition.get("max_msgs", -1)),
        max_bytes=int(definition.get("max_bytes", -1)),
        discard=DiscardPolicy(definition["discard"]) if "discard" in definition else None,
        max_age=float(definition["max_age"]) if "max_age" in definition else None,
        duplicate_window=float(definition.get("duplicate_window", 120)),
        num_replicas=int(definition.get("num_replicas", 1)),
        allow_msg_schedules=definition.get("allow_msg_schedules"),
        allow_msg_ttl=definition.get("allow_msg_ttl"),
    )


READY_WITHIN_SECONDS = 30.0
"""How long `ensure_streams` waits for JetStream to answer for the account (see below)."""
_READY_STEP_SECONDS = 0.25
NO_PEERS_YET = 10005
"""JetStream's JSClusterNoPeersErr: no suitable peers for placement (peers not yet heard of)."""


async def ensure_streams(
    js: Any,
    replicas: int | None = None,
    retention: Mapping[str, float] | None = None,
    owner: str | None = None,
    ready_within: float = READY_WITHIN_SECONDS,
) -> list[str]:
    """Create each missing stream; update existing ones to their definition. Returns the names.

    With `owner` (a service name), only the streams that service owns (`owner` in
    streams.json) are updated: a service's NATS user may create any missing Parley stream but
    update only its own (least privilege; see parley_runtime.natsauth.permissions).
    `retention` overrides the definitions' `max_age` (`retention_overrides`). While JetStream
    is still starting for the account, it waits up to `ready_within` s (`when_jetstream_ready`).
    """
    from nats.js.errors import NotFoundError

    names: list[str] = []
    for definition in load_definitions(replicas, retention):
        config = to_stream_config(definition)
        try:
            await when_jetstream_ready(partial(js.stream_info, config.name), ready_within)
        except NotFoundError:
            await when_jetstream_ready(partial(js.add_stream, config), ready_within)
        else:
            if owner is None or definition.get("owner") == owner:
                await js.update_stream(config)
        names.append(config.name)
    return names


async def when_jetstream_ready(
    call: Callable[[], Awaitable[T]], ready_within: float = READY_WITHIN_SECONDS
) -> T:
    """`call()`, repeated while JetStream is still starting, for `ready_within` s.

    A JetStream cluster that has just elected its meta leader (or a server that has just loaded
    an account's JWT) answers "JetStream not enabled for account" (503, 10039) or has no
    responder for a short while, and until it has heard from every peer it refuses a replicated
    stream with "no suitable peers for placement" (400, 10005): that is a cluster still
    starting, not a configuration error, so a service or the deploy Job starting beside it
    waits, boundedly, rather than crash-looping. Any other error, or the same one after
    `ready_within`, is raised.
    """
    from nats.errors import NoRespondersError
    from nats.js.errors import BadRequestError, ServiceUnavailableError

    deadline = asyncio.get_running_loop().time() + ready_within
    while True:
        try:
            return await call()
        except (ServiceUnavailableError, NoRespondersError, BadRequestError) as exc:
            starting = not isinstance(exc, BadRequestError) or exc.err_code == NO_PEERS_YET
            if not starting or asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(_READY_STEP_SECONDS)


async def _main() -> None:
    import nats

    from parley_shared.environment import nats_servers

    url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    options: dict[str, Any] = {}
    if os.environ.get("NATS_CREDS"):
        options["user_credentials"] = os.environ["NATS_CREDS"]
    elif os.environ.get("NATS_USER"):
        options["user"] = os.environ["NATS_USER"]
        options["password"] = os.environ.get("NATS_PASSWORD", "")
    nc = await nats.connect(nats_servers(url), **options)
    try:
        retention = retention_overrides(os.environ.get(RETENTION_ENV))
        names = await ensure_streams(nc.jetstream(), retention=retention)
        print(json.dumps({"streams": names}))
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(_main())
