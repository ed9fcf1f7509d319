"""JetStream stream definitions, kept as data (`streams.json`), and their idempotent creation.

Keys starting with `_` are comments. `max_bytes` reserves that much of the server's
`max_file_store` (per replica) whether used or not, so the sum over the streams must fit it.

Every service calls `ensure_streams` at start; the deploy Job runs
`python -m parley_shared.streams` with the same definitions, so there is one source of truth.
"""

from __future__ import annotations

import asyncio
import json
import os
from importlib import resources
from typing import Any

_DEFINITIONS = "streams.json"


def load_definitions(replicas: int | None = None) -> list[dict[str, Any]]:
    """The stream definitions, with `num_replicas` from the argument or PARLEY_STREAM_REPLICAS."""
    raw = json.loads(resources.files(__package__).joinpath(_DEFINITIONS).read_text("utf-8"))
    count = replicas if replicas is not None else int(os.environ.get("PARLEY_STREAM_REPLICAS", "1"))
    out: list[dict[str, Any]] = []
    for definition in raw["streams"]:
        item = dict(definition)
        item["num_replicas"] = count
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
    )


async def ensure_streams(
    js: Any, replicas: int | None = None, owner: str | None = None
) -> list[str]:
    """Create each missing stream; update existing ones to their definition. Returns the names.

    With `owner` (a service name), only the streams that service owns (`owner` in
    streams.json) are updated: a service's NATS user may create any missing Parley stream but
    update only its own (least privilege; see parley_runtime.natsauth.permissions).
    """
    from nats.js.errors import NotFoundError

    names: list[str] = []
    for definition in load_definitions(replicas):
        config = to_stream_config(definition)
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            if owner is None or definition.get("owner") == owner:
                await js.update_stream(config)
        names.append(config.name)
    return names


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
        names = await ensure_streams(nc.jetstream())
        print(json.dumps({"streams": names}))
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(_main())
